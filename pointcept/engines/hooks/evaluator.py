"""Validation during training: the evaluator schedule and best-step rule, and semantic segmentation metrics."""

import torch

from pointcept.utils import comm

from ..amp import autocast
from ..launch import to_device
from ..metrics import format_metrics_table, intersection_and_union, summarize
from .base import HOOKS, HookBase


class ValEvaluator(HookBase):
    """Every ``interval`` steps (default: the config's ``eval_interval``) and at the last step, runs
    ``evaluate()`` on ``trainer.val_loader`` (a dict of metrics), logs ``format(metrics)``, writes
    ``scalars(metrics)`` to tensorboard as ``val/<key>``, and when ``metrics[metric]`` beats
    ``trainer.best_metric_value`` sets the trainer's ``is_best`` flag for the checkpoint saver
    that runs after this hook. Subclasses set ``metric`` and implement ``evaluate``/``format``."""

    metric = ""
    scalar_keys: tuple = ()

    def __init__(self, interval: int | None = None):
        self.interval = interval

    def after_step(self) -> None:
        t = self.trainer
        interval = self.interval or t.eval_interval
        if t.val_loader is None or (t.step % interval and t.step != t.max_steps):
            return
        metrics = self.evaluate()
        t.logger.info(f"Val at step {t.step}:\n{self.format(metrics)}")
        if t.writer is not None:
            for key, value in self.scalars(metrics).items():
                t.writer.add_scalar(f"val/{key}", value, t.step)
        if metrics[self.metric] > t.best_metric_value:
            t.best_metric_value, t.best_metric_name = metrics[self.metric], self.metric
            t.is_best = True
            t.logger.info(f"new best {self.metric} {metrics[self.metric]:.4f} at step {t.step}")

    def scalars(self, metrics: dict) -> dict:
        """What goes to tensorboard as ``val/<key>``: the ``scalar_keys`` present in ``metrics``."""
        return {key: metrics[key] for key in self.scalar_keys if key in metrics}

    def evaluate(self) -> dict:
        raise NotImplementedError

    def format(self, metrics: dict) -> str:
        raise NotImplementedError


@HOOKS.register_module()
class SemSegEvaluator(ValEvaluator):
    """Semantic segmentation validation (schedule and best-step rule of ``ValEvaluator``).

    The model in eval mode must return ``seg_logits`` (Tensor[N, num_classes]) for the batch; the
    prediction is compared with the batch's ``segment``. Counts are summed over batches and ranks,
    then per-class IoU, mIoU, mAcc and allAcc are logged (and ``val/*`` written to tensorboard);
    the best step is the one with the highest mIoU.
    """

    metric = "mIoU"
    scalar_keys = ("mIoU", "mAcc", "allAcc", "loss")

    def format(self, metrics: dict) -> str:
        return format_metrics_table(metrics, self.trainer.cfg.data.get("names"))

    @torch.no_grad()
    def evaluate(self) -> dict:
        t = self.trainer
        model = t.model_without_ddp
        was_training = model.training
        model.eval()
        k = int(t.cfg.data.num_classes)
        ignore = int(t.cfg.data.get("ignore_index", -1))
        counts = torch.zeros(3, k, dtype=torch.int64, device=t.device)
        loss = torch.zeros(2, dtype=torch.float64, device=t.device)
        for batch in t.val_loader:
            batch = to_device(batch, t.device)
            with autocast(t.device, t.amp_dtype):
                out = model(batch)
            pred = out["seg_logits"].argmax(dim=1)
            counts += torch.stack(intersection_and_union(pred, batch["segment"], k, ignore))
            if "loss" in out:
                loss += torch.stack([out["loss"].detach().double(), loss.new_ones(())])
        model.train(was_training)
        comm.all_reduce(counts)
        comm.all_reduce(loss)
        metrics = summarize(counts[0], counts[1], counts[2])
        if loss[1] > 0:
            metrics["loss"] = float(loss[0] / loss[1])
        return metrics
