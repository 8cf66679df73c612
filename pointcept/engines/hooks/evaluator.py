"""Validation during training: semantic segmentation metrics over the whole val set."""

import torch

from pointcept.utils import comm

from ..amp import autocast
from ..launch import to_device
from ..metrics import format_metrics_table, intersection_and_union, summarize
from .base import HOOKS, HookBase


@HOOKS.register_module()
class SemSegEvaluator(HookBase):
    """Every ``eval_interval`` steps (and at the last step) evaluates on ``trainer.val_loader``.

    The model in eval mode must return ``seg_logits`` (Tensor[N, num_classes]) for the batch; the
    prediction is compared with the batch's ``segment``. Counts are summed over batches and ranks,
    then per-class IoU, mIoU, mAcc and allAcc are logged (and ``val/*`` written to tensorboard). When
    mIoU beats ``trainer.best_metric_value`` the trainer's ``is_best`` flag is set for the checkpoint
    saver that runs after this hook.
    """

    def __init__(self, interval: int | None = None):
        self.interval = interval

    def after_step(self) -> None:
        t = self.trainer
        interval = self.interval or t.eval_interval
        if t.val_loader is None or (t.step % interval and t.step != t.max_steps):
            return
        metrics = self.evaluate()
        t.logger.info(
            "Val at step {}:\n{}".format(t.step, format_metrics_table(metrics, t.cfg.data.get("names")))
        )
        if t.writer is not None:
            for key in ("mIoU", "mAcc", "allAcc", "loss"):
                if key in metrics:
                    t.writer.add_scalar(f"val/{key}", metrics[key], t.step)
        if metrics["mIoU"] > t.best_metric_value:
            t.best_metric_value, t.best_metric_name = metrics["mIoU"], "mIoU"
            t.is_best = True
            t.logger.info(f"new best mIoU {metrics['mIoU']:.4f} at step {t.step}")

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
