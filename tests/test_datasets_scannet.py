import logging
import os

import numpy as np
import pytest
from real_data import real_path, skip_unless_real

from pointcept.datasets import ScanNet200Dataset, ScanNetDataset, build_dataset
from pointcept.datasets.label_maps import (
    SCANNET20_CLASS_NAMES,
    SCANNET20_LUT,
    SCANNET200_CLASS_NAMES,
    SCANNET200_VALID_IDS,
    apply_lut,
)
from pointcept.datasets.preprocessing.normals import estimate_normals

SCANNET = real_path("scannet", "scannet_train_instance_data")
SCENES = {"scene0000_00": 81369, "scene0000_01": 80583, "scene0000_02": 86001}
needs_real = skip_unless_real("scannet", "scannet_train_instance_data")


def votenet_to_layout(src_dir: str, scene: str, dst_root: str, split: str = "train") -> str:
    """Write one VoteNet/mmdet3d scene (``*_vert_all.npy`` x,y,z,r,g,b; NYU40 ``*_sem_label_all.npy``;
    ``*_ins_label_all.npy`` with 0 = none) in our per-scene layout. The arrays have no faces, so
    normals come from voxel PCA (``estimate_normals``)."""
    vert = np.load(os.path.join(src_dir, f"{scene}_vert_all.npy"))
    sem = np.load(os.path.join(src_dir, f"{scene}_sem_label_all.npy"))
    ins = np.load(os.path.join(src_dir, f"{scene}_ins_label_all.npy")).astype(np.int64)
    dst = os.path.join(dst_root, split, scene)
    os.makedirs(dst)
    coord = vert[:, :3].astype(np.float32)
    np.save(os.path.join(dst, "coord.npy"), coord)
    np.save(os.path.join(dst, "color.npy"), vert[:, 3:6].astype(np.uint8))
    np.save(os.path.join(dst, "normal.npy"), estimate_normals(coord, voxel_size=0.05))
    np.save(os.path.join(dst, "segment20.npy"), apply_lut(sem, SCANNET20_LUT).astype(np.int32))
    np.save(os.path.join(dst, "instance.npy"), (ins - 1).astype(np.int32))
    return dst


def test_class_tables():
    assert len(SCANNET200_VALID_IDS) == len(set(SCANNET200_VALID_IDS)) == 200
    assert len(SCANNET200_CLASS_NAMES) == len(set(SCANNET200_CLASS_NAMES)) == 200
    # Spot checks against scannet200_constants.py / the combined tsv.
    ids = dict(zip(SCANNET200_CLASS_NAMES, SCANNET200_VALID_IDS))
    assert (ids["wall"], ids["chair"], ids["floor"], ids["toilet"], ids["mattress"]) == (1, 2, 3, 17, 1191)
    assert SCANNET20_CLASS_NAMES[4] == "chair" and SCANNET20_CLASS_NAMES[-1] == "otherfurniture"
    nyu = np.array([1, 2, 5, 13, 14, 15, 39, 40, 0])
    np.testing.assert_array_equal(apply_lut(nyu, SCANNET20_LUT), [0, 1, 4, -1, 12, -1, 19, -1, -1])


@needs_real
def test_real_scenes_through_reader(tmp_path):
    for scene in SCENES:
        votenet_to_layout(SCANNET, scene, str(tmp_path))
    ds = ScanNetDataset(data_root=str(tmp_path), split="train")
    assert len(ds) == 3
    for i, (scene, n) in enumerate(SCENES.items()):
        data = ds.get_data(i)
        assert data["name"] == scene and data["coord"].shape == (n, 3)
        assert data["color"].dtype == np.float32 and 0 <= data["color"].min() and data["color"].max() <= 1
        np.testing.assert_allclose(np.linalg.norm(data["normal"], axis=1), 1.0, atol=1e-4)
    data = ds.get_data(0)
    hist = {
        SCANNET20_CLASS_NAMES[c] if c >= 0 else "ignore": n
        for c, n in zip(*np.unique(data["segment"], return_counts=True))
    }
    # From the NYU40 histogram of scene0000_00 (SOURCES.md): ids outside the 20 classes are ignored.
    assert hist == {
        "wall": 13899, "floor": 10234, "cabinet": 9809, "bed": 2954, "sofa": 5099, "table": 4479,
        "door": 1414, "window": 824, "counter": 462, "desk": 1897, "curtain": 5519, "refrigerator": 1404,
        "toilet": 454, "sink": 362, "otherfurniture": 642,
        "ignore": 4357 + 4173 + 269 + 151 + 2509 + 521 + 558 + 2049 + 7330,
    }  # fmt: skip
    # Normals are geometry, not noise: floors face up, walls are horizontal-facing.
    floor, wall = data["segment"] == 1, data["segment"] == 0
    assert np.median(data["normal"][floor, 2]) > 0.95
    assert np.median(np.abs(data["normal"][wall, 2])) < 0.1
    # The whole pipeline to a collated training sample works on the real scan.
    ds_t = build_dataset(
        dict(type="ScanNetDataset", data_root=str(tmp_path), split="train",
             transform=[dict(type="GridSample", grid_size=0.05, mode="train", return_grid_coord=True),
                        dict(type="ToTensor"),
                        dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "color", "normal"))])
    )  # fmt: skip
    np.random.seed(0)
    sample = ds_t[1]
    assert sample["feat"].shape[1] == 9 and 5000 < len(sample["coord"]) < SCENES["scene0000_01"]


