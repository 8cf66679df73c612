"""Bad input files give a ValueError naming the file and what is wrong, for
every numeric column, implausible coordinates, nuScenes files in another column layout, ScanNet
meshes missing a property, and directories where a file belongs. Files are written in each
dataset's real on-disk format."""

import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from real_data import REAL_DATA

from pointcept.datasets import (
    COORD_LIMIT,
    NuScenesDataset,
    ScanNetDataset,
    SemanticKITTIDataset,
    WaymoDataset,
    validate_points,
)
from pointcept.datasets.formats import read_pcd_bin
from pointcept.datasets.preprocessing.scannet import convert_scene

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------
# writers of the on-disk formats


def write_kitti(root, frame, points, labels=None, seq="00"):
    """SemanticKITTI: velodyne/<frame>.bin float32 (N, 4), labels/<frame>.label uint32 (N,)."""
    seq_dir = os.path.join(root, "dataset", "sequences", seq)
    os.makedirs(os.path.join(seq_dir, "velodyne"), exist_ok=True)
    path = os.path.join(seq_dir, "velodyne", f"{frame}.bin")
    np.asarray(points, dtype=np.float32).tofile(path)
    if labels is not None:
        os.makedirs(os.path.join(seq_dir, "labels"), exist_ok=True)
        np.asarray(labels, dtype=np.uint32).tofile(os.path.join(seq_dir, "labels", f"{frame}.label"))
    return path


def kitti_scan(n, seed):
    rng = np.random.default_rng(seed)
    return np.c_[rng.normal(0, 10, (n, 3)), rng.random(n)].astype(np.float32)


def nusc_points(n, seed):
    """nuScenes .pcd.bin rows: x, y, z (metres around the sensor), intensity 0..255, ring 0..31."""
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(-40, 40, (n, 2)), rng.uniform(-2.0, 3.0, n)]
    return np.c_[xyz, rng.integers(0, 256, n), rng.integers(0, 32, n)].astype(np.float32)


def write_nuscenes(root, key, sweep=None, labels=None):
    """One keyframe (optionally with one sweep and lidarseg labels) and its info index (2 sweeps).

    Arrays are written as they are, so a (N, 4) array makes a file in the wrong column layout.
    Returns (keyframe path, sweep path or None, lidarseg path or None).
    """
    for sub in ("samples/LIDAR_TOP", "sweeps/LIDAR_TOP", "lidarseg/v1.0-trainval", "info"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    key_rel = "samples/LIDAR_TOP/n015__LIDAR_TOP__1.pcd.bin"
    np.asarray(key, dtype=np.float32).tofile(os.path.join(root, key_rel))
    sweeps, seg_rel = [], None
    if sweep is not None:
        sweep_rel = "sweeps/LIDAR_TOP/n015__LIDAR_TOP__0.pcd.bin"
        np.asarray(sweep, dtype=np.float32).tofile(os.path.join(root, sweep_rel))
        sweeps.append(dict(lidar_path=sweep_rel, time_lag=0.05, transform_matrix=np.eye(4).tolist()))
    if labels is not None:
        seg_rel = "lidarseg/v1.0-trainval/tok_lidarseg.bin"
        np.asarray(labels, dtype=np.uint8).tofile(os.path.join(root, seg_rel))
    info = dict(lidar_token="tok", sample_token="s", scene_name="scene-0001", timestamp=1, lidar_path=key_rel,
                gt_segment_path=seg_rel, sweeps=sweeps)  # fmt: skip
    with open(os.path.join(root, "info", "nuscenes_infos_2sweeps_train.json"), "w") as f:
        json.dump([info], f)
    full = lambda rel: os.path.join(root, rel) if rel else None  # noqa: E731
    return full(key_rel), full(sweeps[0]["lidar_path"] if sweeps else None), full(seg_rel)


def nusc_dataset(root, sweeps=1, **kw):
    return NuScenesDataset(data_root=str(root), split="train", sweeps=sweeps, info_sweeps=2, **kw)


def write_scene_npy(folder, **arrays):
    os.makedirs(folder, exist_ok=True)
    for name, arr in arrays.items():
        np.save(os.path.join(folder, f"{name}.npy"), arr)


def scannet_scene(n, seed):
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(n, 3))
    return dict(
        coord=rng.uniform(0, 5, (n, 3)).astype(np.float32),
        color=rng.integers(0, 256, (n, 3)).astype(np.uint8),
        normal=(normal / np.linalg.norm(normal, axis=1, keepdims=True)).astype(np.float32),
        segment20=rng.integers(-1, 20, n).astype(np.int32),
    )


