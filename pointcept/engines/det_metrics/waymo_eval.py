"""Waymo-style 3D detection metrics (numpy only): AP and APH with rotated 3D / BEV IoU, per class and
difficulty level, and their table. No TensorFlow or waymo-open-dataset is needed.

The rules, per class and IoU type ("3d": upright 3D IoU, "bev": rotated BEV IoU, both exact, from
``pointcept.datasets.box_overlap``):

* GT boxes: those with 0 points (``num_points``) are *ignored*; the others are LEVEL_2 when the
  label says so (``difficulty`` 2) or, unset (0), when they hold <= ``level2_max_points`` (5)
  points, else LEVEL_1. GT of other classes (or label -1) play no part.
* Matching, per frame: predictions in descending score (stable on ties) each take, among the
  unmatched non-ignored GT with IoU >= the class threshold (vehicle 0.7, pedestrian/cyclist 0.5),
  the one with the highest IoU (TP); failing that, an unmatched ignored GT with IoU >= threshold
  (the prediction is then neither TP nor FP); failing both, it is a FP. Each GT takes one
  prediction. Because a prediction's match only depends on higher-scored ones, the matching at a
  score cut-off is the prefix of this one matching, so counts at every cut-off come from one pass.
* At a score cut-off c (predictions with score >= c): TP and FP as above; LEVEL_2 counts every
  non-ignored GT (L1 and L2) and FN = unmatched ones; LEVEL_1 counts as FN only unmatched L1 GT,
  and a prediction matched to an L2 GT stays a TP (Waymo's ``IsDetectionFN``/``IsTP`` rule).
  precision = TP / (TP + FP), recall = TP / (TP + FN). For APH each TP weighs its heading
  accuracy ``1 - |dyaw| / pi`` (dyaw wrapped to [0, pi]) in the precision; the recall axis is the
  plain one (as Waymo's ``recalls_ha_weighted``, which uses ``num_tps``).
* Cut-offs: Waymo's 0, 0.01, ..., 0.99, 1.0 by default (``WAYMO_SCORE_CUTOFFS``); ``None`` uses
  every distinct prediction score (each rank boundary).
* AP (``envelope_ap``) = area under the precision envelope ``p(r) = max precision over cut-offs
  with recall >= r``, integrated as Waymo's ``ComputeMeanAveragePrecision``: the envelope's
  values at the reached recalls, recall 0 taking the value of the smallest positive recall,
  recall gaps wider than ``recall_delta`` (0.05) filled with points every ``recall_delta`` below
  the upper end (carrying the upper end's envelope), and the trapezoid rule over these points. So
  the step envelope is exact except for a linear ramp of width < ``recall_delta`` + 1e-6 at each
  step; this is what Waymo's leaderboard reports, hence chosen over the exact step area (to
  which it converges as ``recall_delta`` -> 0).
* A class without non-ignored GT at a level has AP NaN there; means over classes skip NaN.
  ``mAPH_L2`` (3D) is Waymo's headline.

Deviations from Waymo's own evaluator (``compute_detection_metrics_main``): greedy matching by
score instead of Hungarian matching (they differ only where one prediction's best GT is another's
only GT); 0-point GT are ignored rather than dropped (Waymo drops them, so a prediction on one is
a FP there); no no-label-zone handling; float64 instead of float32.

A frame is a dict of numpy arrays as in ``matching`` (``boxes`` (M, >=7), ``labels`` (M,),
``scores`` (M,) for predictions) plus, for GT, optional ``num_points`` (M,) and ``difficulty`` (M,)
(0 unset, 1 LEVEL_1, 2 LEVEL_2).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

WAYMO_IOU_THRESHOLDS = {"vehicle": 0.7, "pedestrian": 0.5, "cyclist": 0.5}
"""Waymo's default IoU thresholds of its detection classes."""

WAYMO_SCORE_CUTOFFS = tuple(i / 100 for i in range(101))
"""The score cut-offs of Waymo's metrics tool: 0, 0.01, ..., 0.99, 1.0."""

