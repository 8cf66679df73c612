"""Waymo Open Dataset 3D semantic segmentation classes.

Source: ``Segmentation.Type`` in waymo-open-dataset ``protos/segmentation.proto`` (TYPE_UNDEFINED = 0,
TYPE_CAR = 1, ..., TYPE_SIDEWALK = 22). Pointcept's preprocessing stores ``segment = type - 1``, so
train id ``t`` is raw type ``t + 1`` and TYPE_UNDEFINED becomes -1 (ignore).
"""

WAYMO_CLASS_NAMES = (
    "car",
    "truck",
    "bus",
    "other_vehicle",
    "motorcyclist",
    "bicyclist",
    "pedestrian",
    "sign",
    "traffic_light",
    "pole",
    "construction_cone",
    "bicycle",
    "motorcycle",
    "building",
    "vegetation",
    "tree_trunk",
    "curb",
    "road",
    "lane_marker",
    "other_ground",
    "walkable",
    "sidewalk",
)
