# Hooks of DOS pretraining indoors: semantic_kitti/pretrain-dos.py's schedule with 0.4 m mask cubes
# (warm-up from 0.1 m). Config lists replace, not merge with, a base's lists, so the indoor configs
# take the whole hooks list from here.
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
