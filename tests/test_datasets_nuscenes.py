import json
import logging
import os
import shutil

import numpy as np
import pytest
from real_data import real_path, skip_unless_real

from pointcept.datasets import build_dataset
from pointcept.datasets.formats import pose_matrix, read_lidarseg, read_pcd_bin, sweep_to_keyframe
from pointcept.datasets.label_maps import NUSCENES_CLASS_NAMES, NUSCENES_LUT, apply_lut
from pointcept.datasets.nuscenes import NuScenesDataset
from pointcept.datasets.preprocessing.nuscenes_info import (
    build_nuscenes_infos,
    official_splits,
    write_nuscenes_infos,
)

NUSC = real_path("nuscenes")
FRAGMENT = real_path("nuscenes_lidarseg_fragment")
KEY_SAMPLE = "samples/LIDAR_TOP/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin"
SWEEP_SAMPLE = "sweeps/LIDAR_TOP/n008-2018-08-01-15-16-36-0400__LIDAR_TOP__1533151603597909.pcd.bin"
FRAG_BIN = "samples/LIDAR_TOP/n015-2018-08-02-17-16-37+0800__LIDAR_TOP__1533201470948018.pcd.bin"
FRAG_LABEL = "lidarseg/v1.0-trainval/5f6c1e0a0c3b444b97e78d2aa3fa34d2_lidarseg.bin"
needs_real = skip_unless_real("nuscenes")

# Devkit LidarsegClassMapper (fine index -> coarse index, 0 = ignore), typed from
# nuscenes-devkit eval/lidarseg/utils.py independently of our table; ours is coarse - 1.
DEVKIT_COARSE = {0: 0, 1: 0, 2: 7, 3: 7, 4: 7, 5: 0, 6: 7, 7: 0, 8: 0, 9: 1, 10: 0, 11: 0, 12: 8, 13: 0, 14: 2, 15: 3,
                 16: 3, 17: 4, 18: 5, 19: 0, 20: 0, 21: 6, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15,
                 29: 0, 30: 16, 31: 0}  # fmt: skip


def rotz(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])


