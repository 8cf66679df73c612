"""Waymo-style AP/APH (det_metrics.waymo_eval): a two-frame case worked out by hand, a brute-force
re-count of TP/FP/FN at every score cut-off on random scenes, the envelope integration, heading
weighting, ignored GT, difficulty levels, empty predictions and classes absent from GT."""

import math

import numpy as np
import pytest

from pointcept.datasets.box_overlap import bev_iou, iou_3d
from pointcept.engines.det_metrics import (
    WaymoEvalConfig,
    envelope_ap,
    evaluate_waymo,
    format_waymo_table,
    waymo_curves,
)

NAMES = ["vehicle", "pedestrian", "cyclist"]
CAR = (4.0, 2.0, 1.5)
SQUARE = (3.0, 3.0, 1.5)  # a footprint that a quarter turn leaves unchanged


def box(x, y=0.0, z=0.0, size=CAR, yaw=0.0):
    return [x, y, z, *size, yaw, 0.0, 0.0]


def gt(boxes, labels, points, difficulty=None):
    out = dict(
        boxes=np.array(boxes, float).reshape(-1, 9), labels=np.array(labels), num_points=np.array(points)
    )
    if difficulty is not None:
        out["difficulty"] = np.array(difficulty)
    return out


def pred(boxes, labels, scores):
    return dict(
        boxes=np.array(boxes, float).reshape(-1, 9), labels=np.array(labels), scores=np.array(scores, float)
    )


def hand_case():
    """Vehicles (IoU 0.7). Frame A: a1 (100 points, L1), a2 (3 points -> L2), a3 (0 points ->
    ignored). Frame B: b1 (3 x 3 m square, 50 points, L1), b2 (20 points, labelled LEVEL_2).

    Predictions (score): pA1 (0.9) = a1 -> TP, heading accuracy 1; pA2 (0.8) = a3 -> ignored;
    pB1 (0.7) = b1 raised 0.5 m (BEV IoU 1; 3D IoU 9 / (2 * 13.5 - 9) = 0.5) turned by pi/2 -> 3D FP,
    BEV TP with accuracy 0.5; pA3 (0.6) = a2 shifted 0.5 m in x (IoU 3.5/4.5 = 0.78) turned by
    pi -> TP (an L2 GT), accuracy 0; pB2 (0.3) far from all -> FP; pB3 (0.2) = b2 -> TP,
    accuracy 1. A pedestrian prediction (0.5) in frame A has no GT of its class.
    """
    gts = [
        gt([box(0), box(10), box(20)], [0, 0, 0], [100, 3, 0]),
        gt([box(0, 10, size=SQUARE), box(0, -10)], [0, 0], [50, 20], difficulty=[0, 2]),
    ]
    preds = [
        pred(
            [box(0), box(20), box(10.5, yaw=np.pi), box(30, 30, size=(0.8, 0.8, 1.8))],
            [0, 0, 0, 1],
            [0.9, 0.8, 0.6, 0.5],
        ),
        pred([box(0, 10, 0.5, SQUARE, np.pi / 2), box(40, 40), box(0, -10)], [0, 0, 0], [0.7, 0.3, 0.2]),
    ]
    return gts, preds


