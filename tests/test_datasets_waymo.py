import logging
import os

import numpy as np
import pytest

from pointcept.datasets import WaymoDataset, build_dataset
from pointcept.datasets.label_maps import WAYMO_CLASS_NAMES


def _frame(root, split, seg, ts, n, rng, **override):
    d = os.path.join(root, split, seg, str(ts))
    os.makedirs(d)
    arrays = dict(
        coord=rng.uniform(-50, 50, (n, 3)).astype(np.float32),
        strength=np.tanh(rng.uniform(0, 3, (n, 1))).astype(np.float32),
        segment=(rng.integers(0, 23, n) - 1).astype(np.int32),  # Pointcept: raw type - 1
        pose=np.eye(4, dtype=np.float32),
    )
    arrays.update(override)
    for k, v in arrays.items():
        if v is not None:
            np.save(os.path.join(d, f"{k}.npy"), v)
    return arrays


def test_reader_layout_and_semantics(tmp_path):
    rng = np.random.default_rng(0)
    a = _frame(str(tmp_path), "training", "segment-1", 100, 500, rng)
    b = _frame(
        str(tmp_path), "training", "segment-1", 200, 400, rng, segment=(rng.integers(0, 23, (400, 1)) - 1)
    )
    _frame(
        str(tmp_path),
        "validation",
        "segment-2",
        300,
        300,
        rng,
        strength=rng.uniform(0, 1, (300, 2)).astype(np.float32),
    )
    _frame(str(tmp_path), "testing", "segment-3", 400, 200, rng, segment=None)
    ds = WaymoDataset(data_root=str(tmp_path), split="training")
    assert (
        len(ds) == 2
        and ds.num_classes == 22
        and WAYMO_CLASS_NAMES[0] == "car"
        and WAYMO_CLASS_NAMES[-1] == "sidewalk"
    )
    d0, d1 = ds.get_data(0), ds.get_data(1)
    assert d0["name"] == "segment-1_100" and d1["name"] == "segment-1_200"
    np.testing.assert_array_equal(d0["segment"], a["segment"])  # TYPE_UNDEFINED already -1 on disk
    np.testing.assert_array_equal(d1["segment"], b["segment"][:, 0])  # (N, 1) labels are flattened
    assert d0["strength"].shape == (500, 1) and d0["segment"].dtype == np.int64
    both = WaymoDataset(data_root=str(tmp_path), split=["training", "validation"])
    assert len(both) == 3 and both.get_data(2)["strength"].shape == (300, 2)
    test = WaymoDataset(data_root=str(tmp_path), split="testing").get_data(0)
    assert (test["segment"] == -1).all()

    pipe = build_dataset(
        dict(type="WaymoDataset", data_root=str(tmp_path), split="training",
             transform=[dict(type="GridSample", grid_size=0.05, mode="train", return_grid_coord=True),
                        dict(type="ToTensor"),
                        dict(type="Collect", keys=("coord", "grid_coord", "segment"), feat_keys=("coord", "strength"))])
    )  # fmt: skip
    assert pipe[0]["feat"].shape == (500, 4)

    pred = rng.integers(0, 22, 500)
    out = ds.save_prediction(pred, "segment-1_100", str(tmp_path / "pred"))
    np.testing.assert_array_equal(np.load(out), pred + 1)
    with pytest.raises(ValueError, match="pred values"):
        ds.save_prediction(np.full(5, 22), "segment-1_100", str(tmp_path / "pred"))


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(segment=np.full(50, 22, np.int32)), r"segment\.npy: label 22 outside -1\.\.21"),
        (dict(strength=None), r"strength\.npy: required file missing"),
        (dict(strength=np.zeros(50, np.float32)), r"strength\.npy: expected shape \(N, C\)"),
        (dict(segment=np.zeros(51, np.int32)), r"segment\.npy: 51 rows for a scan of 50 points"),
        (
            dict(coord=np.zeros((0, 3), np.float32), strength=np.zeros((0, 1)), segment=np.zeros(0)),
            "empty point cloud",
        ),
    ],
)
def test_bad_frames_name_the_file(tmp_path, override, message):
    _frame(str(tmp_path), "training", "segment-1", 100, 50, np.random.default_rng(1), **override)
    with pytest.raises(ValueError, match=message):
        WaymoDataset(data_root=str(tmp_path), split="training")[0]


def test_skip_and_count(tmp_path, caplog):
    rng = np.random.default_rng(2)
    coord = rng.uniform(-5, 5, (40, 3)).astype(np.float32)
    coord[3] = np.nan
    _frame(str(tmp_path), "training", "segment-1", 100, 40, rng, coord=coord)
    _frame(str(tmp_path), "training", "segment-1", 200, 30, rng)
    ds = WaymoDataset(data_root=str(tmp_path), split="training", on_error="skip")
    with caplog.at_level(logging.WARNING):
        assert ds[0]["name"] == "segment-1_200"
    assert ds.num_skipped == 1 and "NaN" in caplog.text
    with pytest.raises(ValueError, match="split folder not found"):
        WaymoDataset(data_root=str(tmp_path), split="validation")
