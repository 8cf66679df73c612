"""Waymo Open Dataset 3D semantic segmentation classes.

Source: ``Segmentation.Type`` in waymo-open-dataset ``protos/segmentation.proto`` (TYPE_UNDEFINED = 0,
TYPE_CAR = 1, ..., TYPE_SIDEWALK = 22). Pointcept's preprocessing stores ``segment = type - 1``, so
train id ``t`` is raw type ``t + 1`` and TYPE_UNDEFINED becomes -1 (ignore).
"""

import numpy as np

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
# Train id -> id written in prediction files: the raw Segmentation.Type (train id + 1).
WAYMO_LEARNING_MAP_INV = np.arange(1, len(WAYMO_CLASS_NAMES) + 1, dtype=np.int64)

# Detection: ``Label.Type`` of waymo-open-dataset ``protos/label.proto`` (TYPE_UNKNOWN = 0,
# TYPE_VEHICLE = 1, TYPE_PEDESTRIAN = 2, TYPE_SIGN = 3, TYPE_CYCLIST = 4). The 3D detection
# benchmark evaluates vehicle, pedestrian and cyclist; signs and unknown objects are not boxes here.
WAYMO_DETECTION_CLASSES = ("vehicle", "pedestrian", "cyclist")
WAYMO_BOX_TYPE_NAMES = {1: "vehicle", 2: "pedestrian", 4: "cyclist"}
