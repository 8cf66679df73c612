import logging
import os

import numpy as np
import pytest
import torch
from real_data import real_path, skip_unless_real

from pointcept.datasets import SemanticKITTIDataset, build_dataset, collate_fn

KITTI = real_path("semantic_kitti")
KITTI_UNLABELLED = real_path("semantic_kitti_unlabelled")
needs_real = skip_unless_real("semantic_kitti")

# Written by hand from the official semantic-kitti.yaml, independently of the reader's table.
EXPECTED = {
    40: "road",
    60: "road",
    10: "car",
    252: "car",
    44: "parking",
    48: "sidewalk",
    254: "person",
    30: "person",
}
IGNORED = (0, 1, 52, 99)


def _write_scan(root, seq, frame, points, labels=None):
    seq_dir = os.path.join(root, "dataset", "sequences", seq)
    os.makedirs(os.path.join(seq_dir, "velodyne"), exist_ok=True)
    np.asarray(points, dtype=np.float32).tofile(os.path.join(seq_dir, "velodyne", f"{frame}.bin"))
    if labels is not None:
        os.makedirs(os.path.join(seq_dir, "labels"), exist_ok=True)
        np.asarray(labels, dtype=np.uint32).tofile(os.path.join(seq_dir, "labels", f"{frame}.label"))
    return os.path.join(seq_dir, "velodyne", f"{frame}.bin")


def _random_scan(n, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 10, (n, 3)), rng.random((n, 1))], axis=1).astype(np.float32)


def _raw_semantic(path):
    return np.fromfile(path, dtype=np.uint32) & 0xFFFF


@needs_real
@pytest.mark.parametrize("seq", ["00", "08"])
def test_real_scan_histogram_matches_learning_map(seq):
    ds = SemanticKITTIDataset(KITTI, split=seq)
    data = ds[0]
    label_file = os.path.join(KITTI, "dataset", "sequences", seq, "labels", "000000.label")
    raw = _raw_semantic(label_file)
    assert len(raw) == len(data["coord"]) == len(data["strength"]) == len(data["segment"])
    if seq == "00":
        assert len(raw) == 124668
        assert int((raw == 40).sum()) == 34228
    names = ds.class_names
    for cls in set(EXPECTED.values()):
        raw_ids = [r for r, c in EXPECTED.items() if c == cls]
        assert (data["segment"] == names.index(cls)).sum() == np.isin(raw, raw_ids).sum(), cls
    # every point with an ignored raw id is -1, and only those plus ids outside the map
    assert (data["segment"][np.isin(raw, IGNORED)] == -1).all()
    assert data["segment"].min() >= -1 and data["segment"].max() < 19
    assert data["coord"].dtype == np.float32 and data["strength"].shape == (len(raw), 1)
    assert data["name"] == f"{seq}_000000"


@needs_real
def test_real_data_root_levels_and_splits():
    base = SemanticKITTIDataset(KITTI, split="train")
    assert len(base) == 3 and base.get_data_name(2) == "00_000002"
    for root in (os.path.join(KITTI, "dataset"), os.path.join(KITTI, "dataset", "sequences")):
        assert SemanticKITTIDataset(root, split="train").data_list == base.data_list
    assert len(SemanticKITTIDataset(KITTI, split="val")) == 1
    assert len(SemanticKITTIDataset(KITTI, split=8)) == 1
    assert len(SemanticKITTIDataset(KITTI, split="trainval")) == 4
    with pytest.raises(ValueError, match="no scans for split='test'"):
        SemanticKITTIDataset(KITTI, split="test")


@skip_unless_real("semantic_kitti_unlabelled")
def test_real_unlabelled_scans_are_all_ignore():
    ds = SemanticKITTIDataset(KITTI_UNLABELLED, split="trainval")
    assert len(ds) == 7
    for i in (0, 6):
        data = ds[i]
        assert (data["segment"] == -1).all() and len(data["segment"]) > 100000


