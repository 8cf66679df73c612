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
# The devkit's ground truth: boxes without LiDAR points stay if radar saw them, and carry their
# attributes (gt_attrs) for the attribute error.
_eval_dataset = dict(
    _dataset,
    split="val",
    empty_boxes="devkit",
    box_attributes=True,
    transform=dict(
        _by_type_=[
            dict(
                type="Collect",
                keys=("coord", "grid_coord", "gt_boxes", "gt_labels", "gt_num_points", "gt_attrs"),
            )
        ]
    ),
)
data = dict(
    num_classes=10,
    names=_names,
    train=dict(_dataset, split="train"),  # empty_boxes="drop": boxes without LiDAR points go
    val=_eval_dataset,
    test=_eval_dataset,
)
model = dict(num_classes=10)