def _scene(root, split, name, n, rng, seg20=True, seg200=True, **override):
    dst = os.path.join(root, split, name)
    os.makedirs(dst)
    arrays = dict(
        coord=rng.uniform(0, 4, (n, 3)).astype(np.float32),
        color=rng.integers(0, 256, (n, 3)).astype(np.uint8),
        normal=np.tile(np.array([0, 0, 1], np.float32), (n, 1)),
        instance=rng.integers(-1, 5, n).astype(np.int32),
    )
    if seg20:
        arrays["segment20"] = rng.integers(-1, 20, n).astype(np.int32)
    if seg200:
        arrays["segment200"] = rng.integers(-1, 200, n).astype(np.int32)
    arrays.update(override)
    for k, v in arrays.items():
        if v is not None:
            np.save(os.path.join(dst, f"{k}.npy"), v)
    return arrays


def test_scannet200_reader_and_prediction(tmp_path):
    rng = np.random.default_rng(0)
    a = _scene(str(tmp_path), "val", "scene0100_00", 300, rng)
    _scene(str(tmp_path), "test", "scene0707_00", 200, rng, seg20=False, seg200=False)
    ds = ScanNet200Dataset(data_root=str(tmp_path), split="val")
    d = ds.get_data(0)
    np.testing.assert_array_equal(d["segment"], a["segment200"])
    np.testing.assert_allclose(d["color"], a["color"] / 255.0, rtol=1e-6)
    assert ds.num_classes == 200 and d["segment"].dtype == np.int64
    d20 = ScanNetDataset(data_root=str(tmp_path), split="val").get_data(0)
    np.testing.assert_array_equal(d20["segment"], a["segment20"])
    # Test scenes have no labels: all ignore.
    test = ScanNet200Dataset(data_root=str(tmp_path), split=["test"])
    assert (test.get_data(0)["segment"] == -1).all()
    pred = rng.integers(0, 200, 300)
    out = ds.save_prediction(pred, "scene0100_00", str(tmp_path / "pred"))
    np.testing.assert_array_equal(np.loadtxt(out, dtype=np.int64), np.array(SCANNET200_VALID_IDS)[pred])


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(segment20=np.full(50, 20, np.int32)), r"segment20\.npy: label 20 outside -1\.\.19"),
        (dict(normal=None), r"normal\.npy: required file missing"),
        (dict(color=np.zeros((49, 3), np.uint8)), r"color\.npy: 49 rows for a scan of 50 points"),
        (dict(coord=np.zeros((50, 2), np.float32)), r"coord\.npy: expected shape \(N, 3\)"),
        (dict(coord=np.full((50, 3), np.inf, np.float32)), r"coord\.npy: 50 points with NaN/Inf"),
    ],
)
def test_bad_scene_errors_name_the_file(tmp_path, override, message):
    rng = np.random.default_rng(1)
    _scene(str(tmp_path), "train", "scene0001_00", 50, rng, **override)
    ds = ScanNetDataset(data_root=str(tmp_path), split="train")
    with pytest.raises(ValueError, match=message):
        ds[0]


def test_skip_and_count(tmp_path, caplog):
    rng = np.random.default_rng(2)
    _scene(str(tmp_path), "train", "scene0001_00", 50, rng, segment20=np.full(50, 99, np.int32))
    _scene(str(tmp_path), "train", "scene0002_00", 60, rng)
    ds = ScanNetDataset(data_root=str(tmp_path), split="train", on_error="skip")
    with caplog.at_level(logging.WARNING):
        names = [ds[i]["name"] for i in range(2)]
    assert names == ["scene0002_00", "scene0002_00"] and ds.num_skipped == 1
    with pytest.raises(ValueError, match="split folder not found"):
        ScanNetDataset(data_root=str(tmp_path), split="val")


def test_estimate_normals_on_planes():
    rng = np.random.default_rng(3)
    floor = np.c_[rng.uniform(0, 2, (3000, 2)), np.zeros(3000)]
    wall = np.c_[np.zeros(3000), rng.uniform(0, 2, 3000), rng.uniform(0.2, 2, 3000)]
    pts = np.concatenate([floor, wall]) + rng.normal(0, 1e-3, (6000, 3))
    n = estimate_normals(pts, voxel_size=0.1, orient_to=np.array([1.0, 1.0, 1.0]))
    assert np.median(n[:3000, 2]) > 0.99  # floor faces the interior (+z)
    assert np.median(n[3000:, 0]) > 0.99  # wall at x=0 faces +x
