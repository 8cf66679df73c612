"""Datasets, transforms and collate functions. Never imports ``pointcept.models``."""

from .base import DefaultDataset
from .builder import DATASETS, TRANSFORMS, build_dataset
from .collate import collate_fn, point_collate_fn
from .concat import ConcatDataset
from .dos_views import DOSViewGenerator
from .generic import GenericNpyDataset, PointFileDataset
from .gt_sample import GTSample
from .nuscenes import NuScenesDataset
from .scannet import ScanNet200Dataset, ScanNetDataset
from .semantic_kitti import SemanticKITTIDataset
from .transform import POINT_KEYS, Compose, index_points, register_point_key
from .validation import COORD_LIMIT, validate_points
from .waymo import WaymoDataset

__all__ = [
    "DATASETS",
    "TRANSFORMS",
    "build_dataset",
    "collate_fn",
    "point_collate_fn",
    "DefaultDataset",
    "ConcatDataset",
    "validate_points",
    "COORD_LIMIT",
    "POINT_KEYS",
    "Compose",
    "index_points",
    "register_point_key",
    "SemanticKITTIDataset",
    "DOSViewGenerator",
    "NuScenesDataset",
    "WaymoDataset",
    "GTSample",
    "GenericNpyDataset",
    "PointFileDataset",
    "ScanNetDataset",
    "ScanNet200Dataset",
]
