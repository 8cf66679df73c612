# DOS pretraining indoors, merged over semantic_kitti/pretrain-dos.py (or -tiny) and a ScanNet data
# block: 0.4 m mask cubes (warm-up from 0.1 m) instead of 1 m, and the indoor view pipeline.
hooks = dict(_by_type_=[dict(type="DOSScheduleHook", mask_size_start=0.1, mask_size=0.4)])

# The standard view pipeline with the indoor input (0.02 m grid, centred in z too, coord + color +
# normal = 9 channels): the standard geometric augmentations, then Sonata's indoor colour
# augmentation (colours in [0, 1]), each run independently on each view.
data = dict(
    train=dict(
        transform=[
            dict(
                type="DOSViewGenerator",
                grid_size=0.02,
                feat_keys=("coord", "color", "normal"),
                center_z=True,
                extra_augmentations=[
                    dict(type="ChromaticAutoContrast", p=0.2),
                    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
                    dict(type="ChromaticJitter", p=0.95, std=0.05),
                ],
            ),
            dict(type="ToTensor"),
        ],
    ),
    val=None,
    test=None,
)
model = dict(backbone=dict(in_channels=9), match_radius=0.02 * 4)  # the 0.08 m distillation voxel
