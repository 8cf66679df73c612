"""nuScenes detection matching and its curve summaries (numpy only): ``accumulate``, ``calc_ap``,
``calc_tp``.

These follow the rules of the official devkit (``nuscenes.eval.detection.algo``) to the letter, so
that results agree with it to floating-point rounding (tests/test_det_metrics_parity.py):

* the predictions of one class, over all samples, are ranked by descending score; equal scores
  rank the later prediction (in sample order, then box order) first;
* in rank order, a prediction takes the nearest (BEV centre distance) untaken GT box of its class
  in its sample (the first one on a distance tie) and is a true positive if that distance is
  ``< dist_th``; otherwise it is a false positive;
* precision, and the score, are interpolated at 101 recall points in [0, 1] (0 beyond the
  largest recall reached); the TP errors of the matches are cumulative means in rank order
  (NaN-aware; all-NaN gives 1), re-sampled at the interpolated scores;
* ``calc_ap`` averages ``max(precision - min_precision, 0)`` over recalls above ``min_recall`` and
  divides by ``1 - min_precision``; ``calc_tp`` averages an error over recalls above
  ``min_recall`` up to the largest recall reached (1.0 when that is below ``min_recall``).

A sample is a dict of numpy arrays: ``boxes`` (M, 9) in the ``pointcept.datasets.boxes``
convention, ``labels`` (M,) int, ``attrs`` (M,) int (attribute id, -1 = none; optional), and for
predictions ``scores`` (M,) float.
"""

from typing import NamedTuple

import numpy as np

NELEM = 101
"""Recall points of the interpolated curves (0, 0.01, ..., 1)."""

TP_METRICS = ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")


class MetricData(NamedTuple):
    """Interpolated curves of one class at one distance threshold, each (101,) float64."""

    recall: np.ndarray
    precision: np.ndarray
    confidence: np.ndarray
    trans_err: np.ndarray
    vel_err: np.ndarray
    scale_err: np.ndarray
    orient_err: np.ndarray
    attr_err: np.ndarray

    @classmethod
    def no_predictions(cls) -> "MetricData":
        """Zero precision and unit errors: the class has no GT box, or no prediction matched."""
        ones = np.ones(NELEM)
        return cls(np.linspace(0, 1, NELEM), np.zeros(NELEM), np.zeros(NELEM), ones, ones, ones, ones, ones)

    @property
    def max_recall_ind(self) -> int:
        """Index of the largest recall reached: the last non-zero interpolated score (0 if none)."""
        nonzero = np.flatnonzero(self.confidence)
        return int(nonzero[-1]) if len(nonzero) else 0


def cummean(x: np.ndarray) -> np.ndarray:
    """Cumulative mean ignoring NaNs; all NaN -> ones."""
    x = np.asarray(x, dtype=float)
    if np.isnan(x).all():
        return np.ones(len(x))
    sums = np.nancumsum(x)
    counts = np.cumsum(~np.isnan(x))
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts != 0)


def angle_diff(x: np.ndarray, y: np.ndarray, period: float) -> np.ndarray:
    """Signed smallest difference ``x - y`` of angles with the given period, in (-pi, pi]."""
    diff = (x - y + period / 2) % period - period / 2
    return np.where(diff > np.pi, diff - 2 * np.pi, diff)


def scale_iou(gt_size: np.ndarray, pred_size: np.ndarray) -> np.ndarray:
    """IoU of boxes aligned at the same centre and heading, from sizes (..., 3) (any fixed order)."""
    inter = np.prod(np.minimum(gt_size, pred_size), axis=-1)
    return inter / (np.prod(gt_size, axis=-1) + np.prod(pred_size, axis=-1) - inter)


def _match_sample(gt_xy: np.ndarray, pred_xy: np.ndarray, dist_th: float) -> np.ndarray:
    """Greedy matching in one sample; preds in rank order. Returns (K,) GT index or -1."""
    match = np.full(len(pred_xy), -1, dtype=np.int64)
    if len(gt_xy) == 0:
        return match
    d = pred_xy[:, None, :] - gt_xy[None, :, :]
    dist = np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1])
    taken = np.zeros(len(gt_xy), dtype=bool)
    for k in range(len(pred_xy)):
        row = np.where(taken, np.inf, dist[k])
        j = int(np.argmin(row))
        if row[j] < dist_th:
            taken[j] = True
            match[k] = j
    return match


