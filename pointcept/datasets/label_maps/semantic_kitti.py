"""SemanticKITTI raw classes and the official 34 -> 19 learning map.

Source: ``labels`` and ``learning_map`` of ``config/semantic-kitti.yaml`` in PRBonn/semantic-kitti-api.
Raw ids are the low 16 bits of every ``.label`` entry (the high 16 bits are the instance id).
The yaml numbers train classes 1..19 with 0 = ignore; our train ids are those minus one, with
ignore = -1. Moving classes (252-259) merge into their static class; "unlabeled" (0), "outlier"
(1), "other-structure" (52), "other-object" (99) and ids not listed here are ignored.
"""

import numpy as np

# Raw id -> raw class name, every id the dataset defines.
SEMANTIC_KITTI_RAW_NAMES = {
    0: "unlabeled", 1: "outlier",
    10: "car", 11: "bicycle", 13: "bus", 15: "motorcycle", 16: "on-rails", 18: "truck", 20: "other-vehicle",
    30: "person", 31: "bicyclist", 32: "motorcyclist",
    40: "road", 44: "parking", 48: "sidewalk", 49: "other-ground",
    50: "building", 51: "fence", 52: "other-structure", 60: "lane-marking",
    70: "vegetation", 71: "trunk", 72: "terrain", 80: "pole", 81: "traffic-sign", 99: "other-object",
    252: "moving-car", 253: "moving-bicyclist", 254: "moving-person", 255: "moving-motorcyclist",
    256: "moving-on-rails", 257: "moving-bus", 258: "moving-truck", 259: "moving-other-vehicle",
}  # fmt: skip
SEMANTIC_KITTI_RAW_IDS = {name: raw for raw, name in SEMANTIC_KITTI_RAW_NAMES.items()}

# The 19 evaluation classes, position = train id (= yaml learning-map value - 1), with their display
# colour: RGB of the yaml's ``color_map`` entry (BGR) of the class's static raw id.
_CLASSES = (
    ("car", (100, 150, 245)),
    ("bicycle", (100, 230, 245)),
    ("motorcycle", (30, 60, 150)),
    ("truck", (80, 30, 180)),
    ("other-vehicle", (0, 0, 255)),
    ("person", (255, 30, 30)),
    ("bicyclist", (255, 40, 200)),
    ("motorcyclist", (150, 30, 90)),
    ("road", (255, 0, 255)),
    ("parking", (255, 150, 255)),
    ("sidewalk", (75, 0, 75)),
    ("other-ground", (175, 0, 75)),
    ("building", (255, 200, 0)),
    ("fence", (255, 120, 50)),
    ("vegetation", (0, 175, 0)),
    ("trunk", (135, 60, 0)),
    ("terrain", (150, 240, 80)),
    ("pole", (255, 240, 150)),
    ("traffic-sign", (255, 0, 0)),
)
SEMANTIC_KITTI_CLASS_NAMES = tuple(name for name, _ in _CLASSES)
# (19, 3) uint8, row = train id.
SEMANTIC_KITTI_PALETTE = np.array([rgb for _, rgb in _CLASSES], dtype=np.uint8)

# Raw id -> train id, restricted to ids that map to a class (the rest ignore).
SEMANTIC_KITTI_LEARNING_MAP = {
    10: 0, 252: 0,  # car, moving-car
    11: 1,  # bicycle
    15: 2,  # motorcycle
    18: 3, 258: 3,  # truck, moving-truck
    13: 4, 16: 4, 20: 4, 256: 4, 257: 4, 259: 4,  # bus, on-rails, other-vehicle (+ moving)
    30: 5, 254: 5,  # person, moving-person
    31: 6, 253: 6,  # bicyclist, moving-bicyclist
    32: 7, 255: 7,  # motorcyclist, moving-motorcyclist
    40: 8, 60: 8,  # road, lane-marking
    44: 9,  # parking
    48: 10,  # sidewalk
    49: 11,  # other-ground
    50: 12,  # building
    51: 13,  # fence
    70: 14,  # vegetation
    71: 15,  # trunk
    72: 16,  # terrain
    80: 17,  # pole
    81: 18,  # traffic-sign
}  # fmt: skip

# Train id -> raw id written in prediction files (the static class of each train id).
SEMANTIC_KITTI_LEARNING_MAP_INV = np.array(
    [10, 11, 15, 18, 20, 30, 31, 32, 40, 44, 48, 49, 50, 51, 70, 71, 72, 80, 81], dtype=np.int64
)


def semantic_kitti_lut(ignore_index: int = -1) -> np.ndarray:
    """Lookup table over the whole 16-bit raw id space, so ``lut[label & 0xFFFF]`` needs no bounds check.

    Returns:
        lut (np.ndarray[65536] int64): ``lut[raw] = train id``, ``ignore_index`` for unmapped ids.
    """
    lut = np.full(1 << 16, ignore_index, dtype=np.int64)
    for raw, train in SEMANTIC_KITTI_LEARNING_MAP.items():
        lut[raw] = train
    return lut
