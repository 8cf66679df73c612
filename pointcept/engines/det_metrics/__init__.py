"""3D detection metrics (numpy only): nuScenes centre-distance AP, TP errors and NDS with the
official devkit's rules, the per-class table, and the nuScenes submission JSON; Waymo-style
AP/APH with rotated 3D/BEV IoU per difficulty level (``waymo_eval``)."""

from .matching import TP_METRICS, MetricData, accumulate, calc_ap, calc_tp
from .nuscenes_eval import (
    NUSCENES_CLASS_RANGE,
    DetectionEvalConfig,
    evaluate_detections,
    filter_samples,
    format_detection_table,
)
from .submission import attribute_ids, sample_results, write_submission
from .waymo_eval import (
    WAYMO_IOU_THRESHOLDS,
    WAYMO_SCORE_CUTOFFS,
    WaymoEvalConfig,
    envelope_ap,
    evaluate_waymo,
    format_waymo_table,
    waymo_curves,
)

__all__ = [
    "NUSCENES_CLASS_RANGE",
    "TP_METRICS",
    "WAYMO_IOU_THRESHOLDS",
    "WAYMO_SCORE_CUTOFFS",
    "WaymoEvalConfig",
    "DetectionEvalConfig",
    "MetricData",
    "accumulate",
    "attribute_ids",
    "calc_ap",
    "calc_tp",
    "envelope_ap",
    "evaluate_detections",
    "evaluate_waymo",
    "filter_samples",
    "format_detection_table",
    "format_waymo_table",
    "waymo_curves",
    "sample_results",
    "write_submission",
]
