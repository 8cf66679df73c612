# nuScenes detection data block: keyframe LiDAR with the boxes of the info index
# (NuScenesDataset(with_boxes=True), the ten detection classes in CenterPoint's order), the
# outdoor pipeline without crops (the BEV grid is centred on the sensor): rotation, scale and flips
# about the sensor, 0.05 m grid, points and box centres clipped to the BEV range.
# Needs <data_root>/info/nuscenes_infos_10sweeps_{train,val}.json from tools/preprocess/nuscenes_infos.py.
_names = [
    "car", "truck", "construction_vehicle", "bus", "trailer", "barrier", "motorcycle", "bicycle",
    "pedestrian", "traffic_cone",
]  # fmt: skip
_range = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
_keys = ("coord", "grid_coord", "gt_boxes", "gt_labels", "gt_num_points")
_feat_keys = ("coord", "strength")
_train_transform = [
    dict(type="RandomRotate", angle=(-0.25, 0.25), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomScale", scale=(0.95, 1.05)),
    dict(type="RandomFlip", p=0.5),
    dict(type="PointClip", point_cloud_range=_range),
    dict(type="GridSample", grid_size=0.05, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=_keys, feat_keys=_feat_keys),
]
_eval_transform = [t for t in _train_transform if not t["type"].startswith("Random")]


def _with_args(pipeline, **args_by_type):
    """``pipeline`` with the arguments of some transforms replaced, e.g. ``PointClip=dict(...)``:
    what blocks deriving from this one (runpy) change of it."""
    return [dict(t, **args_by_type.get(t["type"], {})) for t in pipeline]


# Keyframe only (sweeps=1): coord + intensity, the 4 input channels DOS pretrains with; velocity is
# then hardly observable (a multi-sweep run needs sweeps=10, in_channels=5 and pretraining to match).
_dataset = dict(type="NuScenesDataset", data_root="data/nuscenes", sweeps=1, info_sweeps=10, with_boxes=True)
data = dict(
    num_classes=10,
    names=_names,
    train=dict(_dataset, split="train", transform=_train_transform),
    # The devkit's ground truth: boxes without LiDAR points stay if radar saw them.
    val=dict(_dataset, split="val", empty_boxes="devkit", transform=_eval_transform),
    test=dict(_dataset, split="val", empty_boxes="devkit", transform=_eval_transform),
)
model = dict(num_classes=10, point_cloud_range=_range)
