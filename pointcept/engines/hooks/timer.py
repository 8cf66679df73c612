"""Step timing and ETA."""

import time

from .base import HOOKS, HookBase


@HOOKS.register_module()
class IterationTimer(HookBase):
    """Puts ``data_time``, ``batch_time`` and ``eta_seconds`` into ``trainer.storage`` every step.

    ``batch_time`` runs from the start of data loading to the end of the optimizer step, so the
    time spent in evaluation or checkpoint hooks does not inflate the ETA. The first
    ``warmup_steps`` steps (allocator and worker start-up) are left out of the ETA average.
    """

    def __init__(self, warmup_steps: int = 1):
        self.warmup_steps = warmup_steps
        self._start = 0.0
        self._total = 0.0
        self._count = 0

    def before_step(self) -> None:
        self._start = time.perf_counter() - self.trainer.data_time

    def after_step(self) -> None:
        batch_time = time.perf_counter() - self._start
        storage = self.trainer.storage
        storage.put("data_time", self.trainer.data_time)
        storage.put("batch_time", batch_time)
        self._count += 1
        if self._count > self.warmup_steps:
            self._total += batch_time
            mean = self._total / (self._count - self.warmup_steps)
        else:
            mean = batch_time
        storage.put("eta_seconds", mean * (self.trainer.max_steps - self.trainer.step))
