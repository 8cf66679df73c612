# Smoke-run DOS pretraining on a tiny ScanNet sample: the tiny PTv3 and demo budget of
# semantic_kitti/pretrain-dos-tiny.py with the indoor settings of ./pretrain-dos.py at a 0.05 m grid.
# sh tools/train.sh -d scannet -c pretrain-dos-tiny -n smoke -- --options data.train.data_root=PATH max_steps=2
_base_ = [
    "../semantic_kitti/pretrain-dos-tiny.py",
    "../_base_/datasets/scannet.py",
    "../_base_/schedules/dos-indoor.py",
]

_grid_size = 0.05
_distill_level = 2

model = dict(match_radius=_grid_size * 2**_distill_level)
data = dict(
    train=dict(
        data_root="data/scannet_tiny",
        transform=dict(_by_type_=[dict(type="DOSViewGenerator", grid_size=_grid_size, max_points=8000)]),
    ),
)
