"""nuScenes detection metrics over a set of samples: AP per class and distance threshold, TP errors,
mAP, NDS, and the per-class table (numpy only; rules of ``matching``).

As the devkit's ``DetectionEval``:

* before matching (``filter_samples``), GT boxes with 0 points (``num_points``) are dropped; where
  ``class_range`` gives a class a range, GT and predictions of that class not nearer than it are
  dropped; bicycle and motorcycle GT and predictions whose centre lies in one of the sample's
  ``bicycle_racks`` are dropped. Distances are measured as the devkit does, ``|(p_global -
  t_ego)[:2]|``: a GT sample's optional ``range_frame`` (4x4) maps the boxes' frame to that
  ego-centred frame with global axes (``ego_to_global`` rotation @ ``lidar_to_ego``); without it,
  from the origin of the boxes' frame. ``bicycle_racks`` (K, 9) are boxes in the boxes' frame,
  upright there, containment inclusive in 3D as the devkit's ``points_in_box``;
* AP of a class = mean of ``calc_ap`` over ``dist_ths`` (0.5, 1, 2, 4 m); mAP = mean over classes;
* TP errors of a class come from the matches at ``dist_th_tp`` (2 m); "traffic_cone" has no
  orientation, velocity or attribute error and "barrier" no velocity or attribute error (NaN, and
  a barrier's heading is compared modulo pi);
* a TP error over classes is the NaN-mean of the per-class errors; its score is
  ``max(0, 1 - error)``, and NDS = ``(mean_ap_weight * mAP + sum of TP scores) /
  (mean_ap_weight + number of TP metrics)``.

One deviation, off by default for nuScenes: ``use_attributes=False`` leaves the attribute error
out of NDS (datasets without attributes, e.g. the demo data, where the devkit would count it as 1).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .matching import TP_METRICS, accumulate, calc_ap, calc_tp

NUSCENES_CLASS_RANGE = {
    "car": 50, "truck": 50, "bus": 50, "trailer": 50, "construction_vehicle": 50, "pedestrian": 40,
    "motorcycle": 40, "bicycle": 40, "traffic_cone": 30, "barrier": 30,
}  # fmt: skip
"""The devkit's ``detection_cvpr_2019`` evaluation ranges, metres."""

TP_ABBREVIATIONS = dict(
    trans_err="mATE", scale_err="mASE", orient_err="mAOE", vel_err="mAVE", attr_err="mAAE"
)
_NO_TP = {"traffic_cone": ("attr_err", "vel_err", "orient_err"), "barrier": ("attr_err", "vel_err")}


@dataclass
class DetectionEvalConfig:
    """Evaluation settings (defaults = the devkit's ``detection_cvpr_2019``, without ranges)."""

    class_names: Sequence[str]
    dist_ths: Sequence[float] = (0.5, 1.0, 2.0, 4.0)
    dist_th_tp: float = 2.0
    min_recall: float = 0.1
    min_precision: float = 0.1
    mean_ap_weight: float = 5.0
    class_range: Mapping[str, float] | None = None
    use_attributes: bool = True
    tp_metrics: Sequence[str] = field(default=TP_METRICS)

    def __post_init__(self):
        self.class_names = [str(c) for c in self.class_names]
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        if self.dist_th_tp not in self.dist_ths:
            raise ValueError(f"dist_th_tp {self.dist_th_tp} must be one of dist_ths {tuple(self.dist_ths)}")
        if not self.use_attributes:
            self.tp_metrics = tuple(m for m in self.tp_metrics if m != "attr_err")


BICYCLE_RACK_CLASSES = ("bicycle", "motorcycle")
"""Classes the devkit removes inside bicycle racks."""
SAMPLE_KEYS = ("range_frame", "bicycle_racks")
"""Per-sample (not per-box) entries of a GT sample dict."""


def filter_samples(gts: list[dict], preds: list[dict], cfg: DetectionEvalConfig) -> tuple[list, list]:
    """Drop empty GT boxes, GT/predictions beyond their class range and bikes in racks (module docstring)."""
    cycles = [c for c, name in enumerate(cfg.class_names) if name in BICYCLE_RACK_CLASSES]

    def keep(sample: dict, mask: np.ndarray) -> dict:
        n = len(mask)
        return {
            k: (
                np.asarray(v)[mask]
                if k not in SAMPLE_KEYS and v is not None and np.ndim(v) and len(v) == n
                else v
            )
            for k, v in sample.items()
        }

    def kept(sample: dict, frame: np.ndarray | None, racks: np.ndarray | None) -> np.ndarray:
        labels = np.asarray(sample["labels"])
        ok = (labels >= 0) & (labels < len(cfg.class_names))
        boxes = np.asarray(sample["boxes"], dtype=np.float64).reshape(-1, 9)
        if cfg.class_range:
            xy = boxes[:, :2] if frame is None else boxes[:, :3] @ frame[:2, :3].T + frame[:2, 3]
            limit = np.array([cfg.class_range.get(c, np.inf) for c in cfg.class_names] + [np.inf])
            ok &= np.hypot(xy[:, 0], xy[:, 1]) < limit[np.where(ok, labels, -1)]
        if racks is not None and len(racks) and cycles:
            from pointcept.datasets.boxes import points_in_boxes

            cycle = np.isin(labels, cycles)
            in_rack = np.zeros(len(boxes), dtype=bool)
            in_rack[cycle] = points_in_boxes(boxes[cycle, :3], racks).any(axis=1)
            ok &= ~in_rack
        return ok

    out_g, out_p = [], []
    for g, p in zip(gts, preds):
        frame = g.get("range_frame")
        frame = None if frame is None else np.asarray(frame, dtype=np.float64).reshape(4, 4)
        racks = g.get("bicycle_racks")
        racks = None if racks is None else np.asarray(racks, dtype=np.float64).reshape(-1, 9)
        mask = kept(g, frame, racks)
        if g.get("num_points") is not None:
            mask &= np.asarray(g["num_points"]) > 0
        out_g.append(keep(g, mask))
        out_p.append(keep(p, kept(p, frame, racks)))
    return out_g, out_p


