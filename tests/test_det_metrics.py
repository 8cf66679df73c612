"""nuScenes-style detection metrics on hand-computed cases, filters, the table and the submission JSON
(devkit parity is tests/test_det_metrics_parity.py)."""

import json
import math

import numpy as np
import pytest

from pointcept.engines.det_metrics import (
    DetectionEvalConfig,
    accumulate,
    calc_ap,
    calc_tp,
    evaluate_detections,
    format_detection_table,
    sample_results,
    write_submission,
)

NAMES = ["car", "barrier"]


def box(x, y, yaw=0.0, size=(4.0, 2.0, 1.5), v=(0.0, 0.0)):
    return [x, y, 0.0, *size, yaw, *v]


def sample(boxes, labels, scores=None, **extra):
    out = dict(
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 9), labels=np.array(labels, dtype=np.int64)
    )
    if scores is not None:
        out["scores"] = np.array(scores, dtype=np.float64)
    out.update(extra)
    return out


def test_perfect_predictions():
    gt = [sample([box(10, 0), box(-5, 3, 1.0)], [0, 0]), sample([box(0, 8, 0.3, (0.5, 2.0, 1.0))], [1])]
    pred = [dict(g, scores=np.array([0.9, 0.8][: len(g["labels"])])) for g in gt]
    r = evaluate_detections(gt, pred, DetectionEvalConfig(NAMES, use_attributes=False))
    assert r["class_ap"] == pytest.approx({"car": 1.0, "barrier": 1.0}) and r["mAP"] == pytest.approx(1.0)
    assert r["tp_errors"]["trans_err"] == 0 and r["tp_errors"]["scale_err"] == pytest.approx(0, abs=1e-12)
    assert math.isnan(r["tp"]["barrier"]["vel_err"])  # barrier has no velocity error
    assert "attr_err" not in r["tp_errors"] and r["NDS"] == pytest.approx(1.0)
    # the devkit's default counts the attribute error: without GT attributes it is 1, score 0
    r = evaluate_detections(gt, pred, DetectionEvalConfig(NAMES))
    assert r["tp_errors"]["attr_err"] == 1.0 and r["NDS"] == pytest.approx(0.9)


def test_ap_by_hand():
    # One GT car; a false positive (score 0.9) ranks above the hit (score 0.5, 0.7 m off): the
    # (recall, precision) points are (0, 0) and (1, 1/2), interpolated linearly on the 101 recalls,
    # so AP = mean over recalls r > 0.1 of max(r / 2 - 0.1, 0) / 0.9 above 0.7 m, 0 at 0.5 m.
    gt = [sample([box(10, 0)], [0])]
    pred = [sample([box(30, 0), box(10.7, 0)], [0, 0], [0.9, 0.5])]
    md = accumulate(gt, pred, 0, 1.0)
    r = np.linspace(0, 1, 101)
    np.testing.assert_allclose(md.precision, r / 2)
    expected = float(np.mean(np.clip(r[11:] / 2 - 0.1, 0, None))) / 0.9
    assert calc_ap(md, 0.1, 0.1) == pytest.approx(expected)
    assert calc_tp(md, "trans_err") == pytest.approx(0.7)
    assert calc_ap(accumulate(gt, pred, 0, 0.5), 0.1, 0.1) == 0.0
    r = evaluate_detections(gt, pred, DetectionEvalConfig(["car"]))
    assert r["ap"]["car"] == pytest.approx({0.5: 0.0, 1.0: expected, 2.0: expected, 4.0: expected})


def test_orientation_period_and_scale_error():
    flipped = [sample([box(0, 0, 0.2 + math.pi, (3.0, 2.0, 1.5))], [0], [0.9])]
    for c, expected in ((0, math.pi), (1, 0.0)):  # car: 2 pi period, barrier: pi
        gt = [sample([box(0, 0, 0.2)], [c])]
        pred = [dict(flipped[0], labels=np.array([c]))]
        md = accumulate(gt, pred, c, 2.0, np.pi if c == 1 else 2 * np.pi)
        assert calc_tp(md, "orient_err") == pytest.approx(expected, abs=1e-9)
        # aligned IoU of 3x2x1.5 in 4x2x1.5: 9 / 12
        assert calc_tp(md, "scale_err") == pytest.approx(0.25)


