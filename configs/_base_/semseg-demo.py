# The segmentation demo: the generated SemanticKITTI-format scans of tools/generate_demo_data.py at a
# 0.1 m grid (smaller crops, no jitter) and a budget of minutes on 2 CPU cores. Merged over a
# SemanticKITTI segmentation config (semseg-dos-lin.py, semseg-dos-ft.py) with models/ptv3-tiny.py.
_base_ = ["./datasets/semantic_kitti.py", "./demo-runtime.py"]

_grid_size = 0.1
_data_root = "data/semantic_kitti_demo"
_train_transform = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=20000, mode="random"),
    # Coordinate features are centred on the cloud the network sees, as DOS pretraining views are
    # (CenterShift on each crop): x, y at the bounding-box centre of the crop, z kept.
    dict(type="CenterShift", apply_z=False),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
]
# Evaluation: the training pipeline without its random augmentations and crop, the whole scan centred
# first (the same frame as the test fragments below).
_eval_transform = [dict(type="CenterShift", apply_z=False)] + [
    t
    for t in _train_transform
    if not t["type"].startswith("Random") and t["type"] not in ("SphereCrop", "CenterShift")
]
data = dict(
    train=dict(data_root=_data_root, transform=_train_transform),
    val=dict(data_root=_data_root, transform=_eval_transform),
    test=dict(
        data_root=_data_root,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=_grid_size, mode="test", return_grid_coord=True),
        ),
    ),
)
