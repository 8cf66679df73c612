# DOS pretraining on nuScenes: the SemanticKITTI recipe (grid 0.05 m, 1 m mask cubes, coord + strength,
# in_channels 4) with the dataset swapped. Labels are never read.
# sh tools/train.sh -d nuscenes -c pretrain-dos -n dos-base -g 8
_base_ = ["../semantic_kitti/pretrain-dos.py", "../_base_/datasets/nuscenes.py"]

data = dict(val=None, test=None)
