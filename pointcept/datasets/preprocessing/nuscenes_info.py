"""Build the nuScenes lidar info index straight from the devkit's JSON tables (no devkit needed).

Reads ``<data_root>/<version>/{scene,sample,sample_data,sensor,calibrated_sensor,ego_pose}.json``
and, when present, ``lidarseg.json`` and the annotation tables (``sample_annotation``, ``instance``,
``category``, ``attribute``). For every keyframe of every scene of a split it records::

    {
      "lidar_token", "sample_token", "scene_name", "timestamp" (us),
      "lidar_path": path of the keyframe .pcd.bin relative to data_root,
      "gt_segment_path": lidarseg .bin relative to data_root, or None,
      "sweeps": [  # up to max_sweeps - 1 earlier LIDAR_TOP sweeps, newest first
        {"lidar_path", "time_lag" (s, >= 0), "transform_matrix" (4x4 list: sweep lidar -> keyframe lidar)}
      ],
      "lidar_to_ego", "ego_to_global": 4x4 lists, the keyframe LIDAR_TOP's calibrated_sensor and
          ego_pose (also without annotations: the test split's submission needs them),
      # when sample_annotation.json exists (rules in nuscenes_boxes.py):
      "gt_boxes" (M x 9, keyframe LiDAR frame), "gt_names", "gt_num_lidar_pts", "gt_num_radar_pts",
      "gt_velocity_valid", "gt_attributes", "gt_instance_tokens", "gt_annotation_tokens",
      "bicycle_rack_boxes" (K x 9), "lidar_to_global" (4x4),
    }

and writes ``<out_dir>/nuscenes_infos_{max_sweeps}sweeps_{split}.json``. JSON rather than pickle so an
index file can be read without executing code.

Splits: the official scene lists come from ``nuscenes.utils.splits.create_splits_scenes()`` of the
``nuscenes-devkit`` package when it is installed; otherwise pass a split file (JSON ``{"train":
[scene names], "val": [...]}``).
"""

import json
import logging
import os

import numpy as np

from ..formats.nuscenes_lidar import pose_matrix, sweep_to_keyframe
from .nuscenes_boxes import NuScenesBoxTables

logger = logging.getLogger(__name__)

LIDAR_CHANNEL = "LIDAR_TOP"


def _load_table(table_dir: str, name: str, required: bool = True) -> list[dict] | None:
    path = os.path.join(table_dir, f"{name}.json")
    if not os.path.isfile(path):
        if required:
            raise ValueError(
                f"{path}: nuScenes table missing (expected the devkit's JSON tables in {table_dir})"
            )
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from e


def _load_box_tables(table_dir: str) -> NuScenesBoxTables | None:
    """The annotation tables when ``sample_annotation.json`` exists (not in v1.0-test), else None."""
    annotations = _load_table(table_dir, "sample_annotation", required=False)
    if annotations is None:
        return None
    names = ("sample", "instance", "category", "attribute")
    tables = {n: _load_table(table_dir, n) for n in names}
    tables["sample_annotation"] = annotations
    return NuScenesBoxTables(tables)


def official_splits(version: str) -> dict[str, list[str]]:
    """Official scene-name lists per split from nuscenes-devkit (imported lazily).

    ``v1.0-trainval`` -> train/val, ``v1.0-mini`` -> mini_train/mini_val renamed train/val,
    ``v1.0-test`` -> test.
    """
    try:
        from nuscenes.utils import splits
    except ImportError as e:
        raise ValueError(
            "the official nuScenes train/val scene lists live in nuscenes-devkit (nuscenes.utils.splits), "
            "which is not installed: `pip install nuscenes-devkit`, or pass a split file instead "
            '(JSON {"train": [scene names], "val": [scene names]})'
        ) from e
    scenes = splits.create_splits_scenes()
    if version.endswith("mini"):
        return {"train": scenes["mini_train"], "val": scenes["mini_val"]}
    if version.endswith("test"):
        return {"test": scenes["test"]}
    return {"train": scenes["train"], "val": scenes["val"]}


