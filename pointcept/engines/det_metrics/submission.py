"""The nuScenes detection submission JSON (https://www.nuscenes.org/object-detection, "results format").

::

    {"meta": {"use_camera": false, "use_lidar": true, "use_radar": false, "use_map": false,
              "use_external": false},
     "results": {sample_token: [{"sample_token", "translation": [x, y, z], "size": [w, l, h],
                                 "rotation": [qw, qx, qy, qz], "velocity": [vx, vy],
                                 "detection_name", "detection_score", "attribute_name"}, ...]}}

Boxes are converted from our convention (``[x, y, z, l, w, h, yaw, vx, vy]``, LiDAR frame) by a
per-sample 4x4 ``lidar_to_global`` transform (the official format is in the global frame; without
it the boxes stay in their own frame). At most ``max_boxes_per_sample`` (500, the devkit's limit)
boxes per sample are written, the highest scores first.
"""

import json
import math
import os
from collections.abc import Sequence

import numpy as np

ATTRIBUTE_NAMES = (
    "pedestrian.moving", "pedestrian.sitting_lying_down", "pedestrian.standing", "cycle.with_rider",
    "cycle.without_rider", "vehicle.moving", "vehicle.parked", "vehicle.stopped",
)  # fmt: skip
"""The devkit's attribute names; an attribute id is an index into this tuple (-1 = none)."""

_STATIC_ATTRIBUTE = {
    "car": "vehicle.parked", "truck": "vehicle.parked", "trailer": "vehicle.parked",
    "construction_vehicle": "vehicle.parked", "bus": "vehicle.stopped", "pedestrian": "pedestrian.standing",
    "motorcycle": "cycle.without_rider", "bicycle": "cycle.without_rider",
}  # fmt: skip
_MOVING_ATTRIBUTE = {
    "car": "vehicle.moving", "truck": "vehicle.moving", "trailer": "vehicle.moving",
    "construction_vehicle": "vehicle.moving", "bus": "vehicle.moving", "pedestrian": "pedestrian.moving",
    "motorcycle": "cycle.with_rider", "bicycle": "cycle.with_rider",
}  # fmt: skip


def attribute_from_velocity(class_name: str, velocity: Sequence[float], moving_speed: float = 0.2) -> str:
    """The attribute of a box from its class and speed (m/s): moving above ``moving_speed``, else
    parked/stopped/standing/without rider; "" for classes without attributes (barrier, cone, others)."""
    table = _MOVING_ATTRIBUTE if math.hypot(*velocity[:2]) > moving_speed else _STATIC_ATTRIBUTE
    return table.get(class_name, "")


def attribute_ids(class_names: Sequence[str], boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Attribute ids (M,) of predicted boxes by ``attribute_from_velocity`` (-1 where none)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    for i, (box, label) in enumerate(zip(np.asarray(boxes).reshape(-1, 9), labels)):
        name = attribute_from_velocity(class_names[int(label)], box[7:9])
        out[i] = ATTRIBUTE_NAMES.index(name) if name else -1
    return out


def yaw_quaternion(rotation: np.ndarray, yaw: float) -> list[float]:
    """Quaternion [w, x, y, z] of ``rotation @ Rz(yaw)`` (rotation: 3x3, a proper rotation)."""
    c, s = math.cos(yaw), math.sin(yaw)
    m = rotation @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    # Shepperd's method: pivot on the largest of the four squared components.
    t = np.trace(m)
    cand = [t, m[0, 0], m[1, 1], m[2, 2]]
    k = int(np.argmax(cand))
    if k == 0:
        r = math.sqrt(1.0 + t) * 2
        q = [r / 4, (m[2, 1] - m[1, 2]) / r, (m[0, 2] - m[2, 0]) / r, (m[1, 0] - m[0, 1]) / r]
    elif k == 1:
        r = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / r, r / 4, (m[0, 1] + m[1, 0]) / r, (m[0, 2] + m[2, 0]) / r]
    elif k == 2:
        r = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / r, (m[0, 1] + m[1, 0]) / r, r / 4, (m[1, 2] + m[2, 1]) / r]
    else:
        r = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / r, (m[0, 2] + m[2, 0]) / r, (m[1, 2] + m[2, 1]) / r, r / 4]
    if q[0] < 0:
        q = [-v for v in q]
    return [float(v) for v in q]


def sample_results(
    token: str,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    lidar_to_global: np.ndarray | None = None,
    max_boxes_per_sample: int = 500,
) -> list[dict]:
    """The result entries of one sample (module docstring)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 9)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(
            f"boxes, scores, labels differ in length: {len(boxes)}, {len(scores)}, {len(labels)}"
        )
    tf = np.eye(4) if lidar_to_global is None else np.asarray(lidar_to_global, dtype=np.float64)
    if tf.shape != (4, 4):
        raise ValueError(f"lidar_to_global must be 4x4, got {tf.shape}")
    rot, shift = tf[:3, :3], tf[:3, 3]
    order = np.argsort(-scores, kind="stable")[:max_boxes_per_sample]
    out = []
    for i in order:
        b = boxes[i]
        name = class_names[int(labels[i])]
        velocity = (rot @ np.array([b[7], b[8], 0.0]))[:2]
        out.append(
            dict(
                sample_token=token,
                translation=[float(v) for v in rot @ b[:3] + shift],
                size=[float(b[4]), float(b[3]), float(b[5])],  # w, l, h
                rotation=yaw_quaternion(rot, float(b[6])),
                velocity=[float(v) for v in velocity],
                detection_name=name,
                detection_score=float(scores[i]),
                attribute_name=attribute_from_velocity(name, b[7:9]),
            )
        )
    return out


def write_submission(path: str, results: dict[str, list[dict]], use_lidar: bool = True) -> str:
    """Write ``{"meta": ..., "results": results}`` to ``path`` (folders created); returns the path."""
    meta = dict(use_camera=False, use_lidar=use_lidar, use_radar=False, use_map=False, use_external=False)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(dict(meta=meta, results=results), f)
    return path
