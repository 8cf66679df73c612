"""Console progress lines and tensorboard scalars / histograms."""

import datetime

import torch

from pointcept.utils import comm

from .base import HOOKS, HookBase

_TIMING = ("data_time", "batch_time", "eta_seconds", "lr", "grad_norm")


@HOOKS.register_module()
class InformationWriter(HookBase):
    """Every ``log_interval`` steps (and at the last step): one console line and tensorboard events.

    The line shows ``step/max_steps``, the window average of every scalar the model returned
    (all-reduced over ranks), the learning rate, data/batch time and the ETA. Tensorboard gets
    ``train/<key>`` scalars, ``params/lr``, and a histogram ``train/<key>`` for every 1-D tensor in
    the model output (e.g. prototype usage). ``hist_interval`` additionally writes parameter
    histograms ``params/<name>`` every that many steps.
    """

    def __init__(self, hist_interval: int | None = None):
        self.hist_interval = hist_interval

    def after_step(self) -> None:
        t = self.trainer
        if t.step % t.log_interval and t.step != t.max_steps:
            return
        storage = t.storage
        keys = [k for k in storage.names() if k not in _TIMING]
        values = comm.all_reduce_dict({k: storage.avg(k) for k in keys}, op="mean", device=t.device)
        parts = [f"Train: [{t.step}/{t.max_steps}] epoch {t.epoch}"]
        parts += [f"{k}: {v:.4f}" for k, v in values.items()]
        parts.append(f"lr: {storage.latest('lr', 0.0):.4e}")
        if "grad_norm" in storage.names():
            parts.append(f"grad_norm: {storage.avg('grad_norm'):.3f}")
        if "batch_time" in storage.names():
            parts.append(f"data: {storage.avg('data_time'):.3f}s batch: {storage.avg('batch_time'):.3f}s")
            eta = int(storage.latest("eta_seconds", 0.0))
            parts.append(f"ETA: {datetime.timedelta(seconds=eta)}")
        t.logger.info(" ".join(parts))
        if t.writer is not None:
            for k, v in values.items():
                t.writer.add_scalar(f"train/{k}", v, t.step)
            t.writer.add_scalar("params/lr", storage.latest("lr", 0.0), t.step)
            for k, v in t.output.items():
                if isinstance(v, torch.Tensor) and v.dim() == 1 and v.numel() > 0:
                    t.writer.add_histogram(f"train/{k}", v.float().cpu().numpy(), t.step)
            if self.hist_interval and t.step % self.hist_interval == 0:
                for name, p in t.model_without_ddp.named_parameters():
                    t.writer.add_histogram(f"params/{name}", p.detach().float().cpu().numpy(), t.step)
        storage.reset()
