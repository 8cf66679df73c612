# SemanticKITTI data block for segmentation experiments (19 classes, raw scans in the dataset's own
# layout), with the outdoor pipeline: 0.05 m grid, coord + strength features (4 channels).
_grid_size = 0.05
_feat_keys = ("coord", "strength")
_names = [
    "car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist",
    "road", "parking", "sidewalk", "other-ground", "building", "fence", "vegetation", "trunk",
    "terrain", "pole", "traffic-sign",
]  # fmt: skip
_train_transform = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=_grid_size, mode="train", return_grid_coord=True),
    dict(type="SphereCrop", point_max=120000, mode="random"),
    # Coordinate features are centred on the cloud the network sees, as DOS pretraining views are
    # (CenterShift on each crop): x, y at the bounding-box centre of the crop, z kept.
    dict(type="CenterShift", apply_z=False),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=_feat_keys),
]
# Evaluation: the training pipeline without its random augmentations and crop, the whole scan centred
# first (the same frame as the test fragments below).
_eval_transform = [dict(type="CenterShift", apply_z=False)] + [
    t
    for t in _train_transform
    if not t["type"].startswith("Random") and t["type"] not in ("SphereCrop", "CenterShift")
]
_dataset = dict(type="SemanticKITTIDataset", data_root="data/semantic_kitti")
data = dict(
    num_classes=19,
    ignore_index=-1,
    names=_names,
    train=dict(_dataset, split="train", transform=_train_transform),
    val=dict(_dataset, split="val", transform=_eval_transform),
    test=dict(
        _dataset,
        split="val",
        transform=[dict(type="CenterShift", apply_z=False)],  # the whole scan, before the fragments
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
