"""Class names and raw-id -> train-id lookup tables of the supported benchmarks (ignore = -1)."""

from .lut import apply_lut, build_lut, check_prediction
from .nuscenes import (
    NUSCENES_CLASS_NAMES,
    NUSCENES_FINE_TO_COARSE,
    NUSCENES_LEARNING_MAP,
    NUSCENES_LUT,
    NUSCENES_RAW_NAMES,
)
from .nuscenes_detection import (
    NUSCENES_ATTRIBUTE_NAMES,
    NUSCENES_BICYCLE_RACK,
    NUSCENES_CATEGORY_TO_DETECTION,
    NUSCENES_DETECTION_CLASSES,
    category_to_detection_name,
)
from .scannet import (
    SCANNET20_CLASS_NAMES,
    SCANNET20_LUT,
    SCANNET20_VALID_IDS,
    SCANNET200_CLASS_NAMES,
    SCANNET200_LUT,
    SCANNET200_VALID_IDS,
)
from .semantic_kitti import (
    SEMANTIC_KITTI_CLASS_NAMES,
    SEMANTIC_KITTI_LEARNING_MAP,
    SEMANTIC_KITTI_LEARNING_MAP_INV,
    SEMANTIC_KITTI_RAW_IDS,
    SEMANTIC_KITTI_RAW_NAMES,
    semantic_kitti_lut,
)
from .waymo import WAYMO_BOX_TYPE_NAMES, WAYMO_CLASS_NAMES, WAYMO_DETECTION_CLASSES

__all__ = [
    "NUSCENES_ATTRIBUTE_NAMES",
    "NUSCENES_BICYCLE_RACK",
    "NUSCENES_CATEGORY_TO_DETECTION",
    "NUSCENES_CLASS_NAMES",
    "NUSCENES_DETECTION_CLASSES",
    "NUSCENES_FINE_TO_COARSE",
    "NUSCENES_LEARNING_MAP",
    "NUSCENES_LUT",
    "NUSCENES_RAW_NAMES",
    "SCANNET200_CLASS_NAMES",
    "SCANNET200_LUT",
    "SCANNET200_VALID_IDS",
    "SCANNET20_CLASS_NAMES",
    "SCANNET20_LUT",
    "SCANNET20_VALID_IDS",
    "SEMANTIC_KITTI_CLASS_NAMES",
    "SEMANTIC_KITTI_LEARNING_MAP",
    "SEMANTIC_KITTI_LEARNING_MAP_INV",
    "SEMANTIC_KITTI_RAW_IDS",
    "SEMANTIC_KITTI_RAW_NAMES",
    "WAYMO_BOX_TYPE_NAMES",
    "WAYMO_CLASS_NAMES",
    "WAYMO_DETECTION_CLASSES",
    "apply_lut",
    "build_lut",
    "category_to_detection_name",
    "check_prediction",
    "semantic_kitti_lut",
]