def write_ply(path, vertex, faces):
    """Binary little-endian PLY: ``vertex`` a structured array, ``faces`` (F, 3) triangles."""
    types = {"f4": "float", "u1": "uchar", "u2": "ushort"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertex)}"]
    header += [f"property {types[vertex.dtype[k].str[1:]]} {k}" for k in vertex.dtype.names]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    face = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face["n"], face["idx"] = 3, faces
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii") + vertex.tobytes() + face.tobytes())


def square_mesh(fields=("x", "y", "z", "red", "green", "blue")):
    types = {"x": "<f4", "y": "<f4", "z": "<f4", "red": "u1", "green": "u1", "blue": "u1", "label": "<u2"}
    v = np.zeros(4, dtype=[(k, types[k]) for k in fields])
    v["x"], v["y"] = [0, 1, 1, 0], [0, 0, 1, 1]
    return v, np.array([[0, 1, 2], [0, 2, 3]])


# ---------------------------------------------------------------------------------------------
# 1. NaN/Inf in a feature column


def test_kitti_remission_nan_names_file_and_column(tmp_path):
    points = kitti_scan(50, 0)
    points[[7, 9, 30], 3] = [np.nan, np.inf, np.nan]
    path = write_kitti(tmp_path, "000000", points, np.full(50, 40))
    ds = SemanticKITTIDataset(str(tmp_path), split="00")
    with pytest.raises(ValueError) as err:
        ds[0]
    assert str(err.value) == (
        f"{path} (remission, 4th float32 of each point): 3 points with NaN/Inf 'strength' (of 50, first at row 7)"
    )


def test_kitti_training_pipeline_stops_at_the_file_not_at_the_loss(tmp_path):
    points = kitti_scan(400, 1)
    points[::2, 3] = np.nan
    path = write_kitti(tmp_path, "000000", points, np.full(400, 40))
    transform = [
        dict(type="GridSample", grid_size=1.0, mode="train", return_grid_coord=True),
        dict(type="ToTensor"),
        dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength")),
    ]
    ds = SemanticKITTIDataset(str(tmp_path), split="train", transform=transform)
    with pytest.raises(ValueError, match=re.escape(path) + r".*200 points with NaN/Inf 'strength'"):
        ds[0]


@pytest.mark.parametrize("where", ["keyframe", "sweep"])
@pytest.mark.parametrize("column, value", [(3, np.nan), (3, np.inf), (4, np.nan)])
def test_nuscenes_intensity_or_ring_nan_names_the_file(tmp_path, where, column, value):
    key, sweep = nusc_points(200, 0), nusc_points(150, 1)
    (key if where == "keyframe" else sweep)[11, column] = value
    key_path, sweep_path, _ = write_nuscenes(str(tmp_path), key, sweep)
    bad = key_path if where == "keyframe" else sweep_path
    with pytest.raises(ValueError) as err:
        nusc_dataset(tmp_path, sweeps=2)[0]
    assert str(err.value).startswith(f"{bad}: 1 points with NaN/Inf intensity/ring (of ")
    assert "first at row 11" in str(err.value)


@pytest.mark.parametrize("asset, dtype", [("color", np.float32), ("normal", np.float32)])
def test_scannet_colour_or_normal_nan_names_the_npy(tmp_path, asset, dtype):
    arrays = scannet_scene(120, 0)
    arrays[asset] = arrays[asset].astype(dtype)
    arrays[asset][[5, 6], 1] = [np.nan, -np.inf]
    folder = str(tmp_path / "train" / "scene0000_00")
    write_scene_npy(folder, **arrays)
    with pytest.raises(ValueError) as err:
        ScanNetDataset(data_root=str(tmp_path), split="train")[0]
    assert str(err.value) == (
        f"{os.path.join(folder, asset + '.npy')}: 2 points with NaN/Inf '{asset}' (of 120, first at row 5)"
    )


