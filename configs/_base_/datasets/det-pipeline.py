# The outdoor detection pipeline, shared by the nuScenes, Waymo and demo detection data blocks
# (they merge their dataset into each split and patch PointClip/GridSample with _by_type_): no crops
# (the BEV grid is centred on the sensor), rotation, scale and flips about the sensor, 0.05 m grid,
# points and box centres clipped to the BEV range (nuScenes' 51.2 m here). Splits: train on "train",
# validate and test on "val" (a block whose dataset names them otherwise sets split itself).
_range = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
_keys = ("coord", "grid_coord", "gt_boxes", "gt_labels", "gt_num_points")
_train_transform = [
    dict(type="RandomRotate", angle=(-0.25, 0.25), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.95, 1.05)),
    dict(type="RandomFlip", p=0.5),
    dict(type="PointClip", point_cloud_range=_range),
    dict(type="GridSample", grid_size=0.05, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=_keys, feat_keys=("coord", "strength")),
]
_eval_transform = [t for t in _train_transform if not t["type"].startswith("Random")]
data = dict(
    train=dict(split="train", transform=_train_transform),
    val=dict(split="val", transform=_eval_transform),
    test=dict(split="val", transform=_eval_transform),
)
model = dict(point_cloud_range=_range)
