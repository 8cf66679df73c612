"""nuScenes detection metrics: parity with the official nuscenes-devkit (``accumulate``, ``calc_ap``,
``calc_tp``, ``DetectionMetrics``) to 1e-6 on randomised scenes, with empty predictions, classes absent
from the GT, duplicates and tied scores.

The devkit is a test dependency (tools/setup.sh installs it); without it these tests skip and say so.
It is entered without its top-level package (tests/nuscenes_devkit.py).
"""

import math
import types

import numpy as np
import pytest
from nuscenes_devkit import import_devkit

from pointcept.datasets.label_maps import NUSCENES_ATTRIBUTE_NAMES as ATTRIBUTE_NAMES
from pointcept.engines.det_metrics import (
    TP_METRICS,
    DetectionEvalConfig,
    accumulate,
    calc_ap,
    calc_tp,
    evaluate_detections,
)

DETECTION_NAMES = [
    "car", "truck", "bus", "trailer", "construction_vehicle", "pedestrian", "motorcycle", "bicycle",
    "traffic_cone", "barrier",
]  # fmt: skip
CLASS_ATTRS = {
    "car": ["vehicle.moving", "vehicle.parked", "vehicle.stopped"],
    "truck": ["vehicle.moving", "vehicle.parked", "vehicle.stopped"],
    "bus": ["vehicle.moving", "vehicle.parked", "vehicle.stopped"],
    "trailer": ["vehicle.moving", "vehicle.parked", "vehicle.stopped"],
    "construction_vehicle": ["vehicle.moving", "vehicle.parked", "vehicle.stopped"],
    "pedestrian": ["pedestrian.moving", "pedestrian.sitting_lying_down", "pedestrian.standing"],
    "motorcycle": ["cycle.with_rider", "cycle.without_rider"],
    "bicycle": ["cycle.with_rider", "cycle.without_rider"],
    "traffic_cone": [],
    "barrier": [],
}


def devkit():
    """The devkit's detection modules, or a visible skip."""
    algo, data, common, quaternion = import_devkit(
        "nuscenes.eval.detection.algo",
        "nuscenes.eval.detection.data_classes",
        "nuscenes.eval.common.data_classes",
        "pyquaternion",
    )
    return types.SimpleNamespace(algo=algo, data=data, common=common, Quaternion=quaternion.Quaternion)