def rotx(deg):
    t = np.deg2rad(deg)
    return np.array([[1.0, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])


def quat_z(deg):
    t = np.deg2rad(deg) / 2
    return [np.cos(t), 0.0, 0.0, np.sin(t)]


def quat_x(deg):
    t = np.deg2rad(deg) / 2
    return [np.cos(t), np.sin(t), 0.0, 0.0]


def homog(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def test_learning_map_matches_devkit():
    raw = np.arange(32)
    np.testing.assert_array_equal(apply_lut(raw, NUSCENES_LUT), [DEVKIT_COARSE[i] - 1 for i in raw])
    assert len(NUSCENES_CLASS_NAMES) == 16 and NUSCENES_CLASS_NAMES[3] == "car"
    # Ids outside the lidarseg range are ignored, never a class.
    np.testing.assert_array_equal(apply_lut(np.array([32, 255, -3]), NUSCENES_LUT), [-1, -1, -1])


@needs_real
def test_real_sweeps_load():
    key = read_pcd_bin(os.path.join(NUSC, KEY_SAMPLE))
    sweep = read_pcd_bin(os.path.join(NUSC, SWEEP_SAMPLE))
    assert key.shape == (34688, 5) and sweep.shape == (34752, 5)
    assert key.dtype == np.float32
    assert 0 <= key[:, 3].min() and key[:, 3].max() <= 255 and key[:, 4].max() == 31


@skip_unless_real("nuscenes_lidarseg_fragment")
def test_real_lidarseg_fragment_maps_to_devkit_classes():
    points = read_pcd_bin(os.path.join(FRAGMENT, FRAG_BIN))
    raw = read_lidarseg(os.path.join(FRAGMENT, FRAG_LABEL), len(points))
    assert dict(zip(*np.unique(raw, return_counts=True))) == {17: 2, 24: 15, 27: 1, 28: 12, 30: 1, 31: 9}
    mapped = apply_lut(raw, NUSCENES_LUT)
    hist = dict(zip(*(v.tolist() for v in np.unique(mapped, return_counts=True))))
    names = {c: (NUSCENES_CLASS_NAMES[c] if c >= 0 else "ignore") for c in hist}
    assert {names[c]: n for c, n in hist.items()} == {
        "car": 2,
        "driveable_surface": 15,
        "terrain": 1,
        "manmade": 12,
        "vegetation": 1,
        "ignore": 9,  # vehicle.ego
    }
    # The ego points sit at the sensor, the road below it (a sanity check of the label/point order).
    ego = raw == 31
    assert np.linalg.norm(points[ego, :2], axis=1).max() < 3.0
    assert points[raw == 24, 2].mean() < -1.0


def _fabricate(root, rng, use_real):
    """Two scenes of devkit tables: scene-A (2 samples, 1 sweep between), scene-B (1 sample, 1 sweep)."""
    version = "v1.0-fab"
    tables = os.path.join(root, version)
    os.makedirs(tables)
    os.makedirs(os.path.join(root, "samples", "LIDAR_TOP"))
    os.makedirs(os.path.join(root, "sweeps", "LIDAR_TOP"))
    os.makedirs(os.path.join(root, "lidarseg", version))

    def cloud(i):
        if use_real:
            src = os.path.join(NUSC, KEY_SAMPLE if i % 2 == 0 else SWEEP_SAMPLE)
            return read_pcd_bin(src)[: 500 + 37 * i]
        pts = rng.uniform(-30, 30, size=(400 + 17 * i, 5)).astype(np.float32)
        pts[:, 3] = rng.integers(0, 256, len(pts))
        return pts

    # name, is_key, sample, timestamp, ego (quat, t), calib token
    sds = [
        ("kA1", True, "sA1", 1_000_000, (quat_z(30), [10.0, 5.0, 0.0])),
        ("wA", False, "sA2", 1_050_000, (quat_z(35), [11.0, 5.5, 0.1])),
        ("kA2", True, "sA2", 1_100_000, (quat_z(40), [12.0, 6.0, 0.2])),
        ("wB", False, "sB1", 2_000_000, (quat_z(-20), [-3.0, 1.0, 0.0])),
        ("kB1", True, "sB1", 2_050_000, (quat_z(-15), [-2.0, 2.0, 0.0])),
    ]
    calib = {
        "token": "cal_lidar",
        "sensor_token": "sen_lidar",
        "rotation": quat_x(5),
        "translation": [0.9, 0.0, 1.8],
    }
    cam_calib = {
        "token": "cal_cam",
        "sensor_token": "sen_cam",
        "rotation": [1, 0, 0, 0],
        "translation": [1, 0, 1],
    }
    sample_data, ego_poses, lidarseg, clouds, labels = [], [], [], {}, {}
    chain = {"kA1": "", "wA": "kA1", "kA2": "wA", "wB": "", "kB1": "wB"}
    nxt = {v: k for k, v in chain.items() if v}
    for i, (tok, is_key, sample, ts, (q, t)) in enumerate(sds):
        folder = "samples" if is_key else "sweeps"
        filename = f"{folder}/LIDAR_TOP/{tok}.pcd.bin"
        clouds[tok] = cloud(i)
        clouds[tok].tofile(os.path.join(root, filename))
        ego_poses.append({"token": f"ego_{tok}", "rotation": q, "translation": t, "timestamp": ts})
        sample_data.append(
            dict(token=tok, sample_token=sample, ego_pose_token=f"ego_{tok}", calibrated_sensor_token="cal_lidar",
                 timestamp=ts, fileformat="pcd", is_key_frame=is_key, height=0, width=0, filename=filename,
                 prev=chain[tok], next=nxt.get(tok, ""))
        )  # fmt: skip
        if is_key:
            labels[tok] = rng.integers(0, 32, len(clouds[tok])).astype(np.uint8)
            seg_file = f"lidarseg/{version}/{tok}_lidarseg.bin"
            labels[tok].tofile(os.path.join(root, seg_file))
            lidarseg.append({"token": f"ls_{tok}", "sample_data_token": tok, "filename": seg_file})
            # A camera keyframe of the same sample must not be mistaken for the lidar.
            sample_data.append(dict(sample_data[-1], token=f"cam_{tok}", calibrated_sensor_token="cal_cam",
                                    filename=f"samples/CAM_FRONT/{tok}.jpg", prev="", next=""))  # fmt: skip
    samples = [
        {"token": "sA1", "scene_token": "A", "timestamp": 1_000_000, "prev": "", "next": "sA2"},
        {"token": "sA2", "scene_token": "A", "timestamp": 1_100_000, "prev": "sA1", "next": ""},
        {"token": "sB1", "scene_token": "B", "timestamp": 2_050_000, "prev": "", "next": ""},
    ]
    scenes = [
        {
            "token": "A",
            "name": "scene-0001",
            "first_sample_token": "sA1",
            "last_sample_token": "sA2",
            "nbr_samples": 2,
        },
        {
            "token": "B",
            "name": "scene-0002",
            "first_sample_token": "sB1",
            "last_sample_token": "sB1",
            "nbr_samples": 1,
        },
    ]
    sensors = [{"token": "sen_lidar", "channel": "LIDAR_TOP", "modality": "lidar"},
               {"token": "sen_cam", "channel": "CAM_FRONT", "modality": "camera"}]  # fmt: skip
    for name, rows in [("scene", scenes), ("sample", samples), ("sample_data", sample_data), ("sensor", sensors),
                       ("calibrated_sensor", [calib, cam_calib]), ("ego_pose", ego_poses), ("lidarseg", lidarseg)]:  # fmt: skip
        with open(os.path.join(tables, f"{name}.json"), "w") as f:
            json.dump(rows, f)
    split_file = os.path.join(root, "splits.json")
    with open(split_file, "w") as f:
        json.dump({"train": ["scene-0001"], "val": ["scene-0002"]}, f)
    return version, split_file, clouds, labels


def _expected_in_keyframe(points, sweep_ego, key_ego):
    """Hand-built chain with rotation matrices (not quaternions): sweep lidar -> global -> keyframe lidar."""
    C = homog(rotx(5), [0.9, 0.0, 1.8])
    Es = homog(rotz(sweep_ego[0]), sweep_ego[1])
    Ek = homog(rotz(key_ego[0]), key_ego[1])
    T = np.linalg.inv(Ek @ C) @ Es @ C
    return points[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]


@pytest.mark.parametrize("use_real", [False, pytest.param(True, marks=needs_real)])
def test_fabricated_tables_multisweep(tmp_path, use_real):
    rng = np.random.default_rng(0)
    root = str(tmp_path)
    version, split_file, clouds, labels = _fabricate(root, rng, use_real)
    paths = write_nuscenes_infos(root, version, max_sweeps=3, split_file=split_file)
    assert set(paths) == {"train", "val"}
    with open(paths["train"]) as f:
        train = json.load(f)
    assert [i["lidar_token"] for i in train] == ["kA1", "kA2"]
    # kA2's chain goes back through the sweep and then the previous keyframe; kA1 has none.
    assert [s["lidar_path"] for s in train[1]["sweeps"]] == [
        "sweeps/LIDAR_TOP/wA.pcd.bin",
        "samples/LIDAR_TOP/kA1.pcd.bin",
    ]
    assert train[0]["sweeps"] == []
    assert train[1]["sweeps"][0]["time_lag"] == pytest.approx(0.05)

    ds = NuScenesDataset(data_root=root, split="train", sweeps=3, info_sweeps=3)
    data = ds.get_data(1)
    n_key, n_w, n_k1 = len(clouds["kA2"]), len(clouds["wA"]), len(clouds["kA1"])
    assert data["coord"].shape == (n_key + n_w + n_k1, 3) and data["strength"].shape == (
        len(data["coord"]),
        2,
    )
    np.testing.assert_allclose(data["coord"][:n_key], clouds["kA2"][:, :3])
    want_w = _expected_in_keyframe(clouds["wA"], (35, [11.0, 5.5, 0.1]), (40, [12.0, 6.0, 0.2]))
    want_k1 = _expected_in_keyframe(clouds["kA1"], (30, [10.0, 5.0, 0.0]), (40, [12.0, 6.0, 0.2]))
    np.testing.assert_allclose(data["coord"][n_key : n_key + n_w], want_w, atol=2e-4)
    np.testing.assert_allclose(data["coord"][n_key + n_w :], want_k1, atol=2e-4)
    np.testing.assert_allclose(data["strength"][:n_key, 0], clouds["kA2"][:, 3] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data["strength"][:, 1], [0.0] * n_key + [0.05] * n_w + [0.1] * n_k1, atol=1e-6)
    np.testing.assert_array_equal(data["segment"][:n_key], [DEVKIT_COARSE[r] - 1 for r in labels["kA2"]])
    assert (data["segment"][n_key:] == -1).all()
    assert data["name"] == "kA2"

    # Keyframe-only reading of the same index, and the val split.
    single = NuScenesDataset(data_root=root, split="val", sweeps=1, info_sweeps=3)
    d = single.get_data(0)
    assert d["coord"].shape == (len(clouds["kB1"]), 3) and d["strength"].shape == (len(clouds["kB1"]), 1)


def test_sweep_transform_is_rigid_motion():
    # A static world point seen from two ego poses lands on itself after the transform.
    calib = pose_matrix(quat_x(5), [0.9, 0.0, 1.8])
    key_ego = pose_matrix(quat_z(40), [12.0, 6.0, 0.2])
    sweep_ego = pose_matrix(quat_z(35), [11.0, 5.5, 0.1])
    world = np.array([[20.0, -3.0, 1.5], [5.0, 7.0, 0.0]])
    to_lidar = lambda ego: np.linalg.inv(ego @ calib)  # noqa: E731
    in_sweep = world @ to_lidar(sweep_ego)[:3, :3].T + to_lidar(sweep_ego)[:3, 3]
    in_key = world @ to_lidar(key_ego)[:3, :3].T + to_lidar(key_ego)[:3, 3]
    T = sweep_to_keyframe(sweep_ego, calib, key_ego, calib)
    np.testing.assert_allclose(in_sweep @ T[:3, :3].T + T[:3, 3], in_key, atol=1e-9)


def test_official_splits_without_devkit_says_how(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_devkit(name, *args, **kwargs):
        if name.startswith("nuscenes"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_devkit)
    with pytest.raises(ValueError, match="nuscenes-devkit.*split file"):
        official_splits("v1.0-trainval")


def test_missing_table_and_unknown_scenes(tmp_path):
    rng = np.random.default_rng(1)
    version, _, _, _ = _fabricate(str(tmp_path), rng, use_real=False)
    with pytest.raises(ValueError, match="none of its 1 scenes"):
        build_nuscenes_infos(str(tmp_path), version, {"train": ["scene-9999"]})
    os.remove(os.path.join(tmp_path, version, "ego_pose.json"))
    with pytest.raises(ValueError, match="ego_pose.json: nuScenes table missing"):
        build_nuscenes_infos(str(tmp_path), version, {"train": ["scene-0001"]})


def test_bad_files_raise_or_skip(tmp_path, caplog):
    rng = np.random.default_rng(2)
    root = str(tmp_path)
    version, split_file, clouds, _ = _fabricate(root, rng, use_real=False)
    write_nuscenes_infos(root, version, max_sweeps=1, split_file=split_file)
    bad = os.path.join(root, "samples", "LIDAR_TOP", "kA1.pcd.bin")
    with open(bad, "r+b") as f:
        f.truncate(os.path.getsize(bad) - 6)
    ds = NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1)
    with pytest.raises(ValueError, match=r"kA1\.pcd\.bin: truncated"):
        ds[0]
    skip = NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1, on_error="skip")
    with caplog.at_level(logging.WARNING):
        sample = skip[0]
    assert sample["name"] == "kA2" and skip.num_skipped == 1

    # Label count mismatch and NaN coordinates name their files.
    seg = os.path.join(root, "lidarseg", version, "kA2_lidarseg.bin")
    np.zeros(3, dtype=np.uint8).tofile(seg)
    with pytest.raises(
        ValueError, match=rf"kA2_lidarseg\.bin: 3 labels for a scan of {len(clouds['kA2'])} points"
    ):
        ds.get_data(1)
    nan = clouds["kB1"].copy()
    nan[4, 1] = np.nan
    nan.tofile(os.path.join(root, "samples", "LIDAR_TOP", "kB1.pcd.bin"))
    val = NuScenesDataset(data_root=root, split="val", sweeps=1, info_sweeps=1)
    with pytest.raises(ValueError, match=r"kB1\.pcd\.bin: 1 points with NaN"):
        val[0]
    with pytest.raises(ValueError, match="info index not found"):
        NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=10)


