"""Pointcept's nuScenes info files (``info/nuscenes_infos_{S}sweeps_{split}.pkl``) as our index records.

Pointcept's ``preprocess_nuscenes_info.py`` (after OpenPCDet) pickles a list with one dict per
keyframe; the keys read here are

* ``lidar_path``: the keyframe ``.pcd.bin``, relative to the nuScenes root (Pointcept links that
  root as ``<data_root>/raw``);
* ``lidar_token`` (the keyframe's sample_data token) and ``token`` (the sample token);
* ``gt_segment_path``: the lidarseg ``.bin`` relative to the same root (absent in the test split);
* ``sweeps``: ``S - 1`` entries ``{lidar_path, sample_data_token, transform_matrix, time_lag}``,
  newest first, ``transform_matrix`` a (4, 4) numpy array mapping the sweep's lidar frame to the
  keyframe's. At the start of a scene the list is padded: the first missing sweep is the keyframe
  itself with ``transform_matrix=None`` and later ones repeat the previous entry.

* ``ref_from_car`` (ego -> LiDAR, the inverse calibrated_sensor) and ``car_from_global`` (global
  -> ego, the inverse ego_pose), (4, 4) arrays: where present they become our ``lidar_to_ego``
  and ``ego_to_global`` (inverted), which the detection submission and evaluation use.

Other keys (boxes, cameras, ...) are ignored. The records returned have the
fields of our JSON index (``preprocessing/nuscenes_info.py``): paths are made relative to the
dataset's ``data_root`` by ``path_prefix`` (``"raw"`` for Pointcept's layout), and the padding
entries are dropped, so a scene's first keyframe has no sweeps (as in our index) instead of
counting its own points twice. The file is read with the restricted unpickler
(``pointcept.utils.safe_pickle.safe_load_pickle``): a pickle referencing anything but numpy data and
plain containers is refused without running it.
"""

import os

import numpy as np

from pointcept.utils.safe_pickle import safe_load_pickle

from .nuscenes_lidar import invert_rigid


def _rel(prefix: str, path) -> str:
    return os.path.join(prefix, str(path)) if prefix else str(path)


def _matrix(value, what: str) -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"{what} must be a finite 4x4 matrix, got shape {matrix.shape}")
    return matrix


def convert_pointcept_info(info: dict, path_prefix: str, where: str) -> dict:
    """One Pointcept info dict -> one record of our index (module doc); ``where`` names it in errors."""
    if not isinstance(info, dict):
        raise ValueError(f"{where}: expected a dict, got {type(info).__name__}")
    missing = [k for k in ("lidar_path", "lidar_token") if k not in info]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing} of a Pointcept nuScenes info")
    sweeps, previous = [], None
    for j, sweep in enumerate(info.get("sweeps") or []):
        token = sweep.get("sample_data_token")
        matrix = sweep.get("transform_matrix")
        if matrix is None or (token is not None and token == previous):
            continue  # scene-start padding: the keyframe itself, then repeats of the last entry
        previous = token
        matrix = _matrix(matrix, f"{where}: sweeps[{j}].transform_matrix")
        sweeps.append(
            dict(
                lidar_path=_rel(path_prefix, sweep["lidar_path"]),
                time_lag=float(sweep.get("time_lag", 0.0)),
                transform_matrix=matrix,
            )
        )
    segment = info.get("gt_segment_path")
    out = dict(
        lidar_token=str(info["lidar_token"]),
        sample_token=str(info.get("token", "")),
        lidar_path=_rel(path_prefix, info["lidar_path"]),
        gt_segment_path=_rel(path_prefix, segment) if segment else None,
        sweeps=sweeps,
    )
    for ours, theirs in (("lidar_to_ego", "ref_from_car"), ("ego_to_global", "car_from_global")):
        if info.get(theirs) is not None:
            out[ours] = invert_rigid(_matrix(info[theirs], f"{where}: {theirs}"))
    return out


def read_pointcept_infos(path: str, path_prefix: str = "raw") -> list[dict]:
    """The records of Pointcept info file ``path`` (module doc); ValueError naming the file if malformed."""
    infos = safe_load_pickle(path)
    if not isinstance(infos, list):
        raise ValueError(f"{path}: a Pointcept nuScenes info file holds a list, got {type(infos).__name__}")
    return [convert_pointcept_info(info, path_prefix, f"{path}: entry {i}") for i, info in enumerate(infos)]