def accumulate(
    gts: list[dict], preds: list[dict], class_id: int, dist_th: float, orient_period: float = 2 * np.pi
) -> MetricData:
    """Match the predictions of ``class_id`` to GT at centre distance ``dist_th`` (module docstring).

    gts, preds: one dict per sample, aligned (sample i of ``preds`` is sample i of ``gts``).
    ``orient_period``: pi for classes whose heading is ambiguous by 180 degrees (barrier).
    """
    if len(gts) != len(preds):
        raise ValueError(f"gts and preds must list the same samples, got {len(gts)} and {len(preds)}")
    npos = sum(int((np.asarray(g["labels"]) == class_id).sum()) for g in gts)
    if npos == 0:
        return MetricData.no_predictions()
    # Rank all predictions of the class: descending score, later position first on ties.
    sample_of, index_of, scores = [], [], []
    for s, p in enumerate(preds):
        idx = np.flatnonzero(np.asarray(p["labels"]) == class_id)
        sample_of.append(np.full(len(idx), s))
        index_of.append(idx)
        scores.append(np.asarray(p["scores"], dtype=np.float64)[idx])
    sample_of, index_of, scores = map(np.concatenate, (sample_of, index_of, scores))
    position = np.arange(len(scores))
    rank = np.lexsort((position, scores))[::-1]
    tp = np.zeros(len(rank), dtype=bool)
    matched_gt = np.full(len(rank), -1, dtype=np.int64)
    # Matches never compete across samples, so each sample is matched on its own in rank order.
    for s in np.unique(sample_of):
        in_rank = np.flatnonzero(sample_of[rank] == s)
        gt_idx = np.flatnonzero(np.asarray(gts[s]["labels"]) == class_id)
        pred_boxes = np.asarray(preds[s]["boxes"], dtype=np.float64)[index_of[rank[in_rank]]]
        gt_boxes = np.asarray(gts[s]["boxes"], dtype=np.float64)[gt_idx]
        m = _match_sample(gt_boxes[:, :2], pred_boxes[:, :2], dist_th)
        tp[in_rank] = m >= 0
        matched_gt[in_rank[m >= 0]] = gt_idx[m[m >= 0]]
    if not tp.any():
        return MetricData.no_predictions()

    conf = scores[rank]
    tps = np.cumsum(tp).astype(float)
    fps = np.cumsum(~tp).astype(float)
    prec = tps / (fps + tps)
    rec = tps / float(npos)
    rec_interp = np.linspace(0, 1, NELEM)
    prec = np.interp(rec_interp, rec, prec, right=0)
    conf_interp = np.interp(rec_interp, rec, conf, right=0)

    # Errors of the matches, in rank order.
    hits = np.flatnonzero(tp)
    g_boxes, p_boxes, g_attr, p_attr = [], [], [], []
    for r in hits:
        s, gi = sample_of[rank[r]], matched_gt[r]
        g, p = gts[s], preds[s]
        g_boxes.append(np.asarray(g["boxes"], dtype=np.float64)[gi])
        p_boxes.append(np.asarray(p["boxes"], dtype=np.float64)[index_of[rank[r]]])
        g_attr.append(int(g["attrs"][gi]) if g.get("attrs") is not None else -1)
        p_attr.append(int(p["attrs"][index_of[rank[r]]]) if p.get("attrs") is not None else -1)
    g_boxes, p_boxes = np.stack(g_boxes), np.stack(p_boxes)
    g_attr, p_attr = np.asarray(g_attr), np.asarray(p_attr)
    d = p_boxes[:, :2] - g_boxes[:, :2]
    dv = p_boxes[:, 7:9] - g_boxes[:, 7:9]
    errors = dict(
        trans_err=np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]),
        vel_err=np.sqrt(dv[:, 0] * dv[:, 0] + dv[:, 1] * dv[:, 1]),
        scale_err=1 - scale_iou(g_boxes[:, 3:6], p_boxes[:, 3:6]),
        orient_err=np.abs(angle_diff(_wrap(g_boxes[:, 6]), _wrap(p_boxes[:, 6]), orient_period)),
        attr_err=np.where(g_attr < 0, np.nan, (g_attr != p_attr).astype(float)),
    )
    match_conf = conf[hits]
    curves = {
        key: np.interp(conf_interp[::-1], match_conf[::-1], cummean(val)[::-1])[::-1]
        for key, val in errors.items()
    }
    return MetricData(recall=rec_interp, precision=prec, confidence=conf_interp, **curves)


def _wrap(yaw: np.ndarray) -> np.ndarray:
    """Yaw in (-pi, pi], as the devkit reads it back from a quaternion."""
    return np.arctan2(np.sin(yaw), np.cos(yaw))


def calc_ap(md: MetricData, min_recall: float = 0.1, min_precision: float = 0.1) -> float:
    """Average precision above ``min_recall``, precision clipped at ``min_precision`` and rescaled."""
    if not (0 <= min_precision < 1 and 0 <= min_recall <= 1):
        raise ValueError(
            f"need 0 <= min_precision < 1 and 0 <= min_recall <= 1, got {min_precision}, {min_recall}"
        )
    prec = np.copy(md.precision)[round(100 * min_recall) + 1 :] - min_precision
    prec[prec < 0] = 0
    return float(np.mean(prec)) / (1.0 - min_precision)


def calc_tp(md: MetricData, metric_name: str, min_recall: float = 0.1) -> float:
    """Mean of a TP error over recalls above ``min_recall`` up to the largest recall reached."""
    if metric_name not in TP_METRICS:
        raise ValueError(f"metric_name must be one of {TP_METRICS}, got {metric_name!r}")
    first = round(100 * min_recall) + 1
    last = md.max_recall_ind
    if last < first:
        return 1.0
    return float(np.mean(getattr(md, metric_name)[first : last + 1]))