def test_waymo_strength_inf_names_the_npy(tmp_path):
    rng = np.random.default_rng(0)
    folder = str(tmp_path / "training" / "segment-1" / "100")
    strength = rng.uniform(0, 1, (80, 2)).astype(np.float32)
    strength[40, 1] = np.inf
    coord = rng.uniform(-50, 50, (80, 3)).astype(np.float32)
    write_scene_npy(folder, coord=coord, strength=strength, segment=rng.integers(-1, 22, 80).astype(np.int32))
    with pytest.raises(ValueError) as err:
        WaymoDataset(data_root=str(tmp_path), split="training")[0]
    assert (
        str(err.value)
        == f"{os.path.join(folder, 'strength.npy')}: 1 points with NaN/Inf 'strength' (of 80, first at row 40)"
    )


# ---------------------------------------------------------------------------------------------
# 2. implausible coordinate magnitudes


def test_coord_limit_boundary():
    data = dict(coord=np.array([[COORD_LIMIT, -COORD_LIMIT, 0.0]], dtype=np.float64))
    validate_points(data, "scan.bin")  # the bound itself passes
    data["coord"][0, 2] = np.nextafter(COORD_LIMIT, np.inf)
    with pytest.raises(ValueError, match=r"scan\.bin: 1 points with a coordinate beyond \+-100000 m"):
        validate_points(data, "scan.bin")
    assert COORD_LIMIT == 1e5


def test_kitti_huge_coordinates_name_the_file(tmp_path):
    points = kitti_scan(60, 2)
    points[17, 0] = 1e30
    path = write_kitti(tmp_path, "000000", points)
    with pytest.raises(ValueError) as err:
        SemanticKITTIDataset(str(tmp_path), split="00")[0]
    msg = str(err.value)
    assert msg.startswith(
        f"{path}: 1 points with a coordinate beyond +-100000 m (of 60, first at row 17: (1e+30, "
    )
    assert "corrupt, misread or not in metres" in msg


def test_nuscenes_sweep_and_scene_npy_huge_coordinates_name_the_file(tmp_path):
    key, sweep = nusc_points(100, 3), nusc_points(100, 4)
    sweep[3, 2] = -1e30
    _, sweep_path, _ = write_nuscenes(str(tmp_path / "nusc"), key, sweep)
    with pytest.raises(ValueError, match=re.escape(sweep_path) + r": 1 points with a coordinate beyond"):
        nusc_dataset(tmp_path / "nusc", sweeps=2)[0]
    arrays = scannet_scene(30, 1)
    arrays["coord"][29] = [2e6, 0, 0]
    folder = str(tmp_path / "scannet" / "train" / "scene0000_00")
    write_scene_npy(folder, **arrays)
    with pytest.raises(ValueError, match=re.escape(os.path.join(folder, "coord.npy")) + ": 1 points with a"):
        ScanNetDataset(data_root=str(tmp_path / "scannet"), split="train")[0]


# ---------------------------------------------------------------------------------------------
# 3./4. nuScenes files in another column layout


def test_nuscenes_four_column_sweep_is_not_misread(tmp_path):
    # 100 points x 4 float32 = 1600 bytes, a multiple of 20: it reads as 80 shifted 5-column rows.
    key, sweep = nusc_points(100, 5), nusc_points(100, 6)[:, :4]
    _, sweep_path, _ = write_nuscenes(str(tmp_path), key, sweep)
    ds = nusc_dataset(tmp_path, sweeps=2)
    with pytest.raises(ValueError) as err:
        ds[0]
    msg = str(err.value)
    assert msg.startswith(f"{sweep_path}: ") and "points with intensity outside 0..255" in msg
    assert msg.endswith("this file has another column count or layout")
    assert nusc_dataset(tmp_path, sweeps=1)[0]["coord"].shape == (100, 3)  # the keyframe alone is fine


REAL_SWEEP = os.path.join(
    REAL_DATA,
    "nuscenes",
    "sweeps",
    "LIDAR_TOP",
    "n008-2018-08-01-15-16-36-0400__LIDAR_TOP__1533151603597909.pcd.bin",
)