@pytest.mark.parametrize("cutoffs", ["waymo", None])
def test_hand_computed_two_frames(cutoffs):
    gts, preds = hand_case()
    kw = {} if cutoffs == "waymo" else dict(score_cutoffs=None)
    r = evaluate_waymo(gts, preds, WaymoEvalConfig(NAMES, **kw))
    # Cumulative in score order (pA1, pA2, pB1, pA3, pB2, pB3), 3D: TP 1,1,1,2,2,3; FP 0,0,1,1,2,2;
    # heading sum 1,1,1,1,1,2. LEVEL_2 (4 GT): (recall, precision, precision_h) at recall 0.25:
    # (1, 1), 0.5: (2/3, 1/3) and (1/2, 1/4), 0.75: (0.6, 0.4). Envelope AP: 1 on [0, .25];
    # on (.25, .5] 2/3 at the filled points .30 ... .50 and a ramp from 1 over [.25, .30]:
    # 2/3 * .2 + .05 * (1 + 2/3) / 2 = .175; on (.5, .75]: .6 * .2 + .05 * (2/3 + .6) / 2 = .151667.
    # AP = .25 + .175 + .151667 = 173/300. APH envelope 1, .4, .4: .25 + (.08 + .035) + (.08 + .02).
    v3 = r["ap"]["3d"]["vehicle"], r["aph"]["3d"]["vehicle"]
    assert v3[0]["LEVEL_2"] == pytest.approx(173 / 300, abs=1e-9)
    assert v3[1]["LEVEL_2"] == pytest.approx(0.465, abs=1e-9)
    # LEVEL_1: FN = unmatched L1 GT (b1 only, in 3D), TPs on L2 GT still count: recall 1/2 (p 1),
    # 2/3 (p 2/3, ph 1/3), 3/4 (p .6, ph .4). AP: .5 + [2/3 * .15 + (1/60)(1 + 2/3)/2]
    # + [.6 * .05 + (1/30)(2/3 + .6)/2] = .665; APH (envelope 1, .4, .4): .5 + .0716667 + .0333333.
    assert v3[0]["LEVEL_1"] == pytest.approx(0.665, abs=1e-9)
    assert v3[1]["LEVEL_1"] == pytest.approx(0.605, abs=1e-9)
    # BEV: pB1 is a TP on b1 (accuracy .5). TP 1,1,2,3,3,4; FP 0,0,0,0,1,1; heading 1,1,1.5,1.5,1.5,2.5.
    # LEVEL_2: precision 1 up to recall .75, .8 at recall 1 -> .75 + .8 * .2 + .05 * 1.8 / 2 = .955;
    # precision_h 1, .75, .5, .5 at .25, .5, .75, 1 -> .25 + .19375 + .13125 + .125 = .7.
    vb = r["ap"]["bev"]["vehicle"], r["aph"]["bev"]["vehicle"]
    assert vb[0]["LEVEL_2"] == pytest.approx(0.955, abs=1e-9)
    assert vb[1]["LEVEL_2"] == pytest.approx(0.7, abs=1e-9)
    # LEVEL_1: recall .5 (p 1) then 1 (p 1, best ph .75): AP 1, APH .5 + .75 * .45 + .05 * 1.75 / 2.
    assert vb[0]["LEVEL_1"] == pytest.approx(1.0, abs=1e-9)
    assert vb[1]["LEVEL_1"] == pytest.approx(0.88125, abs=1e-9)
    # Classes absent from GT are NaN and left out of the means; the headline is 3D mAPH L2.
    assert math.isnan(r["ap"]["3d"]["pedestrian"]["LEVEL_2"]) and math.isnan(
        r["aph"]["bev"]["cyclist"]["LEVEL_1"]
    )
    assert r["mAPH_L2"] == pytest.approx(0.465) and r["mAP_L1"] == pytest.approx(0.665)
    assert r["mean"]["bev"]["LEVEL_2"]["APH"] == pytest.approx(0.7)
    assert r["num_gt"]["vehicle"] == {"LEVEL_1": 2, "LEVEL_2": 4}
    assert r["num_ignored"]["vehicle"] == 1 and r["num_pred"] == {"vehicle": 6, "pedestrian": 1, "cyclist": 0}
    table = format_waymo_table(r)
    assert "3D APH L2" in table and "0.4650" in table and "mAPH L2 0.4650" in table
    assert table.splitlines()[2].split()[:6] == ["vehicle", "0.70", "2", "4", "6", "0.6650"]


def test_yaw_off_by_pi_scores_zero_aph_and_matching_ignores_heading():
    gts = [gt([box(0, size=SQUARE, yaw=0.3)], [0], [100])]
    for yaw, aph in ((0.3 + np.pi, 0.0), (0.3 - np.pi / 2, 0.5), (0.3 + 2 * np.pi, 1.0)):
        r = evaluate_waymo(gts, [pred([box(0, size=SQUARE, yaw=yaw)], [0], [0.9])], WaymoEvalConfig(NAMES))
        assert r["ap"]["3d"]["vehicle"]["LEVEL_2"] == pytest.approx(1.0)
        assert r["aph"]["3d"]["vehicle"]["LEVEL_2"] == pytest.approx(aph, abs=1e-9)