def test_filters_empty_gt_and_class_range():
    gt = [sample([box(10, 0), box(45, 0), box(20, 0)], [0, 0, 0], num_points=np.array([5, 5, 0]))]
    pred = [sample([box(10, 0), box(45, 0)], [0, 0], [0.9, 0.8])]
    r = evaluate_detections(gt, pred, DetectionEvalConfig(["car"], use_attributes=False))
    assert r["num_gt"]["car"] == 2 and r["class_ap"]["car"] == pytest.approx(
        1.0
    )  # the 0-point box is not a miss
    r = evaluate_detections(gt, pred, DetectionEvalConfig(["car"], class_range={"car": 40}))
    assert (
        r["num_gt"]["car"] == 1 and r["num_pred"]["car"] == 1 and r["class_ap"]["car"] == pytest.approx(1.0)
    )
    with pytest.raises(ValueError, match="same samples"):
        evaluate_detections(gt, [], DetectionEvalConfig(["car"]))


def test_table_lists_classes_and_summary():
    gt = [sample([box(10, 0)], [0])]
    pred = [sample([box(10.2, 0)], [0], [0.9])]
    text = format_detection_table(
        evaluate_detections(gt, pred, DetectionEvalConfig(NAMES, use_attributes=False))
    )
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["class", "AP@0.5", "AP@1", "AP@2", "AP@4", "AP"]
    assert lines[2].split()[:6] == ["car", "1.000", "1.000", "1.000", "1.000", "1.000"]
    assert lines[3].startswith("barrier") and "nan" in lines[3]
    assert lines[-1].startswith("mAP 0.5000") and "NDS" in lines[-1]


def test_submission_format(tmp_path):
    boxes = np.array([box(1, 2, 0.5, (4.0, 1.8, 1.5), (3.0, 0.0)), box(5, 5, -2.0, (0.6, 0.7, 1.8))])
    shift = np.eye(4)
    shift[:3, 3] = [100.0, 200.0, 1.0]
    c, s = math.cos(0.3), math.sin(0.3)
    shift[:2, :2] = [[c, -s], [s, c]]
    res = sample_results("tok", boxes, [0.4, 0.8], [0, 1], ["car", "pedestrian"], shift)
    assert [r["detection_name"] for r in res] == ["pedestrian", "car"]  # by score
    car = res[1]
    assert car["size"] == pytest.approx([1.8, 4.0, 1.5])  # w, l, h
    assert car["translation"] == pytest.approx([100 + c * 1 - s * 2, 200 + s * 1 + c * 2, 1.0])
    assert car["rotation"] == pytest.approx([math.cos(0.4), 0, 0, math.sin(0.4)])  # yaw 0.5 + 0.3
    assert car["velocity"] == pytest.approx([3 * c, 3 * s])
    assert car["attribute_name"] == "vehicle.moving" and res[0]["attribute_name"] == "pedestrian.standing"
    many = sample_results(
        "t", np.repeat(boxes[:1], 600, 0), np.linspace(0, 1, 600), np.zeros(600, int), ["car"]
    )
    assert len(many) == 500 and min(r["detection_score"] for r in many) > 0.16
    path = write_submission(str(tmp_path / "result" / "submission.json"), {"tok": res})
    data = json.loads(open(path).read())
    assert data["meta"]["use_lidar"] is True and set(data["meta"]) == {
        "use_camera", "use_lidar", "use_radar", "use_map", "use_external",
    }  # fmt: skip
    assert set(data["results"]["tok"][0]) == {
        "sample_token", "translation", "size", "rotation", "velocity", "detection_name", "detection_score",
        "attribute_name",
    }  # fmt: skip