LEVELS = ("LEVEL_1", "LEVEL_2")
IOU_TYPES = ("3d", "bev")

# Statuses of a prediction after matching.
FP, TP, IGNORED = 0, 1, 2


@dataclass
class WaymoEvalConfig:
    """Evaluation settings (module docstring). ``iou_thresholds`` maps every class to its threshold
    (None = ``WAYMO_IOU_THRESHOLDS``); ``score_cutoffs`` None = every distinct prediction score."""

    class_names: Sequence[str]
    iou_thresholds: Mapping[str, float] | None = None
    score_cutoffs: Sequence[float] | None = field(default=WAYMO_SCORE_CUTOFFS)
    recall_delta: float = 0.05
    level2_max_points: int = 5

    def __post_init__(self):
        self.class_names = [str(c) for c in self.class_names]
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        given = dict(WAYMO_IOU_THRESHOLDS if self.iou_thresholds is None else self.iou_thresholds)
        missing = [c for c in self.class_names if c not in given]
        if missing:
            raise ValueError(
                f"no IoU threshold for classes {missing}: set iou_thresholds (Waymo's are "
                f"{WAYMO_IOU_THRESHOLDS})"
            )
        self.iou_thresholds = {c: float(given[c]) for c in self.class_names}
        bad = {c: t for c, t in self.iou_thresholds.items() if not 0 < t <= 1}
        if bad:
            raise ValueError(f"IoU thresholds must be in (0, 1], got {bad}")
        if not 0 < self.recall_delta <= 1:
            raise ValueError(f"recall_delta must be in (0, 1], got {self.recall_delta}")
        if self.score_cutoffs is not None:
            cut = np.asarray(self.score_cutoffs, dtype=np.float64)
            if cut.ndim != 1 or len(cut) == 0 or not np.isfinite(cut).all():
                raise ValueError(
                    f"score_cutoffs must be a non-empty list of numbers, got {self.score_cutoffs}"
                )
            self.score_cutoffs = tuple(np.unique(cut).tolist())


def heading_accuracy(yaw_pred: np.ndarray, yaw_gt: np.ndarray) -> np.ndarray:
    """``1 - d / pi`` with d the absolute yaw difference wrapped to [0, pi]."""
    d = np.abs(np.asarray(yaw_pred, np.float64) - np.asarray(yaw_gt, np.float64)) % (2 * np.pi)
    d = np.minimum(d, 2 * np.pi - d)
    return np.clip(1.0 - d / np.pi, 0.0, 1.0)


def gt_levels(gt: dict, level2_max_points: int = 5) -> np.ndarray:
    """Per GT box: 0 = ignored (0 points), 1 = LEVEL_1, 2 = LEVEL_2 (module docstring)."""
    n = len(np.asarray(gt["labels"]))
    points = gt.get("num_points")
    points = np.full(n, level2_max_points + 1) if points is None else np.asarray(points).reshape(n)
    diff = gt.get("difficulty")
    diff = np.zeros(n, np.int64) if diff is None else np.asarray(diff).reshape(n)
    level = np.where(diff > 0, diff, np.where(points <= level2_max_points, 2, 1))
    return np.where(points > 0, np.clip(level, 1, 2), 0).astype(np.int64)


