"""Datasets, transforms and collate functions. Never imports ``pointcept.models``."""

from .builder import DATASETS, TRANSFORMS, build_dataset
from .collate import collate_fn, point_collate_fn
from .defaults import DefaultDataset, validate_points
from .dos_views import DOSViewGenerator
from .semantic_kitti import SemanticKITTIDataset
from .transform import POINT_KEYS, Compose, index_points, register_point_key

__all__ = [
    "DATASETS",
    "TRANSFORMS",
    "build_dataset",
    "collate_fn",
    "point_collate_fn",
    "DefaultDataset",
    "validate_points",
    "POINT_KEYS",
    "Compose",
    "index_points",
    "register_point_key",
    "SemanticKITTIDataset",
    "DOSViewGenerator",
]
