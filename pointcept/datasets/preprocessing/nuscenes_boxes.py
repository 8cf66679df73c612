"""nuScenes 3D boxes of a keyframe from the devkit tables, in the keyframe's LiDAR frame (no devkit needed).

Rules, read from nuscenes-devkit and restated here:

* Classes: ``category.name`` of the annotation's ``instance`` through ``category_to_detection_name``
  (``label_maps.nuscenes_detection``); annotations of other categories are not detection boxes.
  ``static_object.bicycle_rack`` boxes are kept apart (the devkit's evaluation drops bicycles and
  motorcycles whose centre lies in a rack).
* Velocity (``NuScenes.box_velocity``): global centre difference between the annotation's ``prev``
  and ``next`` annotations (the same instance) over the difference of their *samples'* timestamps;
  with only one neighbour, the one-sided difference with the current annotation. Undefined (NaN)
  when the instance has a single annotation, or when the time gap exceeds ``max_time_diff`` = 1.5 s
  (3 s for the centred difference). Here an undefined velocity is stored as 0 with
  ``velocity_valid = False`` (the box convention forbids NaN).
* Frames: global -> ego (ego_pose of the keyframe's LiDAR sample_data) -> LiDAR (its calibrated
  sensor): ``p_lidar = R_c^T (R_e^T (p - t_e) - t_c)``. The devkit's ``Box`` orientation is composed
  the same way and ``yaw`` is that rotation's heading ``atan2(R[1,0], R[0,0])`` (roll/pitch of the
  slightly tilted sensor are dropped: boxes are upright). Headings and velocities are horizontal
  global vectors ``v`` mapped to ``M v``, ``M = R[:2, :2]`` of global -> LiDAR (for the upright
  annotations this is the devkit's heading; the velocity drops the devkit's ``R[:2, 2] v_z`` term,
  second order in the sensor tilt), so that ``det_metrics.submission`` inverts both exactly.
* Size: the tables store ``[w, l, h]`` with ``l`` along the box's x (heading) axis; boxes here are ``[l, w, h]``.
* Points: ``num_lidar_pts`` and ``num_radar_pts`` are kept as stored. Training drops boxes without a
  LiDAR point; the devkit's evaluation drops only boxes with neither (``num_lidar_pts + num_radar_pts == 0``).
"""

import math

import numpy as np

from ..formats.nuscenes_lidar import invert_rigid, pose_matrix
from ..label_maps.nuscenes_detection import NUSCENES_BICYCLE_RACK, category_to_detection_name

MAX_TIME_DIFF = 1.5
"""Seconds; the devkit's default ``max_time_diff`` of ``box_velocity`` (doubled for centred differences)."""


def annotation_velocity(
    ann: dict, annotations: dict[str, dict], sample_time: dict[str, int], max_time_diff: float = MAX_TIME_DIFF
) -> np.ndarray:
    """Global velocity (3,) float64 in m/s of one ``sample_annotation`` record, NaN where undefined.

    ``annotations``: token -> sample_annotation record; ``sample_time``: sample token -> timestamp (us).
    """
    has_prev, has_next = bool(ann["prev"]), bool(ann["next"])
    if not has_prev and not has_next:
        return np.full(3, np.nan)
    first = annotations[ann["prev"]] if has_prev else ann
    last = annotations[ann["next"]] if has_next else ann
    dt = 1e-6 * (sample_time[last["sample_token"]] - sample_time[first["sample_token"]])
    if dt > (2 * max_time_diff if has_prev and has_next else max_time_diff):
        return np.full(3, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.asarray(last["translation"], np.float64) - np.asarray(first["translation"], np.float64)
        ) / dt


def _lidar_to_global(ego: dict, calib: dict) -> np.ndarray:
    """4x4 transform keyframe LiDAR -> global (calibrated_sensor, then ego_pose)."""
    return pose_matrix(ego["rotation"], ego["translation"]) @ pose_matrix(
        calib["rotation"], calib["translation"]
    )


