"""GT sampling: the object database (round trip, CLI) and the GTSample transform (no overlaps, ever)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pointcept.datasets import build_dataset
from pointcept.datasets.box_overlap import bev_intersection
from pointcept.datasets.boxes import count_points_in_boxes, points_in_boxes, points_to_box_frame
from pointcept.datasets.gt_database import GTDatabase, box_to_scene, build_gt_database
from pointcept.datasets.gt_sample import GTSample

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["car", "pedestrian", "cyclist"]
SIZES = {0: (4.2, 1.8, 1.6), 1: (0.7, 0.7, 1.8), 2: (1.8, 0.6, 1.7)}


def make_scene(rng, name, n_objects=6, extent=25.0):
    """Ground points plus objects (points on and in their boxes), boxes without BEV overlap."""
    boxes, labels = [], []
    while len(boxes) < n_objects:
        label = int(rng.integers(0, 3))
        lwh = np.array(SIZES[label]) * rng.uniform(0.9, 1.1, 3)
        box = np.array(
            [
                *rng.uniform(-extent, extent, 2),
                lwh[2] / 2,
                *lwh,
                rng.uniform(-np.pi, np.pi),
                *rng.normal(0, 2, 2),
            ]
        )
        if boxes and (bev_intersection(box[None], np.array(boxes)) > 0).any():
            continue
        boxes.append(box)
        labels.append(label if len(boxes) % 5 else -1)  # every 5th box is ignore
    boxes = np.array(boxes, dtype=np.float32)
    ground = np.c_[rng.uniform(-extent - 5, extent + 5, (3000, 2)), rng.normal(0, 0.02, 3000)]
    parts = [ground]
    for box in boxes:
        n = int(rng.integers(3, 60))
        local = rng.uniform(-0.5, 0.5, (n, 3)) * box[3:6] * 0.98
        parts.append(box_to_scene(local, box))
    coord = np.concatenate(parts).astype(np.float32)
    return dict(
        coord=coord,
        strength=rng.uniform(0, 1, (len(coord), 1)).astype(np.float32),
        segment=rng.integers(-1, 5, len(coord)).astype(np.int64),
        gt_boxes=boxes,
        gt_labels=np.array(labels, dtype=np.int64),
        gt_num_points=count_points_in_boxes(coord, boxes),
        name=name,
    )


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    rng = np.random.default_rng(0)
    scenes = [make_scene(rng, f"scene{i}") for i in range(12)]
    path = str(tmp_path_factory.mktemp("db") / "gt_database.npz")
    counts = build_gt_database(iter(scenes), CLASSES, path, min_points=5)
    return scenes, path, counts


def test_box_frame_round_trip():
    rng = np.random.default_rng(1)
    box = np.array([3.0, -2.0, 1.0, 4.0, 2.0, 1.5, 2.2, 0, 0])
    pts = rng.normal(0, 3, (50, 3))
    np.testing.assert_allclose(box_to_scene(points_to_box_frame(pts, box), box), pts, atol=1e-12)


def test_database_round_trip(database):
    scenes, path, counts = database
    db = GTDatabase(path)
    expected = []
    for scene in scenes:
        inside = points_in_boxes(scene["coord"], scene["gt_boxes"])
        for b, label in enumerate(scene["gt_labels"]):
            idx = np.flatnonzero(inside[:, b])
            if label >= 0 and len(idx) >= 5:
                expected.append((scene, b, idx))
    assert len(db) == len(expected) == sum(counts.values()) > 20
    assert counts == {c: sum(CLASSES[s["gt_labels"][b]] == c for s, b, _ in expected) for c in CLASSES}
    assert db.point_keys == ["segment", "strength"]
    for k, (scene, b, idx) in enumerate(expected):
        assert db.source[k] == scene["name"] and db.source_box[k] == b
        assert db.names[k] == CLASSES[scene["gt_labels"][b]] and db.num_points[k] == len(idx)
        np.testing.assert_array_equal(db.boxes[k], scene["gt_boxes"][b])
        obj = db.points(k)
        np.testing.assert_allclose(obj["coord"], scene["coord"][idx], atol=1e-5)
        np.testing.assert_array_equal(obj["strength"], scene["strength"][idx])
        np.testing.assert_array_equal(obj["segment"], scene["segment"][idx])
    # Per-class pools honour the minimum point count.
    cars = db.indices_of("car", min_points=20)
    assert len(cars) and (db.num_points[cars] >= 20).all() and (db.names[cars] == "car").all()


def test_database_errors(tmp_path, database):
    with pytest.raises(ValueError, match="GT database not found"):
        GTDatabase(str(tmp_path / "none.npz"))
    np.savez(tmp_path / "partial.npz", boxes=np.zeros((0, 9)))
    with pytest.raises(ValueError, match="lacks"):
        GTDatabase(str(tmp_path / "partial.npz"))
    scene = make_scene(np.random.default_rng(2), "s")
    odd = dict(scene)
    del odd["strength"]
    with pytest.raises(ValueError, match="per-point keys"):
        build_gt_database([scene, odd], CLASSES, str(tmp_path / "x.npz"))
    with pytest.raises(ValueError, match="no gt_boxes"):
        build_gt_database([{"coord": scene["coord"], "name": "s"}], CLASSES, str(tmp_path / "x.npz"))


def _check_sample(out, scene, db, pasted_from):
    n = len(out["coord"])
    for key in ("strength", "segment"):
        assert len(out[key]) == n
    boxes = out["gt_boxes"]
    m = len(boxes)
    assert len(out["gt_labels"]) == len(out["gt_num_points"]) == m
    inter = bev_intersection(boxes, boxes)
    np.fill_diagonal(inter, 0)
    assert inter.max() <= 1e-9, "overlapping boxes"
    n_old = len(scene["gt_boxes"])
    np.testing.assert_array_equal(boxes[:n_old], scene["gt_boxes"])
    new = boxes[n_old:]
    np.testing.assert_array_equal(out["gt_num_points"], count_points_in_boxes(out["coord"], boxes))
    # The last rows are the pasted objects' points, each inside its box; no scene point stays inside.
    n_pasted = sum(db.num_points[k] for k in pasted_from)
    tail = out["coord"][n - n_pasted :]
    offsets = np.cumsum([0] + [db.num_points[k] for k in pasted_from])
    for j, _k in enumerate(pasted_from):
        assert points_in_boxes(tail[offsets[j] : offsets[j + 1]], new[j : j + 1]).all()
    head_in_new = points_in_boxes(out["coord"][: n - n_pasted], new) if len(new) else np.zeros((0, 0), bool)
    assert not head_in_new.any()


def _pasted_indices(out, scene, db):
    """Database rows of the pasted boxes (boxes are stored verbatim)."""
    new = out["gt_boxes"][len(scene["gt_boxes"]) :]
    return [int(np.flatnonzero((db.boxes == b).all(1))[0]) for b in new]


def test_never_overlaps_and_points_in_boxes(database):
    scenes, path, _ = database
    db = GTDatabase(path)
    groups = {"car": 8, "pedestrian": 6, "cyclist": 6}
    t = GTSample(path, CLASSES, groups, min_points=5)
    rejected = 0
    for seed in range(40):
        scene = make_scene(np.random.default_rng(100 + seed), f"query{seed}", n_objects=8, extent=12.0)
        np.random.seed(seed)
        out = t({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in scene.items()})
        pasted = _pasted_indices(out, scene, db)
        _check_sample(out, scene, db, pasted)
        for c, name in enumerate(CLASSES):
            have = int((out["gt_labels"] == c).sum())
            before = int((scene["gt_labels"] == c).sum())
            assert have <= max(groups[name], before)
            wanted = max(groups[name] - before, 0)
            rejected += min(wanted, len(t._pools[name])) - (have - before)
        np.testing.assert_array_equal(
            out["gt_labels"][len(scene["gt_labels"]) :], [CLASSES.index(db.names[k]) for k in pasted]
        )
    # In a 24 m square most candidates collide: the test must have exercised the rejection.
    assert rejected > 40


def test_deterministic_given_the_seed(database):
    _, path, _ = database
    scene = make_scene(np.random.default_rng(7), "q")
    t = GTSample(path, CLASSES, {"car": 10, "pedestrian": 5})
    outs = []
    for seed in (3, 3, 4):
        np.random.seed(seed)
        outs.append(t(dict(scene)))
    np.testing.assert_array_equal(outs[0]["coord"], outs[1]["coord"])
    np.testing.assert_array_equal(outs[0]["gt_boxes"], outs[1]["gt_boxes"])
    assert len(outs[0]["gt_boxes"]) > len(scene["gt_boxes"])
    assert not np.array_equal(outs[0]["gt_boxes"], outs[2]["gt_boxes"])


def test_same_source_excluded_and_p(database):
    scenes, path, _ = database
    db = GTDatabase(path)
    scene = dict(scenes[0], gt_boxes=np.zeros((0, 9), np.float32), gt_labels=np.zeros(0, np.int64))
    t = GTSample(path, CLASSES, {"car": 100, "pedestrian": 100, "cyclist": 100}, min_points=1)
    np.random.seed(0)
    out = t(scene)
    assert len(out["gt_boxes"]) > 0
    assert all(db.source[k] != scenes[0]["name"] for k in _pasted_indices(out, scene, db))
    never = GTSample(path, CLASSES, {"car": 5}, p=0.0)
    assert never(dict(scenes[1]))["gt_boxes"].shape == scenes[1]["gt_boxes"].shape


def test_errors(database, tmp_path):
    _, path, _ = database
    with pytest.raises(ValueError, match=r"classes \['truck'\] are not in class_names"):
        GTSample(path, CLASSES, {"truck": 2})
    t = GTSample(path, CLASSES, {"car": 3})
    scene = make_scene(np.random.default_rng(5), "e")
    scene["normal"] = np.zeros_like(scene["coord"])
    with pytest.raises(ValueError, match=r"per-point keys \['normal'\]"):
        t(scene)
    with pytest.raises(ValueError, match="before ToTensor"):
        t(dict(make_scene(np.random.default_rng(5), "e"), coord=torch.zeros(3, 3)))
    with pytest.raises(ValueError, match="has no 'gt_boxes'"):
        t({"coord": scene["coord"]})
    with pytest.raises(ValueError, match="GT database not found"):
        GTSample(str(tmp_path / "missing.npz"), CLASSES, {"car": 1})(
            make_scene(np.random.default_rng(6), "m")
        )


def _write_waymo_frames(root, rng, n_frames=4):
    type_of = {0: 1, 1: 2, 2: 4}
    for i in range(n_frames):
        scene = make_scene(rng, f"f{i}", n_objects=5)
        folder = os.path.join(root, "training", "segment-1", f"{1000 + i}")
        os.makedirs(folder)
        np.save(os.path.join(folder, "coord.npy"), scene["coord"])
        np.save(os.path.join(folder, "strength.npy"), scene["strength"])
        np.save(os.path.join(folder, "segment.npy"), np.clip(scene["segment"], -1, 21))
        np.save(os.path.join(folder, "gt_boxes.npy"), scene["gt_boxes"])
        np.save(
            os.path.join(folder, "gt_type.npy"),
            np.array([type_of.get(int(x), 3) for x in scene["gt_labels"]], np.int8),
        )
        np.save(os.path.join(folder, "gt_num_points.npy"), scene["gt_num_points"])


def test_cli_builds_database_and_pipeline_uses_it(tmp_path):
    root = str(tmp_path / "waymo")
    _write_waymo_frames(root, np.random.default_rng(11))
    config = tmp_path / "det.py"
    config.write_text(
        f"data = dict(train=dict(type='WaymoDataset', data_root={root!r}, split='training', box_classes=['vehicle', 'pedestrian', 'cyclist'],\n"
        "                       transform=[dict(type='GridSample', grid_size=0.1)]))\n"
    )
    out = str(tmp_path / "db" / "gt.npz")
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.join(REPO, "tools", "build_gt_database.py"), "--config-file", str(config),
           "--out", out, "--min-points", "3"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    db = GTDatabase(out)
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"{len(db)} objects from 4 scans -> {out}"
    for name in ("vehicle", "pedestrian", "cyclist"):
        assert f"{name}: {int((db.names == name).sum())}" in lines
    assert len(db) > 5 and "scan" in proc.stderr  # tqdm progress on stderr
    assert db.point_keys == ["segment", "strength"]

    # The database feeds GTSample in a dataset pipeline; boxes and points stay consistent after it.
    ds = build_dataset(dict(type="WaymoDataset", data_root=root, split="training", box_classes=["vehicle", "pedestrian", "cyclist"],
                            transform=[dict(type="GTSample", db_path=out, class_names=["vehicle", "pedestrian", "cyclist"],
                                            sample_groups={"vehicle": 6, "pedestrian": 4}, min_points=3)]))  # fmt: skip
    np.random.seed(0)
    sample = ds[0]
    assert len(sample["gt_boxes"]) > len(ds.get_data(0)["gt_boxes"])
    np.testing.assert_array_equal(
        sample["gt_num_points"], count_points_in_boxes(sample["coord"], sample["gt_boxes"])
    )

    bad = subprocess.run(
        cmd[:3] + [str(config), "--out", out, "--split", "val"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 1 and "no data.val dataset" in bad.stderr
