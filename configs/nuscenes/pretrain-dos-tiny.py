# Smoke-run DOS pretraining on a tiny nuScenes sample (tiny PTv3, 0.1 m grid, small crops), e.g.
# sh tools/train.sh -d nuscenes -c pretrain-dos-tiny -n smoke -- --options data.train.data_root=PATH max_steps=2
_base_ = ["../semantic_kitti/pretrain-dos-tiny.py", "../_base_/datasets/nuscenes.py"]

data = dict(train=dict(data_root="data/nuscenes_tiny"), val=None, test=None)
