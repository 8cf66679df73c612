# Waymo detection data block (Pointcept's preprocessed frames with their laser labels, written by
# tools/preprocess/waymo.py --all-frames: vehicle, pedestrian, cyclist; signs ignored) through
# ./det-pipeline.py with Waymo's 75.2 m BEV range. Metrics are the nuScenes centre-distance ones
# (DetEvaluator); Waymo's rotated-IoU AP is not wired in.
_base_ = ["./det-pipeline.py"]

_names = ["vehicle", "pedestrian", "cyclist"]
_range = (-75.2, -75.2, -2.0, 75.2, 75.2, 4.0)
_clip = dict(_by_type_=[dict(type="PointClip", point_cloud_range=_range)])
_dataset = dict(type="WaymoDataset", data_root="data/waymo", box_classes=_names, transform=_clip)
data = dict(
    num_classes=3,
    names=_names,
    train=dict(_dataset, split="training"),
    val=dict(_dataset, split="validation"),
    test=dict(_dataset, split="validation"),
)
model = dict(num_classes=3, point_cloud_range=_range)