def test_missing_sequences_folder(tmp_path):
    with pytest.raises(ValueError, match="no 'sequences' folder"):
        SemanticKITTIDataset(str(tmp_path))
    with pytest.raises(ValueError, match="split must be one of"):
        _write_scan(tmp_path, "00", "000000", _random_scan(5, 0))
        SemanticKITTIDataset(str(tmp_path), split="training")


def test_label_decoding_unknown_ids_and_instances(tmp_path):
    semantic = np.array([40, 252, 7, 1000, 65535, 0, 81, 60])
    instance = np.arange(8)
    _write_scan(tmp_path, "00", "000000", _random_scan(8, 1), (instance << 16) | semantic)
    data = SemanticKITTIDataset(str(tmp_path), split="00")[0]
    assert data["segment"].tolist() == [8, 0, -1, -1, -1, -1, 18, 8]
    assert data["instance"].tolist() == instance.tolist()


@pytest.mark.parametrize(
    "problem, match",
    [("truncated", "truncated scan, 166 bytes"), ("mismatch", "9 labels but the scan has 10 points"),
     ("nan", "NaN/Inf"), ("empty", "empty point cloud"), ("label_trunc", "truncated label file")],
)  # fmt: skip
def test_broken_scans_raise_naming_file(tmp_path, problem, match):
    points = _random_scan(10, 2)
    labels = np.full(10, 40)
    if problem == "nan":
        points[3, 1] = np.nan
    elif problem == "mismatch":
        labels = labels[:9]
    elif problem == "empty":
        points, labels = points[:0], labels[:0]
    path = _write_scan(tmp_path, "00", "000000", points, labels)
    if problem == "truncated":
        with open(path, "ab") as f:
            f.write(b"\0" * 6)
    if problem == "label_trunc":
        with open(path.replace("velodyne", "labels").replace(".bin", ".label"), "ab") as f:
            f.write(b"\0")
    ds = SemanticKITTIDataset(str(tmp_path), split="00")
    with pytest.raises(ValueError, match=match) as err:
        ds[0]
    assert "000000." in str(err.value)


def test_on_error_skip_counts_and_warns(tmp_path, caplog):
    for i in range(3):
        _write_scan(tmp_path, "00", f"{i:06d}", _random_scan(20 + i, i), np.full(20 + i, 48))
    with open(os.path.join(tmp_path, "dataset/sequences/00/velodyne/000001.bin"), "ab") as f:
        f.write(b"\0" * 3)
    ds = SemanticKITTIDataset(str(tmp_path), split="00", on_error="skip")
    with caplog.at_level(logging.WARNING):
        data = ds[1]
    assert data["name"] == "00_000002" and len(data["coord"]) == 22
    assert ds.num_skipped == 1 and "000001.bin" in caplog.text
    assert ds[1]["name"] == "00_000002" and ds.num_skipped == 1  # a known-bad sample is not retried
    with pytest.raises(ValueError, match="on_error"):
        SemanticKITTIDataset(str(tmp_path), split="00", on_error="ignore")


def test_save_prediction_roundtrip(tmp_path):
    _write_scan(tmp_path / "data", "08", "000042", _random_scan(19, 3))
    ds = SemanticKITTIDataset(str(tmp_path / "data"), split="val")
    pred = np.arange(19)
    out = ds.save_prediction(pred, "08_000042", str(tmp_path / "pred"))
    assert out == str(tmp_path / "pred" / "sequences" / "08" / "predictions" / "000042.label")
    raw = np.fromfile(out, dtype=np.uint32)
    assert raw.tolist() == [10, 11, 15, 18, 20, 30, 31, 32, 40, 44, 48, 49, 50, 51, 70, 71, 72, 80, 81]
    with pytest.raises(ValueError, match="pred values"):
        ds.save_prediction(np.array([19]), "08_000042", str(tmp_path / "pred"))
    with pytest.raises(ValueError, match="SS_NNNNNN"):
        ds.save_prediction(pred, "scan42", str(tmp_path / "pred"))