def read_split_file(path: str) -> dict[str, list[str]]:
    """A user split file: JSON object split name -> list of scene names."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON split file ({e})") from e
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in data.values()
    ):
        raise ValueError(f'{path}: split file must be a JSON object {{"train": [scene names], ...}}')
    return data


def build_nuscenes_infos(
    data_root: str, version: str, splits: dict[str, list[str]], max_sweeps: int = 10
) -> dict[str, list[dict]]:
    """Info records per split (see module docstring); ``max_sweeps`` counts the keyframe."""
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}")
    table_dir = os.path.join(data_root, version)
    scenes = {s["name"]: s for s in _load_table(table_dir, "scene")}
    samples = {s["token"]: s for s in _load_table(table_dir, "sample")}
    sample_data = {s["token"]: s for s in _load_table(table_dir, "sample_data")}
    sensors = {s["token"]: s for s in _load_table(table_dir, "sensor")}
    calibs = {c["token"]: c for c in _load_table(table_dir, "calibrated_sensor")}
    ego_poses = {e["token"]: e for e in _load_table(table_dir, "ego_pose")}
    lidarseg = _load_table(table_dir, "lidarseg", required=False) or []
    box_tables = _load_box_tables(table_dir)
    seg_by_sd = {r["sample_data_token"]: r["filename"] for r in lidarseg}

    lidar_calibs = {t for t, c in calibs.items() if sensors[c["sensor_token"]]["channel"] == LIDAR_CHANNEL}
    keyframe_of_sample = {
        sd["sample_token"]: sd
        for sd in sample_data.values()
        if sd["is_key_frame"] and sd["calibrated_sensor_token"] in lidar_calibs
    }

    def pose_pair(sd: dict) -> tuple[np.ndarray, np.ndarray]:
        ego = ego_poses[sd["ego_pose_token"]]
        cal = calibs[sd["calibrated_sensor_token"]]
        return pose_matrix(ego["rotation"], ego["translation"]), pose_matrix(
            cal["rotation"], cal["translation"]
        )

    out = {}
    for split, names in splits.items():
        missing = [n for n in names if n not in scenes]
        if len(missing) == len(names) and names:
            raise ValueError(f"split {split!r}: none of its {len(names)} scenes is in {table_dir}/scene.json")
        if missing:
            logger.info("split %s: %d scenes not in this version, skipped", split, len(missing))
        infos = []
        for name in names:
            if name not in scenes:
                continue
            token = scenes[name]["first_sample_token"]
            while token:
                sample = samples[token]
                key = keyframe_of_sample.get(token)
                if key is None:
                    raise ValueError(
                        f"sample {token} of scene {name} has no {LIDAR_CHANNEL} keyframe in sample_data.json"
                    )
                key_ego, key_cal = pose_pair(key)
                sweeps = []
                prev = key["prev"]
                while prev and len(sweeps) < max_sweeps - 1:
                    sd = sample_data[prev]
                    ego, cal = pose_pair(sd)
                    sweeps.append(
                        dict(
                            lidar_path=sd["filename"],
                            time_lag=(key["timestamp"] - sd["timestamp"]) * 1e-6,
                            transform_matrix=sweep_to_keyframe(ego, cal, key_ego, key_cal).tolist(),
                        )
                    )
                    prev = sd["prev"]
                info = dict(
                    lidar_token=key["token"],
                    sample_token=token,
                    scene_name=name,
                    timestamp=key["timestamp"],
                    lidar_path=key["filename"],
                    gt_segment_path=seg_by_sd.get(key["token"]),
                    sweeps=sweeps,
                    lidar_to_ego=key_cal.tolist(),
                    ego_to_global=key_ego.tolist(),
                )
                if box_tables is not None:
                    info.update(
                        box_tables.keyframe_boxes(
                            token, ego_poses[key["ego_pose_token"]], calibs[key["calibrated_sensor_token"]]
                        )
                    )
                infos.append(info)
                token = sample["next"]
        out[split] = infos
    return out


def info_path(info_dir: str, max_sweeps: int, split: str) -> str:
    """Where the index of ``split`` built with ``max_sweeps`` lives."""
    return os.path.join(info_dir, f"nuscenes_infos_{max_sweeps}sweeps_{split}.json")


def write_nuscenes_infos(
    data_root: str,
    version: str = "v1.0-trainval",
    out_dir: str | None = None,
    max_sweeps: int = 10,
    split_file: str | None = None,
) -> dict[str, str]:
    """Build and write the index files; returns split -> written path."""
    splits = read_split_file(split_file) if split_file else official_splits(version)
    infos = build_nuscenes_infos(data_root, version, splits, max_sweeps)
    out_dir = out_dir or os.path.join(data_root, "info")
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for split, records in infos.items():
        paths[split] = info_path(out_dir, max_sweeps, split)
        with open(paths[split], "w") as f:
            json.dump(records, f)
        logger.info("%s: %d keyframes -> %s", split, len(records), paths[split])
    return paths