def evaluate_detections(gts: list[dict], preds: list[dict], cfg: DetectionEvalConfig) -> dict:
    """Metrics of ``preds`` against ``gts`` (per-sample dicts of ``matching``'s docstring, plus an
    optional GT ``num_points``).

    Returns ``dict(ap={class: {dist_th: AP}}, class_ap={class: AP}, tp={class: {metric: error}},
    mAP, tp_errors={metric: error}, tp_scores={metric: score}, NDS, num_gt={class: n},
    num_pred={class: n})``.
    """
    if len(gts) != len(preds):
        raise ValueError(f"gts and preds must list the same samples, got {len(gts)} and {len(preds)}")
    gts, preds = filter_samples(gts, preds, cfg)
    ap, tp, num_gt, num_pred = {}, {}, {}, {}
    for c, name in enumerate(cfg.class_names):
        period = np.pi if name == "barrier" else 2 * np.pi
        curves = {th: accumulate(gts, preds, c, th, period) for th in cfg.dist_ths}
        ap[name] = {th: calc_ap(md, cfg.min_recall, cfg.min_precision) for th, md in curves.items()}
        md = curves[cfg.dist_th_tp]
        tp[name] = {
            m: (math.nan if m in _NO_TP.get(name, ()) else calc_tp(md, m, cfg.min_recall))
            for m in cfg.tp_metrics
        }
        num_gt[name] = sum(int((np.asarray(g["labels"]) == c).sum()) for g in gts)
        num_pred[name] = sum(int((np.asarray(p["labels"]) == c).sum()) for p in preds)
    class_ap = {name: float(np.mean(list(d.values()))) for name, d in ap.items()}
    m_ap = float(np.mean(list(class_ap.values())))
    tp_errors = {}
    for m in cfg.tp_metrics:
        vals = np.array([tp[name][m] for name in cfg.class_names], dtype=float)
        tp_errors[m] = float(np.nanmean(vals)) if not np.isnan(vals).all() else math.nan
    # max(0, 1 - NaN) is 0, as the devkit's max(0.0, nan).
    tp_scores = {m: (0.0 if math.isnan(e) else max(0.0, 1.0 - e)) for m, e in tp_errors.items()}
    nds = (cfg.mean_ap_weight * m_ap + sum(tp_scores.values())) / (cfg.mean_ap_weight + len(tp_scores))
    return dict(
        ap=ap,
        class_ap=class_ap,
        tp=tp,
        mAP=m_ap,
        tp_errors=tp_errors,
        tp_scores=tp_scores,
        NDS=float(nds),
        num_gt=num_gt,
        num_pred=num_pred,
    )


def format_detection_table(result: dict) -> str:
    """Per-class table (AP at each threshold, AP, TP errors, GT/pred counts) with mAP, errors and NDS."""
    names = list(result["ap"])
    ths = list(next(iter(result["ap"].values())))
    metrics = list(result["tp_errors"])

    def num(x: float) -> str:
        return "   nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:6.3f}"

    width = max([5] + [len(n) for n in names])
    head = (
        f"{'class':<{width}} "
        + " ".join(f"AP@{th:g}".rjust(6) for th in ths)
        + "     AP "
        + " ".join(TP_ABBREVIATIONS[m][1:].rjust(6) for m in metrics)
        + "   #gt  #pred"
    )
    lines = [head, "-" * len(head)]
    for n in names:
        lines.append(
            f"{n:<{width}} "
            + " ".join(num(result["ap"][n][th]) for th in ths)
            + " "
            + num(result["class_ap"][n])
            + " "
            + " ".join(num(result["tp"][n][m]) for m in metrics)
            + f" {result['num_gt'][n]:5d} {result['num_pred'][n]:6d}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"mAP {result['mAP']:.4f}  "
        + "  ".join(f"{TP_ABBREVIATIONS[m]} {num(result['tp_errors'][m]).strip()}" for m in metrics)
        + f"  NDS {result['NDS']:.4f}"
    )
    return "\n".join(lines)
