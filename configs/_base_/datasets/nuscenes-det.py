# nuScenes detection data block: keyframe LiDAR with the boxes of the info index
# (NuScenesDataset(box_classes=...), the ten detection classes in CenterPoint's order) through
# ./det-pipeline.py. Needs <data_root>/info/nuscenes_infos_10sweeps_{train,val}.json from
# tools/preprocess/nuscenes_infos.py.
_base_ = ["./det-pipeline.py"]

_names = [
    "car", "truck", "construction_vehicle", "bus", "trailer", "barrier", "motorcycle", "bicycle",
    "pedestrian", "traffic_cone",
]  # fmt: skip
# Keyframe only (sweeps=1): coord + intensity, the 4 input channels DOS pretrains with; velocity is
# then hardly observable (a multi-sweep run needs sweeps=10, in_channels=5 and pretraining to match).
_dataset = dict(
    type="NuScenesDataset", data_root="data/nuscenes", sweeps=1, info_sweeps=10, box_classes=_names
)
# Training drops boxes without LiDAR points (empty_boxes="drop"); evaluation keeps the devkit's
# ground truth, where such boxes stay if radar saw them, with their attributes (gt_attrs) for the
# attribute error.
_keys = ("coord", "grid_coord", "gt_boxes", "gt_labels", "gt_num_points", "gt_attrs")
_eval = dict(
    _dataset,
    empty_boxes="devkit",
    box_attributes=True,
    transform=dict(_by_type_=[dict(type="Collect", keys=_keys)]),
)
data = dict(num_classes=len(_names), names=_names, train=_dataset, val=_eval, test=_eval)
model = dict(num_classes=len(_names))