def test_ignored_gt_absorbs_one_prediction_and_difficulty_levels():
    # a 0-point box: the prediction on it is neither TP nor FP; a duplicate on it is a FP.
    gts = [gt([box(0), box(10)], [0, 0], [0, 40])]
    one = evaluate_waymo(gts, [pred([box(0), box(10)], [0, 0], [0.9, 0.5])], WaymoEvalConfig(NAMES))
    assert one["ap"]["3d"]["vehicle"]["LEVEL_2"] == pytest.approx(1.0) and one["num_ignored"]["vehicle"] == 1
    dup = evaluate_waymo(
        gts, [pred([box(0), box(0.1), box(10)], [0, 0, 0], [0.9, 0.8, 0.5])], WaymoEvalConfig(NAMES)
    )
    # the duplicate (0.8) is a FP ranked before the TP: precision 1/2 at recall 1.
    assert dup["ap"]["3d"]["vehicle"]["LEVEL_2"] == pytest.approx(0.5)
    # A non-ignored GT is preferred over a better-overlapping ignored one.
    gts = [gt([box(0), box(0.3)], [0, 0], [0, 40])]
    r = evaluate_waymo(gts, [pred([box(0.05)], [0], [0.9])], WaymoEvalConfig(NAMES))
    assert r["ap"]["3d"]["vehicle"]["LEVEL_2"] == pytest.approx(1.0)
    # Only L2 GT (<= 5 points, or labelled 2): LEVEL_1 is NaN, a label 1 overrides few points.
    r = evaluate_waymo(
        [gt([box(0), box(10)], [0, 0], [5, 100], [0, 2])], [pred([], [], [])], WaymoEvalConfig(NAMES)
    )
    assert r["num_gt"]["vehicle"] == {"LEVEL_1": 0, "LEVEL_2": 2} and math.isnan(
        r["ap"]["3d"]["vehicle"]["LEVEL_1"]
    )
    r = evaluate_waymo([gt([box(0)], [0], [2], [1])], [pred([], [], [])], WaymoEvalConfig(NAMES))
    assert r["num_gt"]["vehicle"] == {"LEVEL_1": 1, "LEVEL_2": 1}


def test_empty_predictions_and_frames_give_zero_ap():
    gts = [gt([box(0)], [0], [100]), gt([], [], [])]
    r = evaluate_waymo(gts, [pred([], [], []), pred([], [], [])], WaymoEvalConfig(NAMES))
    assert r["ap"]["3d"]["vehicle"] == {"LEVEL_1": 0.0, "LEVEL_2": 0.0} and r["mAPH_L2"] == 0.0
    assert math.isnan(r["ap"]["bev"]["pedestrian"]["LEVEL_2"])
    # No GT at all: every class NaN, and so the means.
    r = evaluate_waymo([gt([], [], [])], [pred([box(0)], [0], [0.9])], WaymoEvalConfig(NAMES))
    assert math.isnan(r["mAPH_L2"]) and r["num_pred"]["vehicle"] == 1
    assert "nan" in format_waymo_table(r)


def test_config_checks():
    with pytest.raises(ValueError, match=r"no IoU threshold for classes \['car'\]"):
        WaymoEvalConfig(["car", "pedestrian"])
    cfg = WaymoEvalConfig(["car"], iou_thresholds=dict(car=0.5))
    assert cfg.iou_thresholds == {"car": 0.5}
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        WaymoEvalConfig(["car"], iou_thresholds=dict(car=0.0))
    with pytest.raises(ValueError, match="same frames"):
        evaluate_waymo([gt([], [], [])], [], cfg)


def test_envelope_ap_integration():
    # Precision 1 up to recall .5, then .5 up to recall 1, with a wide gap: filled points every .05.
    assert envelope_ap([1.0, 0.5], [0.5, 1.0]) == pytest.approx(0.5 + 0.5 * 0.45 + 0.05 * 1.5 / 2)
    # recall_delta 1: plain trapezoid between reached recalls (recall 0 takes the first value).
    assert envelope_ap([1.0, 0.5], [0.5, 1.0], recall_delta=1.0) == pytest.approx(0.5 + 0.5 * 0.75)
    # The envelope lifts a dip: the point (.5, .2) is below (.8, .6).
    assert envelope_ap([0.2, 0.6], [0.5, 0.8], recall_delta=1.0) == pytest.approx(0.6 * 0.8)
    assert envelope_ap([], []) == 0.0 and envelope_ap([1.0], [0.0]) == 0.0
    # As recall_delta -> 0 it tends to the exact area under the step envelope.
    rng = np.random.default_rng(1)
    for _ in range(20):
        r = np.sort(rng.random(8))
        p = rng.random(8)
        step = sum((r[k] - (r[k - 1] if k else 0.0)) * p[k:].max() for k in range(8))
        assert envelope_ap(p, r, recall_delta=1e-4) == pytest.approx(step, abs=8 * 1e-4)


