"""Waymo laser labels (3D boxes) of a frame as numpy arrays in our box convention (pure numpy).

A Waymo ``Label.box`` is the geometric centre ``(center_x, center_y, center_z)`` in the vehicle frame
(the frame of ``coord``), ``length`` along the heading, ``width`` across it, ``height`` along z, and
``heading`` counter-clockwise from +x: exactly ``x y z l w h yaw`` of ``boxes.py``. ``metadata.speed_x``,
``speed_y`` (m/s, vehicle frame) become ``vx vy``. Only TYPE_VEHICLE, TYPE_PEDESTRIAN and TYPE_CYCLIST
are kept (``WAYMO_BOX_TYPE_NAMES``); signs and TYPE_UNKNOWN are dropped.

Files written next to the frame's ``coord.npy`` (by ``waymo.save_frame``)::

    gt_boxes.npy       float32 (M, 9)  x, y, z, l, w, h, yaw, vx, vy
    gt_type.npy        int8 (M,)       Label.Type (1 vehicle, 2 pedestrian, 4 cyclist)
    gt_num_points.npy  int64 (M,)      num_lidar_points_in_box
    gt_difficulty.npy  int8 (M,)       detection_difficulty_level (0 unset, 1 LEVEL_1, 2 LEVEL_2)
    gt_ids.npy         str (M,)        object id (stable across the frames of a segment)
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..boxes import limit_yaw
from ..label_maps.waymo import WAYMO_BOX_TYPE_NAMES

LABEL_FILES = ("gt_boxes", "gt_type", "gt_num_points", "gt_difficulty", "gt_ids")

LEVEL_2_MAX_POINTS = 5
"""Boxes with at most this many lidar points are LEVEL_2 unless labelled otherwise (Waymo's rule)."""


def detection_difficulty(num_points: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    """Detection level (M,) int64 of each box: its label's ``difficulty`` when set (1 or 2), else 2
    for boxes with <= ``LEVEL_2_MAX_POINTS`` points and 1 above, as Waymo's metrics tool decides it."""
    num_points, difficulty = np.asarray(num_points), np.asarray(difficulty)
    bad = ~np.isin(difficulty, (0, 1, 2))
    if bad.any():
        raise ValueError(f"difficulty must be 0 (unset), 1 or 2, got {np.unique(difficulty[bad]).tolist()}")
    by_points = np.where(num_points <= LEVEL_2_MAX_POINTS, 2, 1)
    return np.where(difficulty > 0, difficulty, by_points).astype(np.int64)


@dataclass
class LaserLabel:
    """One ``Frame.laser_labels`` entry, as plain values (see module docstring for the fields)."""

    center: Sequence[float]
    length: float
    width: float
    height: float
    heading: float
    speed: Sequence[float] = (0.0, 0.0)
    type: int = 1
    id: str = ""
    num_lidar_points: int = 0
    difficulty: int = 0


def convert_laser_labels(labels: Sequence[LaserLabel]) -> dict[str, np.ndarray]:
    """Arrays of the kept labels (vehicle, pedestrian, cyclist), keyed by the file stems of the module docstring."""
    kept = [lab for lab in labels if int(lab.type) in WAYMO_BOX_TYPE_NAMES]
    boxes = np.zeros((len(kept), 9), dtype=np.float64)
    for i, lab in enumerate(kept):
        boxes[i, :3] = lab.center
        boxes[i, 3:6] = (lab.length, lab.width, lab.height)
        boxes[i, 6] = lab.heading
        boxes[i, 7:9] = lab.speed
    boxes[:, 6] = limit_yaw(boxes[:, 6])
    return dict(
        gt_boxes=boxes.astype(np.float32),
        gt_type=np.array([lab.type for lab in kept], dtype=np.int8),
        gt_num_points=np.array([lab.num_lidar_points for lab in kept], dtype=np.int64),
        gt_difficulty=np.array([lab.difficulty for lab in kept], dtype=np.int8),
        gt_ids=np.array([str(lab.id) for lab in kept], dtype=str),
    )


def laser_labels_from_proto(frame) -> list[LaserLabel]:
    """``LaserLabel`` records of a waymo-open-dataset ``Frame`` proto (only field access, no import)."""
    return [
        LaserLabel(
            center=(lab.box.center_x, lab.box.center_y, lab.box.center_z),
            length=lab.box.length,
            width=lab.box.width,
            height=lab.box.height,
            heading=lab.box.heading,
            speed=(lab.metadata.speed_x, lab.metadata.speed_y),
            type=int(lab.type),
            id=lab.id,
            num_lidar_points=int(lab.num_lidar_points_in_box),
            difficulty=int(lab.detection_difficulty_level),
        )
        for lab in frame.laser_labels
    ]