def random_scene(seed: int, num_samples: int = 6, absent=("bus", "trailer")):
    """GT and predictions per sample: noisy detections of GT, false positives, exact duplicates,
    tied scores, samples without predictions, and predictions of classes with no GT."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    present = [i for i, n in enumerate(DETECTION_NAMES) if n not in absent]
    for s in range(num_samples):
        m = int(rng.integers(0, 12))
        labels = rng.choice(present, m)
        boxes = np.concatenate(
            [
                rng.uniform(-40, 40, (m, 2)),
                rng.uniform(-1, 1, (m, 1)),
                rng.uniform(0.3, 6, (m, 3)),
                rng.uniform(-math.pi, math.pi, (m, 1)),
                rng.normal(0, 3, (m, 2)),
            ],
            axis=1,
        )
        attrs = np.array(
            [
                ATTRIBUTE_NAMES.index(rng.choice(CLASS_ATTRS[DETECTION_NAMES[c]]))
                if CLASS_ATTRS[DETECTION_NAMES[c]] and rng.random() < 0.9
                else -1
                for c in labels
            ],
            dtype=np.int64,
        )
        gts.append(dict(boxes=boxes, labels=labels, attrs=attrs))
        if s == 1:  # a sample without predictions
            preds.append(dict(boxes=np.zeros((0, 9)), labels=np.zeros(0, np.int64), scores=np.zeros(0)))
            continue
        keep = rng.random(m) < 0.8
        p_boxes = boxes[keep].copy()
        k = len(p_boxes)
        p_boxes[:, :2] += rng.normal(0, 1.0, (k, 2))
        p_boxes[:, 3:6] *= rng.uniform(0.7, 1.3, (k, 3))
        p_boxes[:, 6] += rng.normal(0, 0.6, k)
        p_boxes[:, 7:9] += rng.normal(0, 1, (k, 2))
        p_labels = labels[keep].copy()
        swap = rng.random(k) < 0.1
        p_labels[swap] = rng.integers(0, 10, int(swap.sum()))
        n_fp = int(rng.integers(0, 6))
        fp = np.concatenate(
            [
                rng.uniform(-40, 40, (n_fp, 2)),
                rng.uniform(-1, 1, (n_fp, 1)),
                rng.uniform(0.3, 6, (n_fp, 3)),
                rng.uniform(-3, 3, (n_fp, 1)),
                rng.normal(0, 2, (n_fp, 2)),
            ],
            axis=1,
        )
        p_boxes = np.concatenate([p_boxes, fp])
        p_labels = np.concatenate([p_labels, rng.integers(0, 10, n_fp)])  # includes classes without GT
        if len(p_boxes):  # exact duplicates of a few predictions
            dup = rng.choice(len(p_boxes), min(2, len(p_boxes)), replace=False)
            p_boxes = np.concatenate([p_boxes, p_boxes[dup]])
            p_labels = np.concatenate([p_labels, p_labels[dup]])
        scores = np.round(rng.uniform(0.05, 1.0, len(p_boxes)), 1)  # many ties
        p_attrs = np.array(
            [
                ATTRIBUTE_NAMES.index(rng.choice(CLASS_ATTRS[DETECTION_NAMES[c]]))
                if CLASS_ATTRS[DETECTION_NAMES[c]]
                else -1
                for c in p_labels
            ],
            dtype=np.int64,
        )
        preds.append(dict(boxes=p_boxes, labels=p_labels, scores=scores, attrs=p_attrs))
    return gts, preds


def to_devkit(dk, samples, is_pred):
    out = dk.common.EvalBoxes()
    for s, sample in enumerate(samples):
        boxes = []
        for i, b in enumerate(np.asarray(sample["boxes"]).reshape(-1, 9)):
            attr = int(sample["attrs"][i]) if sample.get("attrs") is not None else -1
            boxes.append(
                dk.data.DetectionBox(
                    sample_token=f"s{s}",
                    translation=tuple(float(v) for v in b[:3]),
                    size=(float(b[4]), float(b[3]), float(b[5])),
                    rotation=tuple(dk.Quaternion(axis=[0, 0, 1], angle=float(b[6])).elements),
                    velocity=(float(b[7]), float(b[8])),
                    num_pts=-1 if is_pred else 5,
                    detection_name=DETECTION_NAMES[int(sample["labels"][i])],
                    detection_score=float(sample["scores"][i]) if is_pred else -1.0,
                    attribute_name=ATTRIBUTE_NAMES[attr] if attr >= 0 else "",
                )
            )
        out.add_boxes(f"s{s}", boxes)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_accumulate_calc_ap_calc_tp_match_devkit(seed):
    dk = devkit()
    from nuscenes.eval.common.utils import center_distance

    gts, preds = random_scene(seed)
    gt_dk, pred_dk = to_devkit(dk, gts, False), to_devkit(dk, preds, True)
    compared = 0
    for c, name in enumerate(DETECTION_NAMES):
        period = np.pi if name == "barrier" else 2 * np.pi
        for th in (0.5, 1.0, 2.0, 4.0):
            ref = dk.algo.accumulate(gt_dk, pred_dk, name, center_distance, th)
            ours = accumulate(gts, preds, c, th, period)
            for key in ("recall", "precision", "confidence", *TP_METRICS):
                np.testing.assert_allclose(
                    getattr(ours, key), getattr(ref, key), atol=1e-6, err_msg=f"{name} {th} {key}"
                )
            assert calc_ap(ours, 0.1, 0.1) == pytest.approx(dk.algo.calc_ap(ref, 0.1, 0.1), abs=1e-6)
            for metric in TP_METRICS:
                assert calc_tp(ours, metric, 0.1) == pytest.approx(
                    dk.algo.calc_tp(ref, 0.1, metric), abs=1e-6
                )
            compared += int(ref.max_recall_ind > 0)
    assert compared >= 10  # most classes have matches: the curves are not all the trivial ones


@pytest.mark.parametrize("seed", [4, 5])
def test_summary_metrics_match_devkit(seed):
    dk = devkit()
    from nuscenes.eval.common.utils import center_distance

    gts, preds = random_scene(seed, num_samples=8, absent=("bus",))
    gt_dk, pred_dk = to_devkit(dk, gts, False), to_devkit(dk, preds, True)
    cfg = dk.data.DetectionConfig(
        class_range={n: 50 for n in DETECTION_NAMES},
        dist_fcn="center_distance",
        dist_ths=[0.5, 1.0, 2.0, 4.0],
        dist_th_tp=2.0,
        min_recall=0.1,
        min_precision=0.1,
        max_boxes_per_sample=500,
        mean_ap_weight=5,
    )
    # The devkit's DetectionEval.evaluate, without the NuScenes tables it needs for loading.
    ref = dk.data.DetectionMetrics(cfg)
    for name in DETECTION_NAMES:
        for th in cfg.dist_ths:
            md = dk.algo.accumulate(gt_dk, pred_dk, name, center_distance, th)
            ref.add_label_ap(name, th, dk.algo.calc_ap(md, 0.1, 0.1))
        md = dk.algo.accumulate(gt_dk, pred_dk, name, center_distance, 2.0)
        for metric in TP_METRICS:
            if (name == "traffic_cone" and metric in ("attr_err", "vel_err", "orient_err")) or (
                name == "barrier" and metric in ("attr_err", "vel_err")
            ):
                ref.add_label_tp(name, metric, np.nan)
            else:
                ref.add_label_tp(name, metric, dk.algo.calc_tp(md, 0.1, metric))
    ours = evaluate_detections(gts, preds, DetectionEvalConfig(DETECTION_NAMES))
    assert ours["mAP"] == pytest.approx(ref.mean_ap, abs=1e-6)
    assert ours["class_ap"]["bus"] == 0.0
    for metric in TP_METRICS:
        assert ours["tp_errors"][metric] == pytest.approx(ref.tp_errors[metric], abs=1e-6)
        assert ours["tp_scores"][metric] == pytest.approx(ref.tp_scores[metric], abs=1e-6)
    assert ours["NDS"] == pytest.approx(ref.nd_score, abs=1e-6)
    assert 0.05 < ours["NDS"] < 0.95


def test_all_empty_predictions_match_devkit():
    dk = devkit()
    from nuscenes.eval.common.utils import center_distance

    gts, _ = random_scene(7)
    empty = [dict(boxes=np.zeros((0, 9)), labels=np.zeros(0, np.int64), scores=np.zeros(0)) for _ in gts]
    for c, name in enumerate(DETECTION_NAMES):
        ref = dk.algo.accumulate(
            to_devkit(dk, gts, False), to_devkit(dk, empty, True), name, center_distance, 2.0
        )
        ours = accumulate(gts, empty, c, 2.0)
        np.testing.assert_array_equal(ours.precision, ref.precision)
        assert calc_tp(ours, "trans_err") == dk.algo.calc_tp(ref, 0.1, "trans_err") == 1.0
    result = evaluate_detections(gts, empty, DetectionEvalConfig(DETECTION_NAMES))
    assert result["mAP"] == 0.0 and result["NDS"] == 0.0
