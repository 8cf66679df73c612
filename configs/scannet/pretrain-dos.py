# DOS pretraining on ScanNet (indoor): the SemanticKITTI recipe with a 0.02 m grid, 0.4 m mask cubes
# and coord + color + normal features (in_channels 9). Labels are never read.
# sh tools/train.sh -d scannet -c pretrain-dos -n dos-base -g 8
_base_ = [
    "../semantic_kitti/pretrain-dos.py",
    "../_base_/datasets/scannet.py",
    "../_base_/schedules/dos-indoor.py",
]

_grid_size = 0.02
_distill_level = 2

model = dict(
    backbone=dict(in_channels=9),
    match_radius=_grid_size * 2**_distill_level,  # 0.08 m, the distillation voxel
)
# The standard view pipeline with the indoor input: centred in z too, coord + color + normal.
data = dict(
    train=dict(
        transform=[
            dict(
                type="DOSViewGenerator",
                grid_size=_grid_size,
                feat_keys=("coord", "color", "normal"),
                center_z=True,
            ),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
    test=None,
)
