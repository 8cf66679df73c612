# Waymo data block (Pointcept's preprocessed layout from tools/preprocess/waymo.py): merged over a
# SemanticKITTI experiment config, it swaps the dataset and keeps the outdoor transforms.
_names = [
    "car", "truck", "bus", "other_vehicle", "motorcyclist", "bicyclist", "pedestrian", "sign",
    "traffic_light", "pole", "construction_cone", "bicycle", "motorcycle", "building", "vegetation",
    "tree_trunk", "curb", "road", "lane_marker", "other_ground", "walkable", "sidewalk",
]  # fmt: skip
data = dict(
    num_classes=22,
    names=_names,
    train=dict(type="WaymoDataset", data_root="data/waymo", split="training"),
    val=dict(type="WaymoDataset", data_root="data/waymo", split="validation"),
    test=dict(type="WaymoDataset", data_root="data/waymo", split="validation"),
)