def _test_cfg(keys=("coord", "grid_coord", "index")):
    return dict(
        voxelize=dict(type="GridSample", grid_size=1.0, mode="test"),
        post_transform=[
            dict(type="ToTensor"),
            dict(type="Collect", keys=keys, feat_keys=("coord", "strength")),
        ],
        aug_transform=[[], [dict(type="RandomRotateTargetAngle", angle=(1.0,), p=1.0)]],
    )


def test_test_mode_fragments_cover_full_scan(tmp_path):
    np.random.seed(0)
    points = _random_scan(300, 4)
    _write_scan(tmp_path, "08", "000000", points, np.full(300, 44))
    cfg = dict(
        type="SemanticKITTIDataset",
        data_root=str(tmp_path),
        split="val",
        test_mode=True,
        test_cfg=_test_cfg(),
    )
    ds = build_dataset(cfg)
    result = ds[0]
    assert result["name"] == "08_000000" and (result["segment"] == 9).all()
    np.testing.assert_array_equal(result["coord"], points[:, :3])
    frags = result["fragment_list"]
    identity = [torch.equal(f["coord"], torch.from_numpy(points[f["index"].numpy(), :3])) for f in frags]
    assert 0 < sum(identity) < len(frags)  # the second TTA view is rotated
    covered = torch.cat([f["index"] for f in frags]).unique()
    assert covered.tolist() == list(range(300))
    batch = collate_fn(frags[:2])
    assert batch["feat"].shape[1] == 4 and batch["offset"][-1] == len(batch["coord"])


def test_test_mode_detects_dropped_points(tmp_path):
    _write_scan(tmp_path, "08", "000000", _random_scan(100, 5))
    common = dict(data_root=str(tmp_path), split="val", test_mode=True)
    ds = SemanticKITTIDataset(
        transform=[dict(type="PointClip", point_cloud_range=(-5, -5, -5, 5, 5, 5))],
        test_cfg=_test_cfg(),
        **common,
    )
    with pytest.raises(ValueError, match="must not drop points"):
        ds[0]
    ds = SemanticKITTIDataset(test_cfg=_test_cfg(keys=("coord", "grid_coord")), **common)
    with pytest.raises(ValueError, match="keep 'index'"):
        ds[0]


def test_train_pipeline_and_loop(tmp_path):
    np.random.seed(0)
    _write_scan(tmp_path, "00", "000000", _random_scan(400, 6), np.full(400, 70))
    transform = [
        dict(type="Copy", keys_dict={"coord": "origin_coord"}),
        dict(type="RandomRotate", angle=(-1, 1), p=1.0),
        dict(type="GridSample", grid_size=2.0),
        dict(type="ToTensor"),
        dict(
            type="Collect",
            keys=("coord", "origin_coord", "grid_coord", "segment"),
            feat_keys=("coord", "strength"),
        ),
    ]
    ds = SemanticKITTIDataset(str(tmp_path), split="train", transform=transform, loop=3)
    assert len(ds) == 3 and ds.num_classes == 19
    batch = collate_fn([ds[0], ds[1]])
    assert (batch["segment"] == 14).all()
    assert batch["grid_coord"].dtype == torch.int64 and batch["grid_coord"].min() >= 0
    assert batch["offset"].tolist()[-1] == len(batch["coord"]) and batch["name"] == ["00_000000"] * 2
    # a rotation preserves distances between points, measured on coord vs origin_coord
    first = slice(0, int(batch["offset"][0]))
    coord, origin = batch["coord"][first], batch["origin_coord"][first]
    torch.testing.assert_close(
        (coord - coord[0]).norm(dim=1),
        (origin - origin[0]).norm(dim=1),
        atol=1e-3,
        rtol=0,
    )
    assert not torch.allclose(batch["coord"], batch["origin_coord"])
