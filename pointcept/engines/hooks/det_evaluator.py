"""Validation during training: detection metrics (nuScenes mAP/NDS or Waymo AP/APH) over the whole val set."""

from ..det_eval import HEADLINE, check_metric, evaluate_model, format_results
from .base import HOOKS
from .evaluator import ValEvaluator


@HOOKS.register_module()
class DetEvaluator(ValEvaluator):
    """Detection validation (schedule and best-step rule of ``ValEvaluator``).

    The metric set is the config's ``test.metric`` (the DetTester's, so that validation and test
    agree; with its ``test.metric_options``): "nuscenes" (default; ``det_metrics.evaluate_detections``,
    centre-distance AP at 0.5/1/2/4 m, TP errors, NDS; ``val/mAP``, ``val/NDS``, ``val/AP_<class>``
    to tensorboard) or "waymo" (``det_metrics.evaluate_waymo``; ``val/mAP[H]_L1``, ``val/mAP[H]_L2``
    (3D IoU), ``val/APH_L2_<class>``), with the classes ``cfg.data.names``; the table is logged.
    When ``metric`` beats ``trainer.best_metric_value`` the trainer's ``is_best`` flag is set for
    the checkpoint saver.

    Args:
        interval: overrides the config's ``eval_interval``.
        metric: the metric that decides the best checkpoint: "NDS" or "mAP" (nuScenes), "mAPH_L2",
            "mAP_L2", "mAPH_L1" or "mAP_L1" (Waymo); None = "NDS" / "mAPH_L2".
        class_range: per-class evaluation range in metres (e.g. ``NUSCENES_CLASS_RANGE``); None =
            the config's ``test.class_range`` (the DetTester's, so that validation and test agree),
            else every distance.
        use_attributes: count the attribute error in NDS; None = the config's
            ``test.use_attributes``, else iff the GT carries ``gt_attrs``.

    Ranges are measured from the ego and bikes in racks are dropped where the val dataset gives
    ``eval_info`` (``det_eval.sample_eval_info``).
    """

    scalar_keys = ("mAP", "NDS", "mAP_L1", "mAPH_L1", "mAP_L2", "mAPH_L2", "loss")

    def __init__(self, interval=None, metric=None, class_range=None, use_attributes=None):
        known = [k for keys in HEADLINE.values() for k in keys]
        if metric is not None and metric not in known:
            raise ValueError(f"metric must be one of {known}, got {metric!r}")
        super().__init__(interval)
        self.best_key = metric
        self.metric = metric or "NDS"
        self.class_range = class_range
        self.use_attributes = use_attributes

    def format(self, metrics: dict) -> str:
        return format_results(metrics)

    def scalars(self, metrics: dict) -> dict:
        if metrics.get("metric") == "waymo":
            per_class = {f"APH_L2_{n}": v["LEVEL_2"] for n, v in metrics["aph"]["3d"].items()}
        else:
            per_class = {f"AP_{n}": ap for n, ap in metrics["class_ap"].items()}
        return {**super().scalars(metrics), **per_class}

    def evaluate(self) -> dict:
        t = self.trainer
        names = t.cfg.data.get("names")
        if not names:
            raise ValueError("DetEvaluator needs the detection class names in data.names")
        test = t.cfg.get("test") or {}
        kind = test.get("metric") or "nuscenes"
        if kind in HEADLINE and self.best_key not in (None, *HEADLINE[kind]):
            raise ValueError(
                f"DetEvaluator metric {self.best_key!r} is not one of the {kind} metrics {HEADLINE[kind]}"
            )
        self.metric = self.best_key or HEADLINE.get(kind, ("NDS",))[0]
        class_range = self.class_range if self.class_range is not None else test.get("class_range")
        use_attributes = (
            self.use_attributes if self.use_attributes is not None else test.get("use_attributes")
        )
        options = test.get("metric_options")
        check_metric(names, kind, class_range, use_attributes, options)
        dataset = getattr(t.val_loader, "dataset", None)
        dataset = getattr(dataset, "dataset", dataset)  # under SeededDataset
        *_, metrics, loss = evaluate_model(
            t.model_without_ddp, t.val_loader, dataset, t.device, t.amp_dtype, names, kind, class_range,
            use_attributes, options,
        )  # fmt: skip
        if loss is not None:
            metrics["loss"] = loss
        return metrics