@pytest.mark.skipif(not os.path.isfile(REAL_SWEEP), reason=f"real nuScenes sweep not found at {REAL_SWEEP}")
def test_real_sweep_without_ring_column_is_refused(tmp_path):
    real = read_pcd_bin(REAL_SWEEP)
    assert real.shape == (34752, 5)  # the real file itself passes every check
    path = str(tmp_path / "sweep.pcd.bin")
    real[:34750, :4].tofile(path)  # 34750 x 16 bytes divides by 20
    with pytest.raises(ValueError, match=re.escape(path) + r": \d+ points with intensity outside 0\.\.255"):
        read_pcd_bin(path)


@pytest.mark.parametrize("n", [100, 101])
def test_nuscenes_four_column_labelled_keyframe_blames_the_point_file(tmp_path, n):
    key = nusc_points(n, 7)[:, :4]
    key_path, _, seg_path = write_nuscenes(str(tmp_path), key, labels=np.full(n, 24))
    with pytest.raises(ValueError) as err:
        nusc_dataset(tmp_path)[0]
    msg = str(err.value)
    assert msg.startswith(f"{key_path}: ") and seg_path not in msg
    if n % 5:  # 1616 bytes: not a whole number of 20-byte rows
        assert msg == (
            f"{key_path}: truncated or not 5 float32 columns per point (x, y, z, intensity, ring): 1616 bytes "
            "is not a multiple of 20; the size fits rows of 4 float32"
        )
    else:
        assert "another column count" in msg


def test_nuscenes_label_count_mismatch_names_both_files(tmp_path):
    key_path, _, seg_path = write_nuscenes(str(tmp_path), nusc_points(100, 8), labels=np.full(125, 24))
    with pytest.raises(ValueError) as err:
        nusc_dataset(tmp_path)[0]
    assert str(err.value) == (
        f"{seg_path}: 125 labels for a scan of 100 points ({key_path}, 5 float32 columns per point); "
        "at 4 columns per point that file would hold 125 points"
    )


# ---------------------------------------------------------------------------------------------
# 5. ScanNet meshes


def test_scannet_mesh_without_colour_names_file_and_property(tmp_path):
    scene_dir = tmp_path / "scene0000_00"
    scene_dir.mkdir()
    mesh = str(scene_dir / "scene0000_00_vh_clean_2.ply")
    write_ply(mesh, *square_mesh(("x", "y", "z")))
    with pytest.raises(ValueError) as err:
        convert_scene(str(scene_dir), "scene0000_00", None)
    assert str(err.value) == f"{mesh}: PLY element 'vertex' has no 'red' property (properties: x, y, z)"


def test_scannet_face_index_out_of_range_names_file_and_range(tmp_path):
    scene_dir = tmp_path / "scene0000_00"
    scene_dir.mkdir()
    mesh = str(scene_dir / "scene0000_00_vh_clean_2.ply")
    vertex, faces = square_mesh()
    faces[1, 2] = 9
    write_ply(mesh, vertex, faces)
    with pytest.raises(ValueError) as err:
        convert_scene(str(scene_dir), "scene0000_00", None)
    assert str(err.value) == (
        f"{mesh}: 1 of 2 faces index a vertex outside 0..3 (the mesh has 4 vertices; face indices range 0..9)"
    )


def test_scannet_labels_ply_without_label_names_file(tmp_path):
    scene_dir = tmp_path / "scene0000_00"
    scene_dir.mkdir()
    write_ply(str(scene_dir / "scene0000_00_vh_clean_2.ply"), *square_mesh())
    labels = str(scene_dir / "scene0000_00_vh_clean_2.labels.ply")
    write_ply(labels, *square_mesh())
    with pytest.raises(
        ValueError, match=re.escape(labels) + ": PLY element 'vertex' has no 'label' property"
    ):
        convert_scene(str(scene_dir), "scene0000_00", None)
    write_ply(labels, *square_mesh(("x", "y", "z", "red", "green", "blue", "label")))
    assert convert_scene(str(scene_dir), "scene0000_00", None)["segment20"].shape == (4,)


# ---------------------------------------------------------------------------------------------
# 6. a directory where a label file belongs


