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

model = dict(
    backbone=dict(in_channels=9),
    match_radius=_grid_size * 2**_distill_level,
)
# As ./pretrain-dos.py, with the demo's crop size and neither tilt nor jitter (colour augmentation
# kept, drawn per view).
data = dict(
    train=dict(
        data_root="data/scannet_tiny",
        transform=[
            dict(
                type="DOSViewGenerator",
                grid_size=_grid_size,
                feat_keys=("coord", "color", "normal"),
                center_z=True,
                augmentations=[
                    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
                    dict(type="RandomScale", scale=(0.9, 1.1)),
                    dict(type="RandomFlip", p=0.5),
                    dict(type="ChromaticAutoContrast", p=0.2),
                    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
                    dict(type="ChromaticJitter", p=0.95, std=0.05),
                ],
                max_points=8000,
            ),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
    test=None,
)
