# ScanNet-20 data block (per-scene layout from tools/preprocess/scannet.py) for segmentation
# experiments, with the indoor pipeline: 0.02 m grid, coord + color + normal features (9 channels).
_grid_size = 0.02
_feat_keys = ("coord", "color", "normal")
_names = [
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink", "bathtub", "otherfurniture",
]  # fmt: skip
_train_transform = [
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=102400, mode="random"),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=_feat_keys),
]
_eval_transform = [
    dict(type="CenterShift", apply_z=True),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=_feat_keys),
]
_dataset = dict(type="ScanNetDataset", data_root="data/scannet")
data = dict(
    num_classes=20,
    names=_names,
    train=dict(_dataset, split="train", transform=_train_transform),
    val=dict(_dataset, split="val", transform=_eval_transform),
    test=dict(
        _dataset,
        split="val",
        transform=[dict(type="CenterShift", apply_z=True)],
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=_grid_size, mode="test", return_grid_coord=True),
            post_transform=[
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "grid_coord", "index"), feat_keys=_feat_keys),
            ],
        ),
    ),
)