def annotation_to_box(ann: dict, global_to_lidar: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Box row (9,) float64 ``x y z l w h yaw vx vy`` in the LiDAR frame; a NaN velocity becomes 0."""
    rot = global_to_lidar[:3, :3]
    centre = rot @ np.asarray(ann["translation"], np.float64) + global_to_lidar[:3, 3]
    box_rot = rot @ pose_matrix(ann["rotation"], [0.0, 0.0, 0.0])[:3, :3]
    yaw = math.atan2(box_rot[1, 0], box_rot[0, 0])
    vel = rot[:2, :2] @ np.nan_to_num(velocity[:2], nan=0.0, posinf=0.0, neginf=0.0)
    w, length, h = (float(v) for v in ann["size"])
    return np.array([*centre, length, w, h, yaw, vel[0], vel[1]], dtype=np.float64)


class NuScenesBoxTables:
    """The annotation tables of one nuScenes version, indexed for per-keyframe box extraction."""

    def __init__(self, tables: dict[str, list[dict]]):
        """``tables``: name -> rows of ``sample``, ``sample_annotation``, ``instance``, ``category``, ``attribute``."""
        categories = {c["token"]: c["name"] for c in tables["category"]}
        self.category_of_instance = {i["token"]: categories[i["category_token"]] for i in tables["instance"]}
        self.attribute_name = {a["token"]: a["name"] for a in tables["attribute"]}
        self.annotations = {a["token"]: a for a in tables["sample_annotation"]}
        self.sample_time = {s["token"]: s["timestamp"] for s in tables["sample"]}
        self.anns_of_sample: dict[str, list[dict]] = {}
        for ann in tables["sample_annotation"]:
            self.anns_of_sample.setdefault(ann["sample_token"], []).append(ann)

    def keyframe_boxes(self, sample_token: str, ego: dict, calib: dict) -> dict:
        """Info-index fields of one keyframe's boxes, given the ego_pose and calibrated_sensor of its LiDAR.

        Returns lists (JSON-ready) aligned by box: ``gt_boxes`` (M x 9, LiDAR frame), ``gt_names``
        (detection class), ``gt_num_lidar_pts``, ``gt_num_radar_pts``, ``gt_velocity_valid``,
        ``gt_attributes`` ('' when none), ``gt_instance_tokens``, ``gt_annotation_tokens``; plus
        ``bicycle_rack_boxes`` (K x 9, LiDAR frame) and ``lidar_to_global`` (4x4) for evaluation/submission.
        """
        l2g = _lidar_to_global(ego, calib)
        g2l = invert_rigid(l2g)
        out = {
            k: []
            for k in (
                "gt_boxes",
                "gt_names",
                "gt_num_lidar_pts",
                "gt_num_radar_pts",
                "gt_velocity_valid",
                "gt_attributes",
                "gt_instance_tokens",
                "gt_annotation_tokens",
                "bicycle_rack_boxes",
            )
        }
        for ann in self.anns_of_sample.get(sample_token, []):
            category = self.category_of_instance[ann["instance_token"]]
            if category == NUSCENES_BICYCLE_RACK:
                out["bicycle_rack_boxes"].append(annotation_to_box(ann, g2l, np.zeros(3)).tolist())
                continue
            name = category_to_detection_name(category)
            if name is None:
                continue
            attrs = ann.get("attribute_tokens", [])
            if len(attrs) > 1:
                raise ValueError(
                    f"sample_annotation {ann['token']}: {len(attrs)} attributes; a detection box has at most one"
                )
            velocity = annotation_velocity(ann, self.annotations, self.sample_time)
            valid = bool(np.isfinite(velocity[:2]).all())
            out["gt_boxes"].append(annotation_to_box(ann, g2l, velocity).tolist())
            out["gt_names"].append(name)
            out["gt_num_lidar_pts"].append(int(ann["num_lidar_pts"]))
            out["gt_num_radar_pts"].append(int(ann.get("num_radar_pts", 0)))
            out["gt_velocity_valid"].append(valid)
            out["gt_attributes"].append(self.attribute_name[attrs[0]] if attrs else "")
            out["gt_instance_tokens"].append(ann["instance_token"])
            out["gt_annotation_tokens"].append(ann["token"])
        out["lidar_to_global"] = l2g.tolist()
        return out
