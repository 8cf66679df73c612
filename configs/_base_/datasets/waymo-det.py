# Waymo detection data block (Pointcept's preprocessed frames with their laser labels, written by
# tools/preprocess/waymo.py --all-frames: vehicle, pedestrian, cyclist; signs ignored) through
# ./det-pipeline.py with Waymo's 75.2 m BEV range. Metrics are the nuScenes centre-distance ones
# (DetEvaluator); Waymo's rotated-IoU AP is not wired in.
_base_ = ["./det-pipeline.py"]

_names = ["vehicle", "pedestrian", "cyclist"]
_range = (-75.2, -75.2, -2.0, 75.2, 75.2, 4.0)
_clip = dict(_by_type_=[dict(type="PointClip", point_cloud_range=_range)])
_dataset = dict(type="WaymoDataset", data_root="data/waymo", box_classes=_names, transform=_clip)
# Waymo's split names (det-pipeline.py's are nuScenes' "train" / "val").
_train = dict(_dataset, split="training")
_val = dict(_dataset, split="validation")
data = dict(num_classes=len(_names), names=_names, train=_train, val=_val, test=_val)
model = dict(num_classes=len(_names), point_cloud_range=_range)