def brute_force_counts(gts, preds, class_id, threshold, cutoff, iou_fn, l2_points=5):
    """TP, FP, sum of heading accuracy, FN at LEVEL_1 and LEVEL_2 with predictions >= cutoff."""
    tp = fp = 0
    ha = 0.0
    fn1 = fn2 = 0
    for g, p in zip(gts, preds):
        gi = [i for i in range(len(g["labels"])) if g["labels"][i] == class_id]
        level = {}
        for i in gi:
            pts = g["num_points"][i]
            d = g.get("difficulty", np.zeros(len(g["labels"]), int))[i]
            level[i] = 0 if pts == 0 else (d if d > 0 else (2 if pts <= l2_points else 1))
        pi = [k for k in range(len(p["labels"])) if p["labels"][k] == class_id and p["scores"][k] >= cutoff]
        pi.sort(key=lambda k: -p["scores"][k])
        taken = set()
        for k in pi:
            best, best_iou = None, -1.0
            for want_valid in (True, False):
                for i in gi:
                    if i in taken or (level[i] > 0) != want_valid:
                        continue
                    v = iou_fn(p["boxes"][k : k + 1], g["boxes"][i : i + 1])[0, 0]
                    if v >= threshold and v > best_iou:
                        best, best_iou = i, v
                if best is not None:
                    break
            if best is None:
                fp += 1
                continue
            taken.add(best)
            if level[best] > 0:
                tp += 1
                dyaw = abs(p["boxes"][k, 6] - g["boxes"][best, 6]) % (2 * math.pi)
                ha += 1 - min(dyaw, 2 * math.pi - dyaw) / math.pi
        fn1 += sum(1 for i in gi if level[i] == 1 and i not in taken)
        fn2 += sum(1 for i in gi if level[i] > 0 and i not in taken)
    return tp, fp, ha, fn1, fn2


def random_scene(rng, frames=5):
    gts, preds = [], []
    sizes = [CAR, (0.8, 0.8, 1.8), (1.8, 0.7, 1.7)]
    for _ in range(frames):
        n = int(rng.integers(0, 9))
        labels = rng.integers(0, 3, n)
        boxes = np.array(
            [
                box(*rng.uniform(-20, 20, 2), rng.uniform(-0.5, 0.5), sizes[c], rng.uniform(-np.pi, np.pi))
                for c in labels
            ]
        ).reshape(-1, 9)
        points = rng.choice([0, 1, 3, 5, 6, 40], n)
        diff = rng.choice([0, 0, 1, 2], n)
        gts.append(gt(boxes, labels, points, diff))
        # Noisy copies of the GT (some twice), and random false positives; scores on the 0.01 grid
        # half of the time so that cut-offs fall on scores and scores tie.
        src = rng.integers(0, max(n, 1), int(rng.integers(0, 2 * n + 1))) if n else np.zeros(0, int)
        pb = boxes[src].copy()
        pb[:, :3] += rng.normal(0, 0.08, (len(src), 3))
        pb[:, 3:6] *= rng.uniform(0.92, 1.08, (len(src), 3))
        pb[:, 6] += rng.normal(0, 1.0, len(src))
        k = int(rng.integers(0, 4))
        extra = np.array([box(*rng.uniform(-20, 20, 2), 0.0, sizes[0]) for _ in range(k)]).reshape(-1, 9)
        pl = np.concatenate([labels[src], rng.integers(0, 3, k)]).astype(int)
        ps = rng.random(len(pl))
        ps = np.where(rng.random(len(pl)) < 0.5, np.round(ps, 2), ps)
        preds.append(pred(np.concatenate([pb, extra]), pl, ps))
    return gts, preds


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_counts_at_every_cutoff(seed):
    rng = np.random.default_rng(seed)
    gts, preds = random_scene(rng)
    for cutoffs in ("waymo", None):
        cfg = WaymoEvalConfig(NAMES, **({} if cutoffs == "waymo" else dict(score_cutoffs=None)))
        curves, _ = waymo_curves(gts, preds, cfg)
        result = evaluate_waymo(gts, preds, cfg)
        for iou_type, iou_fn in (("3d", iou_3d), ("bev", bev_iou)):
            for c, name in enumerate(NAMES):
                cv = curves[iou_type][name]
                for j, cut in enumerate(cv["LEVEL_2"]["score_cutoffs"]):
                    tp, fp, ha, fn1, fn2 = brute_force_counts(
                        gts, preds, c, cfg.iou_thresholds[name], cut, iou_fn
                    )
                    for lv, fn in (("LEVEL_1", fn1), ("LEVEL_2", fn2)):
                        got = cv[lv]
                        assert (got["tp"][j], got["fp"][j], got["fn"][j]) == (tp, fp, fn), (
                            iou_type,
                            name,
                            lv,
                            cut,
                        )
                        prec = tp / (tp + fp) if tp + fp else 0.0
                        assert got["precision"][j] == pytest.approx(prec)
                        assert got["precision_h"][j] == pytest.approx(ha / (tp + fp) if tp + fp else 0.0)
                        assert got["recall"][j] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
                for lv in ("LEVEL_1", "LEVEL_2"):
                    got = result["ap"][iou_type][name][lv]
                    if result["num_gt"][name][lv] == 0:
                        assert math.isnan(got)
                    else:
                        assert got == pytest.approx(envelope_ap(cv[lv]["precision"], cv[lv]["recall"]))
                        assert result["aph"][iou_type][name][lv] <= got + 1e-12
