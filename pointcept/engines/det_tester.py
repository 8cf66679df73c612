"""Evaluation of a detection checkpoint on ``data.test`` (``tools/test.py`` with ``test.type="DetTester"``).

The test dataset is a plain (non-test-mode) pipeline that yields whole scans with their boxes, as
the val set does. Outputs, in ``save_path``: the per-class table in ``test.log``,
``metrics.json`` (AP per class and threshold, TP errors, mAP, NDS, counts; with ``metric="waymo"``
the results of ``det_metrics.evaluate_waymo``: AP/APH per IoU type, class and level) and
``result/submission.json`` in the nuScenes submission format. Where the dataset has
``eval_info(i)`` (``NuScenesDataset``; ``det_eval.sample_eval_info``) the results are keyed by
``sample_token`` with boxes in the global frame, as the official server takes them, and the
evaluation measures ranges from the ego and drops bikes in racks; otherwise they are keyed by
sample name with boxes in the frame of the sample's points. The test pipeline must not move the
points (no augmentation), so that predictions are in the reader's LiDAR frame.
"""

import copy
import json
import math
import os

import torch

from pointcept.utils import comm
from pointcept.utils.registry import ConfigError

from .det_eval import METRICS, check_metric, evaluate_model, format_results
from .det_metrics import sample_results, write_submission
from .sampler import EvalBatchSampler, SeededCollate, SeededDataset
from .tester import TESTERS, SemSegTester


@TESTERS.register_module()
class DetTester(SemSegTester):
    """Detection tester (module docstring).

    Args:
        cfg: the full config (``model``, ``data.test``, ``data.names``, ``weight``, ``save_path``).
        batch_size: scans per forward pass.
        class_range: per-class evaluation range in metres, None = all.
        use_attributes: count the attribute error in NDS; None = iff the GT carries ``gt_attrs``.
        submission: write ``result/submission.json``.
        metric: "nuscenes" (centre-distance AP, NDS) or "waymo" (rotated-IoU AP/APH per difficulty
            level; no class_range/use_attributes); ``DetEvaluator`` follows it.
        metric_options: further fields of the metric's config (``det_metrics.WaymoEvalConfig``,
            e.g. ``iou_thresholds``; ``DetectionEvalConfig``), also followed by ``DetEvaluator``.
        model, key_map: as for ``SemSegTester``.
    """

    def __init__(
        self,
        cfg,
        batch_size: int = 1,
        class_range: dict | None = None,
        use_attributes: bool | None = None,
        submission: bool = True,
        metric: str = "nuscenes",
        metric_options: dict | None = None,
        model=None,
        key_map: dict | None = None,
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        self.class_range = class_range
        self.use_attributes = use_attributes
        self.submission = bool(submission)
        if metric not in METRICS:
            raise ConfigError(f"test.metric must be one of {METRICS}, got {metric!r}")
        self.metric, self.metric_options = metric, metric_options
        super().__init__(cfg, save_predictions=False, model=model, key_map=key_map)

    def build_dataset(self):
        from pointcept.datasets import build_dataset

        test_cfg = copy.deepcopy(self.cfg.data.get("test"))
        if test_cfg is None:
            raise ConfigError("config has no data.test")
        if test_cfg.get("test_mode"):
            raise ConfigError("DetTester evaluates whole scans: data.test must not set test_mode=True")
        self.skip_errors = False
        return build_dataset(test_cfg, where="data.test")

    def test(self) -> dict:
        from pointcept.datasets import collate_fn

        cfg = self.cfg
        names = cfg.data.get("names")
        if not names:
            raise ConfigError("DetTester needs the detection class names in data.names")
        try:
            check_metric(names, self.metric, self.class_range, self.use_attributes, self.metric_options)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"test (DetTester, metric={self.metric!r}): {e}") from e
        sampler = EvalBatchSampler(
            len(self.dataset),
            self.batch_size,
            int(cfg.get("seed") or 0),
            comm.get_rank(),
            comm.get_world_size(),
        )
        loader = torch.utils.data.DataLoader(
            SeededDataset(self.dataset), batch_sampler=sampler, collate_fn=SeededCollate(collate_fn)
        )
        gts, preds, infos, metrics, _ = evaluate_model(
            self.model, loader, self.dataset, self.device, self.amp_dtype, names, self.metric,
            self.class_range, self.use_attributes, self.metric_options,
        )  # fmt: skip
        self.logger.info(f"Test result ({len(gts)} scans):\n" + format_results(metrics))
        if comm.is_main_process():
            self.write_outputs(metrics, gts, preds, infos, names)
        comm.barrier()
        return metrics

    def write_outputs(self, metrics, gts, preds, infos, names) -> None:
        def clean(x):
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            return None if isinstance(x, float) and math.isnan(x) else x

        out = dict(weight=self.cfg.get("weight"), num_scans=len(gts), **clean(metrics))
        path = os.path.join(self.cfg.save_path, "metrics.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=2)
        self.logger.info(f"wrote {path}")
        if self.submission:
            results = {
                info["sample_token"]: sample_results(
                    info["sample_token"], p["boxes"], p["scores"], p["labels"], names, info["lidar_to_global"]
                )
                for info, p in zip(infos, preds)
            }
            path = write_submission(os.path.join(self.cfg.save_path, "result", "submission.json"), results)
            self.logger.info(f"wrote {path}")
