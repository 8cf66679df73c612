# Waymo detection data block (Pointcept's preprocessed frames with their laser labels, written by
# tools/preprocess/waymo.py --all-frames: vehicle, pedestrian, cyclist; signs ignored) through
# ./det-pipeline.py with Waymo's 75.2 m BEV range. The val/test frames carry each box's difficulty
# level (gt_difficulty) for the Waymo metric (test.metric="waymo" in configs/waymo/det-*.py).
_base_ = ["./det-pipeline.py"]

_names = ["vehicle", "pedestrian", "cyclist"]
_range = (-75.2, -75.2, -2.0, 75.2, 75.2, 4.0)
_clip = dict(type="PointClip", point_cloud_range=_range)
_keys = ("coord", "grid_coord", "gt_boxes", "gt_labels", "gt_num_points", "gt_difficulty")
_dataset = dict(
    type="WaymoDataset", data_root="data/waymo", box_classes=_names, transform=dict(_by_type_=[_clip])
)
# Waymo's split names (det-pipeline.py's are nuScenes' "train" / "val").
_train = dict(_dataset, split="training")
_val = dict(
    _dataset,
    split="validation",
    box_difficulty=True,
    transform=dict(_by_type_=[_clip, dict(type="Collect", keys=_keys)]),
)
data = dict(num_classes=len(_names), names=_names, train=_train, val=_val, test=_val)
model = dict(num_classes=len(_names), point_cloud_range=_range)
