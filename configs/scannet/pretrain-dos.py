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
# Colour augmentation of Sonata's indoor recipe (colours are in [0, 1]), drawn per view.
_color_augmentations = [
    dict(type="ChromaticAutoContrast", p=0.2),
    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
    dict(type="ChromaticJitter", p=0.95, std=0.05),
]
# The standard view pipeline with the indoor input: centred in z too, coord + color + normal; the
# standard geometric augmentations (dos_views.STANDARD_AUGMENTATIONS) then the colour ones, run
# independently on each view.
data = dict(
    train=dict(
        transform=[
            dict(
                type="DOSViewGenerator",
                grid_size=_grid_size,
                feat_keys=("coord", "color", "normal"),
                center_z=True,
                augmentations=[
                    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
                    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", center=(0, 0, 0), p=0.8),
                    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="y", center=(0, 0, 0), p=0.8),
                    dict(type="RandomScale", scale=(0.9, 1.1)),
                    dict(type="RandomFlip", p=0.5),
                    dict(type="RandomJitter", sigma=0.005, clip=0.02),
                    *_color_augmentations,
                ],
            ),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
    test=None,
)
