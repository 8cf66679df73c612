"""nuScenes-lidarseg classes and the official 32 -> 16 evaluation mapping.

Sources: the 32 raw ("fine") classes and their indices are the ``index`` fields of the lidarseg
``category.json`` (devkit ``NuScenes.lidarseg_name2idx_mapping``); the fine -> coarse mapping is
``LidarsegClassMapper.get_fine2coarse`` / ``get_coarse2idx`` in nuscenes-devkit
``python-sdk/nuscenes/eval/lidarseg/utils.py``. The devkit numbers coarse classes 1..16 with 0 =
ignore; our train ids are those minus one, with ignore = -1.
"""

import numpy as np

from .lut import build_lut

# Raw lidarseg class names, position = raw id stored in the ``*_lidarseg.bin`` files.
NUSCENES_RAW_NAMES = (
    "noise",
    "animal",
    "human.pedestrian.adult",
    "human.pedestrian.child",
    "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility",
    "human.pedestrian.police_officer",
    "human.pedestrian.stroller",
    "human.pedestrian.wheelchair",
    "movable_object.barrier",
    "movable_object.debris",
    "movable_object.pushable_pullable",
    "movable_object.trafficcone",
    "static_object.bicycle_rack",
    "vehicle.bicycle",
    "vehicle.bus.bendy",
    "vehicle.bus.rigid",
    "vehicle.car",
    "vehicle.construction",
    "vehicle.emergency.ambulance",
    "vehicle.emergency.police",
    "vehicle.motorcycle",
    "vehicle.trailer",
    "vehicle.truck",
    "flat.driveable_surface",
    "flat.other",
    "flat.sidewalk",
    "flat.terrain",
    "static.manmade",
    "static.other",
    "static.vegetation",
    "vehicle.ego",
)

# The 16 evaluation classes, position = train id (= devkit coarse index - 1).
NUSCENES_CLASS_NAMES = (
    "barrier",
    "bicycle",
    "bus",
    "car",
    "construction_vehicle",
    "motorcycle",
    "pedestrian",
    "traffic_cone",
    "trailer",
    "truck",
    "driveable_surface",
    "other_flat",
    "sidewalk",
    "terrain",
    "manmade",
    "vegetation",
)

# Fine class name -> coarse class name (None = ignore), exactly as the devkit's get_fine2coarse.
NUSCENES_FINE_TO_COARSE = {
    "noise": None,
    "animal": None,
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.personal_mobility": None,
    "human.pedestrian.police_officer": "pedestrian",
    "human.pedestrian.stroller": None,
    "human.pedestrian.wheelchair": None,
    "movable_object.barrier": "barrier",
    "movable_object.debris": None,
    "movable_object.pushable_pullable": None,
    "movable_object.trafficcone": "traffic_cone",
    "static_object.bicycle_rack": None,
    "vehicle.bicycle": "bicycle",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.car": "car",
    "vehicle.construction": "construction_vehicle",
    "vehicle.emergency.ambulance": None,
    "vehicle.emergency.police": None,
    "vehicle.motorcycle": "motorcycle",
    "vehicle.trailer": "trailer",
    "vehicle.truck": "truck",
    "flat.driveable_surface": "driveable_surface",
    "flat.other": "other_flat",
    "flat.sidewalk": "sidewalk",
    "flat.terrain": "terrain",
    "static.manmade": "manmade",
    "static.other": None,
    "static.vegetation": "vegetation",
    "vehicle.ego": None,
}

NUSCENES_LEARNING_MAP = {
    raw: NUSCENES_CLASS_NAMES.index(NUSCENES_FINE_TO_COARSE[name])
    for raw, name in enumerate(NUSCENES_RAW_NAMES)
    if NUSCENES_FINE_TO_COARSE[name] is not None
}
NUSCENES_LUT = build_lut(NUSCENES_LEARNING_MAP)

# Train id -> id written in prediction files: the devkit's challenge ids 1..16 (0 = ignore).
NUSCENES_LEARNING_MAP_INV = np.arange(1, len(NUSCENES_CLASS_NAMES) + 1, dtype=np.int64)
