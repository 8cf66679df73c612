# DOS pretraining on ScanNet (indoor): the SemanticKITTI recipe with a 0.02 m grid, 0.4 m mask cubes
# and coord + color + normal features (in_channels 9). Labels are never read.
# sh tools/train.sh -d scannet -c pretrain-dos -n dos-base -g 8
_base_ = ["../semantic_kitti/pretrain-dos.py", "../_base_/datasets/scannet.py"]

_grid_size = 0.02
_distill_level = 2

model = dict(
    backbone=dict(in_channels=9),
    match_radius=_grid_size * 2**_distill_level,  # 0.08 m, the distillation voxel
)
# Lists are not merged with the base config's: this restates semantic_kitti/pretrain-dos.py's hooks
# with the indoor mask cubes (0.4 m, warm-up from 0.1 m).
hooks = [
    dict(type="CheckpointLoader"),
    dict(type="IterationTimer", warmup_steps=2),
    dict(type="InformationWriter"),
    dict(
        type="DOSScheduleHook",
        momentum_start=0.994,
        momentum_end=1.0,
        tau_t_start=0.04,
        tau_t=0.07,
        tau_t_warmup_ratio=0.05,
        mask_size_start=0.1,
        mask_size=0.4,
        mask_ratio_start=0.3,
        mask_ratio=0.7,
        mask_warmup_ratio=0.05,
        weight_decay_start=0.04,
        weight_decay_end=0.2,
    ),
    dict(type="CheckpointSaver"),
]
_view_transform = [
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="y", center=(0, 0, 0), p=0.8),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(
        type="Collect", keys=("coord", "origin_coord", "grid_coord"), feat_keys=("coord", "color", "normal")
    ),
]
data = dict(
    train=dict(
        transform=[
            dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=False),
            dict(type="Copy", keys_dict={"coord": "origin_coord"}),
            dict(
                type="DOSViewGenerator",
                view_transform=_view_transform,
                crop_scale=(0.4, 1.0),
                max_points=65536,
            ),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
    test=None,
)
