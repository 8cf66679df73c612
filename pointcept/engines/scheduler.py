"""Learning-rate schedulers stepped once per optimizer step, and a cosine schedule function.

``build_scheduler`` injects ``total_steps`` (= ``max_steps``). Scheduler state is plain data so it
goes into weights-only checkpoints.
"""

import math

import torch

from pointcept.utils.registry import Registry, build_from_cfg

SCHEDULERS = Registry("schedulers")


def cosine_schedule(
    step: int, total_steps: int, base: float, final: float, warmup_steps: int = 0, warmup_start: float = 0.0
) -> float:
    """Linear warm-up ``warmup_start -> base`` over ``warmup_steps``, then a cosine ``base -> final``.

    Used for learning rates and for other scheduled values (EMA momentum, temperatures, weight
    decay). Past ``total_steps`` it returns ``final``.
    """
    if step < warmup_steps:
        return warmup_start + (base - warmup_start) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * progress))


@SCHEDULERS.register_module()
class OneCycleLR(torch.optim.lr_scheduler.OneCycleLR):
    """``torch.optim.lr_scheduler.OneCycleLR``; ``max_lr`` defaults to each param group's ``lr``.

    For short runs (smoke tests, demos) ``pct_start`` is clamped so that both phases are at least
    half a step long: torch divides by the length of each phase and fails on a zero-length one.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        max_lr=None,
        pct_start: float = 0.3,
        **kwargs,
    ):
        if total_steps < 2:
            raise ValueError(f"OneCycleLR needs total_steps >= 2, got {total_steps}")
        if max_lr is None:
            max_lr = [g["lr"] for g in optimizer.param_groups]
        # Phase 1 ends at pct_start * T - 1 and phase 2 at T - 1 (torch's step indexing).
        pct_start = min(max(pct_start, 1.5 / total_steps), 1.0 - 0.5 / total_steps)
        super().__init__(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, **kwargs)


@SCHEDULERS.register_module()
class CosineWarmupLR(torch.optim.lr_scheduler.LRScheduler):
    """Per group: linear warm-up from ``lr * warmup_factor`` to ``lr`` over ``warmup_steps``, then
    cosine decay to ``lr * final_factor`` at ``total_steps``.

    ``warmup_ratio`` (fraction of ``total_steps``) may be given instead of ``warmup_steps``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_steps: int | None = None,
        warmup_ratio: float = 0.0,
        warmup_factor: float = 0.0,
        final_factor: float = 0.0,
    ):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = total_steps
        self.warmup_steps = (
            int(round(warmup_ratio * total_steps)) if warmup_steps is None else int(warmup_steps)
        )
        self.warmup_factor, self.final_factor = warmup_factor, final_factor
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [
            cosine_schedule(
                self.last_epoch,
                self.total_steps,
                base=lr,
                final=lr * self.final_factor,
                warmup_steps=self.warmup_steps,
                warmup_start=lr * self.warmup_factor,
            )
            for lr in self.base_lrs
        ]


def build_scheduler(cfg: dict | None, optimizer: torch.optim.Optimizer, total_steps: int):
    """Build ``cfg`` from ``SCHEDULERS`` with ``optimizer`` and ``total_steps``; ``None`` -> None."""
    if cfg is None:
        return None
    return build_from_cfg(cfg, SCHEDULERS, where="scheduler", optimizer=optimizer, total_steps=total_steps)
