"""3D detection metrics (numpy only): nuScenes centre-distance AP, TP errors and NDS with the
official devkit's rules, the per-class table, and the nuScenes submission JSON."""

from .matching import TP_METRICS, MetricData, accumulate, calc_ap, calc_tp
from .nuscenes_eval import (
    NUSCENES_CLASS_RANGE,
    DetectionEvalConfig,
    evaluate_detections,
    filter_samples,
    format_detection_table,
)
from .submission import attribute_ids, sample_results, write_submission

__all__ = [
    "NUSCENES_CLASS_RANGE",
    "TP_METRICS",
    "DetectionEvalConfig",
    "MetricData",
    "accumulate",
    "attribute_ids",
    "calc_ap",
    "calc_tp",
    "evaluate_detections",
    "filter_samples",
    "format_detection_table",
    "sample_results",
    "write_submission",
]
