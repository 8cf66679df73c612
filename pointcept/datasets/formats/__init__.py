"""Readers for on-disk point cloud formats, as plain functions (no dataset classes)."""

from .nuscenes_lidar import (
    aggregate_sweeps,
    count_pcd_bin_points,
    invert_rigid,
    pose_matrix,
    quaternion_to_matrix,
    read_lidarseg,
    read_pcd_bin,
    sweep_to_keyframe,
    transform_points,
)
from .ply import ply_property, read_ply
from .scene_npy import check_label_range, load_scene_npy

__all__ = [
    "aggregate_sweeps",
    "check_label_range",
    "count_pcd_bin_points",
    "invert_rigid",
    "load_scene_npy",
    "ply_property",
    "pose_matrix",
    "quaternion_to_matrix",
    "read_lidarseg",
    "read_pcd_bin",
    "read_ply",
    "sweep_to_keyframe",
    "transform_points",
]
