# Waymo detection data block (Pointcept's preprocessed frames with their laser labels: vehicle,
# pedestrian, cyclist; signs ignored): the nuScenes detection pipeline with Waymo's 75.2 m BEV range.
# Metrics are the nuScenes centre-distance ones (DetEvaluator); Waymo's rotated-IoU AP is not wired in.
import os
import runpy

_base_ = ["./nuscenes-det.py"]

_nus = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nuscenes-det.py"))
_names = ["vehicle", "pedestrian", "cyclist"]
_range = (-75.2, -75.2, -2.0, 75.2, 75.2, 4.0)
_train_transform = _nus["_with_args"](_nus["_train_transform"], PointClip=dict(point_cloud_range=_range))
_eval_transform = _nus["_with_args"](_nus["_eval_transform"], PointClip=dict(point_cloud_range=_range))
_dataset = dict(
    _delete_=True, type="WaymoDataset", data_root="data/waymo", with_boxes=True, box_classes=_names
)
data = dict(
    num_classes=3,
    names=_names,
    train=dict(_dataset, split="training", transform=_train_transform),
    val=dict(_dataset, split="validation", transform=_eval_transform),
    test=dict(_dataset, split="validation", transform=_eval_transform),
)
model = dict(num_classes=3, point_cloud_range=_range)
