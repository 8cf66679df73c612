"""Validation during training: nuScenes-style detection metrics (mAP, NDS) over the whole val set."""

from ..det_eval import attach_eval_info, collect_detections, eval_config, has_attributes, sample_eval_info
from ..det_metrics import evaluate_detections, format_detection_table
from .base import HOOKS
from .evaluator import ValEvaluator


@HOOKS.register_module()
class DetEvaluator(ValEvaluator):
    """Detection validation (schedule and best-step rule of ``ValEvaluator``).

    Metrics are those of ``det_metrics.evaluate_detections`` (centre-distance AP at 0.5/1/2/4 m, TP
    errors, NDS) with the classes ``cfg.data.names``; the table is logged and ``val/mAP``,
    ``val/NDS``, ``val/AP_<class>`` go to tensorboard. When ``metric`` ("NDS" or "mAP") beats
    ``trainer.best_metric_value`` the trainer's ``is_best`` flag is set for the checkpoint saver.

    Args:
        interval: overrides the config's ``eval_interval``.
        metric: the metric that decides the best checkpoint.
        class_range: per-class evaluation range in metres (e.g. ``NUSCENES_CLASS_RANGE``); None =
            the config's ``test.class_range`` (the DetTester's, so that validation and test agree),
            else every distance.
        use_attributes: count the attribute error in NDS; None = the config's
            ``test.use_attributes``, else iff the GT carries ``gt_attrs``.

    Ranges are measured from the ego and bikes in racks are dropped where the val dataset gives
    ``eval_info`` (``det_eval.sample_eval_info``).
    """

    scalar_keys = ("mAP", "NDS", "loss")

    def __init__(self, interval=None, metric="NDS", class_range=None, use_attributes=None):
        if metric not in ("NDS", "mAP"):
            raise ValueError(f"metric must be 'NDS' or 'mAP', got {metric!r}")
        super().__init__(interval)
        self.metric = metric
        self.class_range = class_range
        self.use_attributes = use_attributes

    def format(self, metrics: dict) -> str:
        return format_detection_table(metrics)

    def scalars(self, metrics: dict) -> dict:
        return {**super().scalars(metrics), **{f"AP_{n}": ap for n, ap in metrics["class_ap"].items()}}

    def evaluate(self) -> dict:
        t = self.trainer
        names = t.cfg.data.get("names")
        if not names:
            raise ValueError("DetEvaluator needs the detection class names in data.names")
        gts, preds, sample_names, loss = collect_detections(
            t.model_without_ddp, t.val_loader, t.device, t.amp_dtype, names
        )
        dataset = getattr(t.val_loader, "dataset", None)
        dataset = getattr(dataset, "dataset", dataset)  # under SeededDataset
        attach_eval_info(gts, sample_eval_info(dataset, sample_names))
        test = t.cfg.get("test") or {}
        class_range = self.class_range if self.class_range is not None else test.get("class_range")
        use_attributes = (
            self.use_attributes if self.use_attributes is not None else test.get("use_attributes")
        )
        cfg = eval_config(names, class_range, use_attributes, has_attributes(gts))
        metrics = evaluate_detections(gts, preds, cfg)
        if loss is not None:
            metrics["loss"] = loss
        return metrics
