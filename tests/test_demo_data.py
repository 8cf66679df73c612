import ast
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from pointcept.datasets import SemanticKITTIDataset
from pointcept.datasets.label_maps import SEMANTIC_KITTI_LEARNING_MAP, SEMANTIC_KITTI_RAW_NAMES
from tools.demo_data import Scene, SensorConfig, generate_sequence, raycast, write_semantic_kitti
from tools.demo_data.materials import BUILDING, ROAD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(beams=32, azimuth_steps=256)


def _exact_sensor(**kw):
    return SensorConfig(range_noise=1e-9, dropout=0.0, outlier_rate=0.0, **kw)


def _flat(label=ROAD):
    return lambda x, y: np.full(len(x), label, dtype=np.int64)


def _cast(scene, sensor, position=(0.0, 0.0, 1.73), yaw=0.0):
    points, labels = raycast(scene, position, yaw, sensor, np.random.default_rng(0))
    return points, labels & 0xFFFF, labels >> 16


def test_raycast_primitives_are_exact():
    sensor = _exact_sensor(beams=64, azimuth_steps=512)
    scene = Scene(_flat(), layout=None)
    scene.add_box((12.0, 0.0, 3.0), (2.0, 6.0, 6.0), label=BUILDING, instance=0)
    scene.add_cylinder(0.0, 8.0, 0.0, 3.0, 0.5, label=80, instance=0)
    scene.add_ellipsoid((-10.0, 0.0, 2.0), (1.0, 2.0, 1.5), label=70)
    points, sem, _ = _cast(scene, sensor)
    xyz = points[:, :3].astype(np.float64) + [0, 0, 1.73]  # back to the world frame
    face = xyz[sem == BUILDING]
    assert len(face) > 100
    np.testing.assert_allclose(face[:, 0], 11.0, atol=1e-3)  # the near face of the box
    pole = xyz[sem == 80]
    np.testing.assert_allclose(np.hypot(pole[:, 0], pole[:, 1] - 8.0), 0.5, atol=1e-3)
    crown = xyz[sem == 70]
    q = ((crown - [-10.0, 0.0, 2.0]) / [1.0, 2.0, 1.5]) ** 2
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-3)
    ground = xyz[sem == ROAD]
    np.testing.assert_allclose(ground[:, 2], 0.0, atol=1e-4)
    # nothing behind the box along its direction: no ground point hides behind the facade
    behind = (ground[:, 0] > 11.0) & (np.abs(ground[:, 1]) < 2.0)
    assert not behind.any()


def test_sensor_validation():
    with pytest.raises(ValueError, match="beams"):
        SensorConfig(beams=1)
    with pytest.raises(ValueError, match="min_range"):
        SensorConfig(min_range=100.0)
    el = np.rad2deg(SensorConfig().elevations())
    assert len(el) == 64 and el[0] == pytest.approx(2.0) and el[-1] == pytest.approx(-24.8)
    assert np.all(np.diff(el) < 0)


def test_generated_scans_geometry():
    sensor = SensorConfig()
    scans = generate_sequence(3, 2, sensor)
    for points, labels in scans:
        assert points.dtype == np.float32 and points.shape[1] == 4 and labels.dtype == np.uint32
        assert 45000 < len(points) < 65000
        sem = labels & 0xFFFF
        rng = np.linalg.norm(points[:, :3], axis=1)
        assert rng.max() <= sensor.max_range + 0.2 and rng.min() >= sensor.min_range - 0.2
        road = points[sem == ROAD]
        assert np.median(road[:, 2]) == pytest.approx(-1.73, abs=0.01)
        assert np.abs(road[:, 2] + 1.73).max() < 0.1
        assert 0.0 <= points[:, 3].min() and points[:, 3].max() < 1.0
        assert (sem[labels >> 16 > 0] != ROAD).all()  # only objects carry instance ids
    # consecutive scans see the same street: many object instances are shared
    shared = np.intersect1d(scans[0][1] >> 16, scans[1][1] >> 16)
    assert len(shared[shared > 0]) >= 5


def test_write_load_deterministic(tmp_path):
    sensor = SensorConfig(**SMALL)
    stats = write_semantic_kitti(str(tmp_path / "a"), {"00": 2, "08": 1}, sensor, seed=5)
    write_semantic_kitti(str(tmp_path / "b"), {"00": 2}, sensor, seed=5)
    write_semantic_kitti(str(tmp_path / "c"), {"00": 2}, sensor, seed=6)
    assert stats["scans"] == 3
    rel = "dataset/sequences/00/velodyne/000001.bin"
    a, b, c = (open(tmp_path / d / rel, "rb").read() for d in "abc")
    assert a == b and a != c
    train = SemanticKITTIDataset(str(tmp_path / "a"), split="train")
    val = SemanticKITTIDataset(str(tmp_path / "a"), split="val")
    assert len(train) == 2 and len(val) == 1 and val[0]["name"] == "08_000000"
    seg = np.concatenate([train[0]["segment"], train[1]["segment"], val[0]["segment"]])
    present = {train.class_names[c] for c in np.unique(seg[seg >= 0])}
    assert {"road", "sidewalk", "building", "vegetation", "car", "trunk"} <= present
    # long tail: road is the most frequent class
    counts = np.bincount(seg[seg >= 0], minlength=19)
    assert counts.argmax() == train.class_names.index("road")


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "generate_demo_data", os.path.join(ROOT, "tools", "generate_demo_data.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path), "--scans-per-seq", "2", "--beams", "16", "--azimuth-steps", "128"])
    assert "wrote 6 scans" in capsys.readouterr().out
    for seq in ("00", "01", "08"):
        assert sorted(os.listdir(tmp_path / "dataset/sequences" / seq / "labels")) == [
            "000000.label",
            "000001.label",
        ]


def test_labels_are_raw_ids_of_the_library_label_map():
    scans = generate_sequence(11, 1, SensorConfig(**SMALL))
    raw = set(np.unique(scans[0][1] & 0xFFFF).tolist())
    assert raw <= set(SEMANTIC_KITTI_RAW_NAMES)
    mapped = {SEMANTIC_KITTI_RAW_NAMES[r] for r in raw if r in SEMANTIC_KITTI_LEARNING_MAP}
    assert {"road", "building", "vegetation", "trunk", "lane-marking"} <= mapped


def test_cli_runs_as_a_script_from_anywhere(tmp_path):
    """``python tools/generate_demo_data.py`` needs no PYTHONPATH to find ``tools.demo_data``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "generate_demo_data.py"), "--out", "demo",
         "--sequences", "5", "--scans-per-seq", "1", "--beams", "8", "--azimuth-steps", "64"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "wrote 1 scans" in out.stdout
    points = np.fromfile(tmp_path / "demo/dataset/sequences/05/velodyne/000000.bin", dtype=np.float32)
    labels = np.fromfile(tmp_path / "demo/dataset/sequences/05/labels/000000.label", dtype=np.uint32)
    assert len(points) == 4 * len(labels) > 0


def test_library_does_not_import_demo_tooling():
    """``tools/`` sits above the library: nothing under ``pointcept/`` may import from it."""
    offenders = []
    for root, _, files in os.walk(os.path.join(ROOT, "pointcept")):
        for name in (f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            for node in ast.walk(ast.parse(open(path).read())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                offenders += [f"{path}:{node.lineno}: {n}" for n in names if n.split(".")[0] == "tools"]
    assert not offenders, offenders
