"""The nuScenes detection submission JSON (https://www.nuscenes.org/object-detection, "results format").

::

    {"meta": {"use_camera": false, "use_lidar": true, "use_radar": false, "use_map": false,
              "use_external": false},
     "results": {sample_token: [{"sample_token", "translation": [x, y, z], "size": [w, l, h],
                                 "rotation": [qw, qx, qy, qz], "velocity": [vx, vy],
                                 "detection_name", "detection_score", "attribute_name"}, ...]}}

Boxes are converted from our convention (``[x, y, z, l, w, h, yaw, vx, vy]``, LiDAR frame) by a
per-sample 4x4 ``lidar_to_global`` transform (ego_pose @ calibrated_sensor of the keyframe's
LIDAR_TOP; the official format is in the global frame; without it the boxes stay in their own
frame): the centre moves by the full transform; heading and velocity are horizontal global
vectors, the exact inverse of the reader's map (``horizontal_to_global``), so the written rotation
is a rotation about global +z, upright as the annotations are. At most ``max_boxes_per_sample``
(500, the devkit's limit) boxes per sample are written, the highest scores first; a predicted
box's attribute follows from its class and speed (``attribute_from_velocity``).
"""

import json
import math
import os
from collections.abc import Sequence

import numpy as np

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
    """The attribute of a predicted box from its class and speed ``|(vx, vy)|`` (m/s).

    The rule CenterPoint/mmdet3d submissions use on nuScenes (a detector predicts no attribute):

    * speed > ``moving_speed`` (0.2 m/s): car, truck, bus, trailer, construction_vehicle ->
      ``vehicle.moving``; bicycle, motorcycle -> ``cycle.with_rider``; pedestrian ->
      ``pedestrian.moving``;
    * otherwise: bus -> ``vehicle.stopped``, the other vehicles -> ``vehicle.parked``; bicycle,
      motorcycle -> ``cycle.without_rider``; pedestrian -> ``pedestrian.standing``;
    * barrier, traffic_cone and any other class -> "" (no attribute, as in the devkit).
    """
    table = _MOVING_ATTRIBUTE if math.hypot(*velocity[:2]) > moving_speed else _STATIC_ATTRIBUTE
    return table.get(class_name, "")


def attribute_ids(class_names: Sequence[str], boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Attribute ids (M,) into ``NUSCENES_ATTRIBUTE_NAMES`` of predicted boxes by
    ``attribute_from_velocity`` (-1 where none)."""
    from pointcept.datasets.label_maps.nuscenes_detection import NUSCENES_ATTRIBUTE_NAMES

    out = np.full(len(labels), -1, dtype=np.int64)
    for i, (box, label) in enumerate(zip(np.asarray(boxes).reshape(-1, 9), labels)):
        name = attribute_from_velocity(class_names[int(label)], box[7:9])
        out[i] = NUSCENES_ATTRIBUTE_NAMES.index(name) if name else -1
    return out


def horizontal_to_global(lidar_to_global: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Global horizontal vectors (K, 2) whose LiDAR-frame x-y images are ``xy`` (K, 2).

    The reader (``nuscenes_boxes.annotation_to_box``) maps a horizontal global vector ``v`` (a
    heading or a velocity; boxes are upright in the world) to ``M v`` with ``M = R[:2, :2]`` of
    global -> LiDAR; this solves ``M v = xy`` exactly, so a box read and written back has its table's
    heading and velocity even when the sensor is tilted (the x-y image drops a tilt only to second
    order, ``M`` stays invertible).
    """
    m = np.asarray(lidar_to_global, dtype=np.float64)[:3, :3].T[:2, :2]
    return np.linalg.solve(m, np.asarray(xy, dtype=np.float64).reshape(-1, 2).T).T


def yaw_quaternion(yaw: float) -> list[float]:
    """Quaternion [w, x, y, z] of a rotation by ``yaw`` about +z (w >= 0)."""
    q = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
    return [-v for v in q] if q[0] < 0 else q


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
    order = np.argsort(-scores, kind="stable")[:max_boxes_per_sample]
    b = boxes[order]
    centre = b[:, :3] @ tf[:3, :3].T + tf[:3, 3]
    heading = horizontal_to_global(tf, np.stack([np.cos(b[:, 6]), np.sin(b[:, 6])], axis=1))
    velocity = horizontal_to_global(tf, b[:, 7:9])
    out = []
    for k, i in enumerate(order):
        name = class_names[int(labels[i])]
        out.append(
            dict(
                sample_token=token,
                translation=[float(v) for v in centre[k]],
                size=[float(b[k, 4]), float(b[k, 3]), float(b[k, 5])],  # w, l, h
                rotation=yaw_quaternion(math.atan2(heading[k, 1], heading[k, 0])),
                velocity=[float(v) for v in velocity[k]],
                detection_name=name,
                detection_score=float(scores[i]),
                attribute_name=attribute_from_velocity(name, velocity[k]),
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