def test_kitti_label_directory_is_named_as_such(tmp_path):
    write_kitti(tmp_path, "000000", kitti_scan(40, 3))
    label = os.path.join(tmp_path, "dataset", "sequences", "00", "labels", "000000.label")
    os.makedirs(label)
    with pytest.raises(ValueError) as err:
        SemanticKITTIDataset(str(tmp_path), split="00")[0]
    assert str(err.value) == f"{label} is a directory, not a label file"


def test_nuscenes_and_scannet_label_directories_are_named_as_such(tmp_path):
    _, _, seg_path = write_nuscenes(str(tmp_path / "nusc"), nusc_points(30, 9), labels=np.zeros(30))
    os.remove(seg_path)
    os.makedirs(seg_path)
    with pytest.raises(ValueError) as err:
        nusc_dataset(tmp_path / "nusc")[0]
    assert str(err.value) == f"{seg_path} is a directory, not a lidarseg label file"
    arrays = scannet_scene(30, 2)
    del arrays["segment20"]
    folder = str(tmp_path / "scannet" / "train" / "scene0000_00")
    write_scene_npy(folder, **arrays)
    os.makedirs(os.path.join(folder, "segment20.npy"))
    with pytest.raises(ValueError) as err:
        ScanNetDataset(data_root=str(tmp_path / "scannet"), split="train")[0]
    assert str(err.value) == f"{os.path.join(folder, 'segment20.npy')} is a directory, not a .npy file"


# ---------------------------------------------------------------------------------------------
# on_error="skip" treats the new errors like the coordinate errors


def test_skip_counts_every_new_kind_of_bad_file(tmp_path, caplog):
    nan_feat, huge = kitti_scan(20, 0), kitti_scan(21, 1)
    nan_feat[2, 3] = np.nan
    huge[0, 1] = 1e30
    paths = [write_kitti(tmp_path, "000000", nan_feat), write_kitti(tmp_path, "000001", huge)]
    write_kitti(tmp_path, "000002", kitti_scan(22, 2))
    os.makedirs(os.path.join(tmp_path, "dataset", "sequences", "00", "labels", "000002.label"))
    write_kitti(tmp_path, "000003", kitti_scan(23, 3), np.full(23, 48))
    ds = SemanticKITTIDataset(str(tmp_path), split="00", on_error="skip")
    with caplog.at_level(logging.WARNING):
        data = ds[0]
    assert data["name"] == "00_000003" and len(data["coord"]) == 23 and (data["segment"] == 10).all()
    assert ds.num_skipped == 3
    for path in paths:
        assert path in caplog.text
    assert "NaN/Inf 'strength'" in caplog.text and "beyond +-100000 m" in caplog.text
    assert "000002.label is a directory, not a label file" in caplog.text


# ---------------------------------------------------------------------------------------------
# the CLI: tools/test.py on demo scans with NaN remission must fail naming the file, not exit 0


def test_tools_test_refuses_nan_remission(tmp_path):
    from pointcept.engines import save_checkpoint
    from pointcept.models.builder import build_model
    from pointcept.utils.config import load_config

    data = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=ROOT)
    gen = [sys.executable, "tools/generate_demo_data.py", "--out", str(data), "--sequences", "08",
           "--scans-per-seq", "1", "--beams", "16", "--azimuth-steps", "256"]  # fmt: skip
    subprocess.run(gen, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    scan = data / "dataset" / "sequences" / "08" / "velodyne" / "000000.bin"
    points = np.fromfile(scan, dtype=np.float32).reshape(-1, 4)
    points[::10, 3] = np.nan  # hundreds of points
    points.tofile(scan)

    config = os.path.join(ROOT, "configs", "semantic_kitti", "semseg-ptv3-tiny.py")
    cfg = load_config(config)
    weight = str(tmp_path / "model.pth")
    save_checkpoint(weight, dict(model=build_model(cfg.model).state_dict()))
    cmd = [sys.executable, "tools/test.py", "--config-file", config, "--options", f"weight={weight}",
           f"save_path={tmp_path / 'out'}", f"data.test.data_root={data}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    n_bad = len(points[::10])
    want = f"{scan} (remission, 4th float32 of each point): {n_bad} points with NaN/Inf 'strength'"
    assert want in output, output[-3000:]
    assert not (tmp_path / "out" / "metrics.json").exists()