def test_save_prediction_and_pipeline(tmp_path):
    rng = np.random.default_rng(3)
    root = str(tmp_path / "nusc")
    os.makedirs(root)
    version, split_file, clouds, _ = _fabricate(root, rng, use_real=False)
    write_nuscenes_infos(root, version, max_sweeps=2, split_file=split_file)
    ds = build_dataset(
        dict(type="NuScenesDataset", data_root=root, split="train", sweeps=2, info_sweeps=2,
             transform=[dict(type="GridSample", grid_size=0.5, mode="train", return_grid_coord=True),
                        dict(type="ToTensor"),
                        dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength"))])
    )  # fmt: skip
    sample = ds[1]
    assert sample["feat"].shape[1] == 5 and len(sample["segment"]) == len(sample["coord"])
    n_key, n_sweep = len(clouds["kA2"]), len(clouds["wA"])
    pred = rng.integers(0, 16, n_key + n_sweep)
    out = ds.save_prediction(pred, "kA2", str(tmp_path / "out"))
    assert out.endswith(os.path.join("lidarseg", "train", "kA2_lidarseg.bin"))
    np.testing.assert_array_equal(np.fromfile(out, dtype=np.uint8), pred[:n_key] + 1)
    with pytest.raises(ValueError, match="expected"):
        ds.save_prediction(pred[:-1], "kA2", str(tmp_path / "out"))
    with pytest.raises(ValueError, match="pred values"):
        ds.save_prediction(np.full(n_key, 16), "kA2", str(tmp_path / "out"))
    shutil.rmtree(tmp_path / "out")
