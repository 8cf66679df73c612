"""Waymo detection evaluation inputs: ``WaymoDataset(box_difficulty=True)`` levels, and the Waymo
detection config's val pipeline carrying them through collation into the Waymo metric."""

import os

import numpy as np
import pytest

from pointcept.datasets import WaymoDataset, build_dataset, collate_fn
from pointcept.datasets.preprocessing.waymo_labels import detection_difficulty
from pointcept.engines.det_eval import _split, format_results, score_detections
from pointcept.utils.config import load_config

NAMES = ["vehicle", "pedestrian", "cyclist"]


def write_frame(root, rng, difficulty=True):
    """One frame: points on a street plus dense points inside four boxes (type, raw points, label level)."""
    d = os.path.join(root, "validation", "segment-1_with_camera_labels", "100")
    os.makedirs(d)
    boxes = np.array(
        [
            [10, 0, 0.8, 4.5, 2.0, 1.6, 0.3, 0, 0],  # vehicle, 120 points, labelled L1
            [5, 5, 0.9, 0.8, 0.6, 1.8, 1.0, 0, 0],  # pedestrian, 3 points, unset -> L2
            [-6, 2, 0.9, 1.8, 0.7, 1.7, -1.0, 0, 0],  # cyclist, 40 points, labelled L2
            [-20, -8, 0.8, 4.0, 1.9, 1.5, 2.0, 0, 0],  # vehicle, 60 points, unset -> L1
        ],
        np.float32,
    )
    inside = [b[:3] + rng.uniform(-0.3, 0.3, (200, 3)) * b[3:6] for b in boxes]
    coord = np.concatenate([rng.uniform([-40, -40, -0.2], [40, 40, 0.0], (4000, 3)), *inside]).astype(
        np.float32
    )
    np.save(os.path.join(d, "coord.npy"), coord)
    np.save(os.path.join(d, "strength.npy"), np.full((len(coord), 1), 0.5, np.float32))
    np.save(os.path.join(d, "gt_boxes.npy"), boxes)
    np.save(os.path.join(d, "gt_type.npy"), np.array([1, 2, 4, 1], np.int8))
    np.save(os.path.join(d, "gt_num_points.npy"), np.array([120, 3, 40, 60], np.int64))
    if difficulty:
        np.save(os.path.join(d, "gt_difficulty.npy"), np.array([1, 0, 2, 0], np.int8))
    return d, boxes


def test_detection_difficulty_rule():
    np.testing.assert_array_equal(
        detection_difficulty(np.array([0, 1, 5, 6, 100, 2]), np.array([0, 0, 0, 0, 2, 1])), [2, 2, 2, 1, 2, 1]
    )
    with pytest.raises(ValueError, match=r"0 \(unset\), 1 or 2, got \[3\]"):
        detection_difficulty(np.array([10]), np.array([3]))


def test_reader_difficulty(tmp_path):
    d, _ = write_frame(str(tmp_path), np.random.default_rng(0))
    ds = WaymoDataset(str(tmp_path), split="validation", box_classes=NAMES, box_difficulty=True)
    np.testing.assert_array_equal(ds.get_data(0)["gt_difficulty"], [1, 2, 2, 1])
    assert "gt_difficulty" not in WaymoDataset(str(tmp_path), split="validation", box_classes=NAMES).get_data(
        0
    )
    os.remove(os.path.join(d, "gt_difficulty.npy"))  # no label levels: by points only
    np.testing.assert_array_equal(ds.get_data(0)["gt_difficulty"], [1, 2, 1, 1])
    np.save(os.path.join(d, "gt_difficulty.npy"), np.array([1, 0], np.int8))
    with pytest.raises(ValueError, match=r"gt_difficulty\.npy: shape \(2,\), expected \(4,\)"):
        ds.get_data(0)


def test_waymo_config_val_pipeline_feeds_the_waymo_metric(tmp_path):
    _, boxes = write_frame(str(tmp_path), np.random.default_rng(1))
    cfg = load_config("configs/waymo/det-centerpoint.py")
    assert cfg.test.metric == "waymo" and cfg.data.val.box_difficulty
    val = dict(cfg.data.val, data_root=str(tmp_path))
    batch = collate_fn([build_dataset(val, where="data.val")[0]])
    np.testing.assert_array_equal(batch["gt_difficulty"].numpy(), [1, 2, 2, 1])
    # Predictions = the GT boxes, the cyclist turned by pi (heading accuracy 0).
    pred_boxes = batch["gt_boxes"].clone()
    pred_boxes[2, 6] += np.pi
    out = dict(
        pred_boxes=pred_boxes,
        pred_scores=batch["gt_boxes"].new_tensor([0.9, 0.8, 0.7, 0.6]),
        pred_labels=batch["gt_labels"],
        pred_offset=batch["gt_offset"],
    )
    (gt, pred, name), *_ = _split(batch, out, NAMES)
    assert name == "segment-1_with_camera_labels_100"
    np.testing.assert_array_equal(gt["difficulty"], [1, 2, 2, 1])
    r = score_detections([gt], [pred], NAMES, "waymo")
    assert r["num_gt"] == {
        "vehicle": {"LEVEL_1": 2, "LEVEL_2": 2},
        "pedestrian": {"LEVEL_1": 0, "LEVEL_2": 1},
        "cyclist": {"LEVEL_1": 0, "LEVEL_2": 1},
    }
    assert r["ap"]["3d"]["cyclist"]["LEVEL_2"] == pytest.approx(1.0) and r["aph"]["3d"]["cyclist"][
        "LEVEL_2"
    ] == pytest.approx(0.0, abs=1e-6)
    assert r["mAPH_L2"] == pytest.approx(2 / 3) and r["mAPH_L1"] == pytest.approx(1.0)
    assert "3D APH L2" in format_results(r)