def _ious(pred_boxes: np.ndarray, gt_boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Pairwise 3D and BEV IoU (P, G) of one frame, sharing one BEV intersection."""
    from pointcept.datasets.box_overlap import bev_intersection

    inter = bev_intersection(pred_boxes, gt_boxes)
    p, g = pred_boxes[:, :7], gt_boxes[:, :7]
    area_p, area_g = p[:, 3] * p[:, 4], g[:, 3] * g[:, 4]
    bev = inter / (area_p[:, None] + area_g[None, :] - inter)
    top = np.minimum((p[:, 2] + p[:, 5] / 2)[:, None], (g[:, 2] + g[:, 5] / 2)[None, :])
    bottom = np.maximum((p[:, 2] - p[:, 5] / 2)[:, None], (g[:, 2] - g[:, 5] / 2)[None, :])
    inter3 = inter * np.clip(top - bottom, 0.0, None)
    vol_p, vol_g = area_p * p[:, 5], area_g * g[:, 5]
    iou3 = inter3 / (vol_p[:, None] + vol_g[None, :] - inter3)
    return {"3d": np.clip(iou3, 0.0, 1.0), "bev": np.clip(bev, 0.0, 1.0)}


def match_frame(iou: np.ndarray, gt_level: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy matching of one frame; rows of ``iou`` (P, G) are predictions in rank order.

    Returns (P,) matched GT index or -1 (module docstring; ``gt_level`` 0 marks ignored GT).
    """
    match = np.full(iou.shape[0], -1, dtype=np.int64)
    taken = np.zeros(iou.shape[1], dtype=bool)
    valid = gt_level > 0
    above = iou >= threshold
    for k in np.flatnonzero(above.any(1)):  # the others overlap no GT enough: FP
        ok = ~taken & above[k]
        for pool in (ok & valid, ok & ~valid):
            if pool.any():
                j = int(np.argmax(np.where(pool, iou[k], -1.0)))
                taken[j] = True
                match[k] = j
                break
    return match


def _class_matches(gts, preds, class_id, cfg) -> tuple[dict, np.ndarray]:
    """Per prediction of the class, over all frames: score, and per IoU type status (FP/TP/IGNORED),
    heading accuracy and matched GT level. Also the (3,) count of GT per level (ignored, L1, L2)."""
    out = {t: dict(status=[], ha=[], level=[]) for t in IOU_TYPES}
    scores, counts = [], np.zeros(3, dtype=np.int64)
    threshold = cfg.iou_thresholds[cfg.class_names[class_id]]
    for g, p in zip(gts, preds):
        g_sel = np.flatnonzero(np.asarray(g["labels"]) == class_id)
        level = gt_levels(g, cfg.level2_max_points)[g_sel]
        counts += np.bincount(level, minlength=3)
        p_sel = np.flatnonzero(np.asarray(p["labels"]) == class_id)
        if len(p_sel) == 0:
            continue
        s = np.asarray(p["scores"], dtype=np.float64)[p_sel]
        order = np.argsort(-s, kind="stable")
        p_boxes = np.asarray(p["boxes"], dtype=np.float64).reshape(-1, np.shape(p["boxes"])[-1])[p_sel[order]]
        g_boxes = np.asarray(g["boxes"], dtype=np.float64).reshape(-1, np.shape(g["boxes"])[-1])[g_sel]
        scores.append(s[order])
        ious = _ious(p_boxes, g_boxes) if len(g_sel) else {t: np.zeros((len(p_sel), 0)) for t in IOU_TYPES}
        for t in IOU_TYPES:
            m = match_frame(ious[t], level, threshold)
            hit = m >= 0
            lvl = np.where(hit, level[np.maximum(m, 0)] if len(level) else 0, 0)
            status = np.where(~hit, FP, np.where(lvl > 0, TP, IGNORED))
            ha = np.zeros(len(m))
            if hit.any():
                ha[hit] = heading_accuracy(p_boxes[hit, 6], g_boxes[m[hit], 6])
            out[t]["status"].append(status)
            out[t]["ha"].append(np.where(status == TP, ha, 0.0))
            out[t]["level"].append(lvl)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    result = {
        t: dict(
            status=cat(out[t]["status"], np.int64),
            ha=cat(out[t]["ha"], np.float64),
            level=cat(out[t]["level"], np.int64),
        )
        for t in IOU_TYPES
    }
    result["score"] = cat(scores, np.float64)
    return result, counts


def pr_curves(score, status, ha, level, num_gt, cutoffs) -> dict[str, dict[str, np.ndarray]]:
    """Precision, heading-weighted precision and recall at each cut-off, per level.

    score/status/ha/level: per prediction (``_class_matches``); num_gt: (3,) GT per level (ignored,
    L1, L2); cutoffs: ascending (C,). Returns ``{level: dict(precision, precision_h, recall,
    tp, fp, fn)}`` with (C,) arrays.
    """
    order = np.argsort(-score, kind="stable")
    score, status, ha, level = score[order], status[order], ha[order], level[order]
    # Number of predictions with score >= c, for each cut-off c.
    n_in = len(score) - np.searchsorted(score[::-1], np.asarray(cutoffs, np.float64), side="left")

    def upto(x):
        c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
        return c[n_in]

    tp = upto(status == TP)
    fp = upto(status == FP)
    sum_ha = upto(ha)
    tp_l1 = upto((status == TP) & (level == 1))
    out = {}
    for name, fn in (("LEVEL_1", num_gt[1] - tp_l1), ("LEVEL_2", num_gt[1] + num_gt[2] - tp)):
        det = tp + fp
        pos = tp + fn
        out[name] = dict(
            precision=np.divide(tp, det, out=np.zeros_like(tp), where=det > 0),
            precision_h=np.divide(sum_ha, det, out=np.zeros_like(tp), where=det > 0),
            recall=np.divide(tp, pos, out=np.zeros_like(tp), where=pos > 0),
            tp=tp,
            fp=fp,
            fn=fn.astype(np.float64),
        )
    return out


def envelope_ap(precision: np.ndarray, recall: np.ndarray, recall_delta: float = 0.05) -> float:
    """Area under the precision envelope of (recall, precision) points (module docstring)."""
    precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    rs = np.unique(np.concatenate([[0.0], recall]))
    if len(rs) == 1:
        return 0.0
    best = np.array([precision[recall == r].max(initial=0.0) for r in rs])
    env = np.maximum.accumulate(best[::-1])[::-1]
    env[0] = env[1]
    area = 0.0
    for i in range(len(rs) - 1):
        lo, hi = rs[i], rs[i + 1]
        # Filled points hi - d, hi - 2d, ... while the remaining gap exceeds d (+1e-6), at env[i + 1].
        top = hi
        while top - lo > recall_delta + 1e-6:
            top -= recall_delta
        area += env[i + 1] * (hi - top) + 0.5 * (top - lo) * (env[i] + env[i + 1])
    return float(area)


def waymo_curves(gts: list[dict], preds: list[dict], cfg: WaymoEvalConfig) -> tuple[dict, dict]:
    """Precision/recall at the score cut-offs: ``({iou_type: {class: {level: dict(score_cutoffs,
    precision, precision_h, recall, tp, fp, fn)}}}, {class: (ignored, L1, L2) GT counts, num_pred})``."""
    if len(gts) != len(preds):
        raise ValueError(f"gts and preds must list the same frames, got {len(gts)} and {len(preds)}")
    curves, counts = {t: {} for t in IOU_TYPES}, {}
    for c, name in enumerate(cfg.class_names):
        m, n_gt = _class_matches(gts, preds, c, cfg)
        cutoffs = np.asarray(cfg.score_cutoffs if cfg.score_cutoffs is not None else np.unique(m["score"]))
        counts[name] = (*(int(x) for x in n_gt), len(m["score"]))
        for t in IOU_TYPES:
            per_level = pr_curves(m["score"], m[t]["status"], m[t]["ha"], m[t]["level"], n_gt, cutoffs)
            curves[t][name] = {lv: dict(score_cutoffs=cutoffs, **cv) for lv, cv in per_level.items()}
    return curves, counts


def evaluate_waymo(gts: list[dict], preds: list[dict], cfg: WaymoEvalConfig) -> dict:
    """Waymo metrics of ``preds`` against ``gts`` (frame dicts of the module docstring, aligned).

    Returns ``dict(metric="waymo", ap={iou_type: {class: {level: AP}}}, aph=(same),
    mean={iou_type: {level: dict(AP, APH)}}, mAP_L1, mAPH_L1, mAP_L2, mAPH_L2 (3D means),
    num_gt={class: {level: n}}, num_ignored={class: n}, num_pred={class: n}, iou_thresholds)``.
    """
    curves, counts = waymo_curves(gts, preds, cfg)
    num_gt = {n: {"LEVEL_1": c[1], "LEVEL_2": c[1] + c[2]} for n, c in counts.items()}
    ap = {t: {n: {} for n in cfg.class_names} for t in IOU_TYPES}
    aph = {t: {n: {} for n in cfg.class_names} for t in IOU_TYPES}
    for t in IOU_TYPES:
        for name in cfg.class_names:
            for lv in LEVELS:
                cv = curves[t][name][lv]
                if num_gt[name][lv] == 0:
                    ap[t][name][lv] = aph[t][name][lv] = math.nan
                    continue
                ap[t][name][lv] = envelope_ap(cv["precision"], cv["recall"], cfg.recall_delta)
                aph[t][name][lv] = envelope_ap(cv["precision_h"], cv["recall"], cfg.recall_delta)

    def mean(d: dict, lv: str) -> float:
        vals = np.array([d[n][lv] for n in cfg.class_names], dtype=np.float64)
        return math.nan if np.isnan(vals).all() else float(np.nanmean(vals))

    means = {t: {lv: dict(AP=mean(ap[t], lv), APH=mean(aph[t], lv)) for lv in LEVELS} for t in IOU_TYPES}
    return dict(
        metric="waymo",
        ap=ap,
        aph=aph,
        mean=means,
        mAP_L1=means["3d"]["LEVEL_1"]["AP"],
        mAPH_L1=means["3d"]["LEVEL_1"]["APH"],
        mAP_L2=means["3d"]["LEVEL_2"]["AP"],
        mAPH_L2=means["3d"]["LEVEL_2"]["APH"],
        num_gt=num_gt,
        num_ignored={n: c[0] for n, c in counts.items()},
        num_pred={n: c[3] for n, c in counts.items()},
        iou_thresholds=dict(cfg.iou_thresholds),
    )


def format_waymo_table(result: dict) -> str:
    """Per class: IoU threshold, GT counts, then AP/APH at LEVEL_1 and LEVEL_2 for 3D and BEV IoU;
    then the mean over classes and the headline mAPH L2 (3D)."""
    names = list(result["num_gt"])

    def num(x: float) -> str:
        return "   nan" if x is None or math.isnan(x) else f"{x:6.4f}"

    cols = [(t, lv, k) for t in IOU_TYPES for lv in LEVELS for k in ("AP", "APH")]
    width = max([5] + [len(n) for n in names])
    labels = [f"{t.upper()} {k} L{lv[-1]}".rjust(11) for t, lv, k in cols]
    head = f"{'class':<{width}}  IoU  #gt L1 #gt L2  #pred " + " ".join(labels)
    lines = [head, "-" * len(head)]

    def cells(get) -> str:
        return " ".join(num(get(t, lv, k)).rjust(11) for t, lv, k in cols)

    for n in names:
        d = result["num_gt"][n]
        lines.append(
            f"{n:<{width}} {result['iou_thresholds'][n]:4.2f} {d['LEVEL_1']:7d} {d['LEVEL_2']:6d} "
            f"{result['num_pred'][n]:6d} "
            + cells(lambda t, lv, k, n=n: result["ap" if k == "AP" else "aph"][t][n][lv])
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'mean':<{width}} {'':4} {'':7} {'':6} {'':6} " + cells(lambda t, lv, k: result["mean"][t][lv][k])
    )
    lines.append(
        f"Waymo 3D: mAP L1 {num(result['mAP_L1']).strip()}  mAPH L1 {num(result['mAPH_L1']).strip()}  "
        f"mAP L2 {num(result['mAP_L2']).strip()}  mAPH L2 {num(result['mAPH_L2']).strip()}"
    )
    return "\n".join(lines)
