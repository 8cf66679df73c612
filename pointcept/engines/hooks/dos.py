"""DOS schedules: EMA momentum, teacher temperature, block-mask warm-up and weight decay."""

from pointcept.engines.scheduler import cosine_schedule

from .base import HOOKS, HookBase


@HOOKS.register_module()
class DOSScheduleHook(HookBase):
    """Drive the scheduled quantities of a ``DOS`` model from ``trainer.step``.

    * ``before_step``: puts ``tau_t`` (linear warm-up ``tau_t_start -> tau_t`` over
      ``tau_t_warmup_ratio`` of the steps, then constant), ``mask_size`` and ``mask_ratio`` (linear
      ``*_start -> final`` with progress ``p = min(step / (mask_warmup_ratio * max_steps), 1)``,
      i.e. ``start + (final - start) * p``) into ``trainer.forward_kwargs``, and sets the weight
      decay (cosine ``weight_decay_start -> weight_decay_end``) of every optimizer group that had a
      non-zero weight decay when training started.
    * ``after_step``: ``model.update_teacher(m)`` with ``m`` a cosine ``momentum_start ->
      momentum_end`` over all steps; nothing after a step that ``trainer.step_skipped``.

    Every value is a pure function of ``trainer.step``, so a resumed run continues the schedule
    exactly; the model never reads trainer state. Current values go to ``trainer.storage``
    (``sched/...``) for logging.

    Args:
        momentum_start, momentum_end (float): EMA momentum of the teacher, in [0, 1].
        tau_t_start, tau_t (float): teacher temperature at step 0 and after the warm-up, > 0.
        tau_t_warmup_ratio (float): fraction of ``max_steps`` of the tau_t warm-up, in [0, 1].
        mask_size_start, mask_size (float): block-masking cube side (``origin_coord`` units) at step
            0 and after the warm-up, > 0; ``mask_size_start=None`` means no warm-up of the size.
        mask_ratio_start, mask_ratio (float): fraction of cubes masked at step 0 and after the
            warm-up, in [0, 1); ``mask_ratio_start=None`` means no warm-up of the ratio.
        mask_warmup_ratio (float): fraction of ``max_steps`` of the mask warm-up, in [0, 1].
        weight_decay_start, weight_decay_end (float | None): cosine weight decay; both None leaves
            the optimizer's weight decay alone.
    """

    def __init__(
        self,
        momentum_start: float = 0.994,
        momentum_end: float = 1.0,
        tau_t_start: float = 0.04,
        tau_t: float = 0.07,
        tau_t_warmup_ratio: float = 0.05,
        mask_size_start: float | None = None,
        mask_size: float = 1.0,
        mask_ratio_start: float | None = None,
        mask_ratio: float = 0.7,
        mask_warmup_ratio: float = 0.05,
        weight_decay_start: float | None = 0.04,
        weight_decay_end: float | None = 0.2,
    ):
        for name, value in (
            ("tau_t_warmup_ratio", tau_t_warmup_ratio),
            ("mask_warmup_ratio", mask_warmup_ratio),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DOSScheduleHook: {name} must be in [0, 1], got {value}")
        if not (0.0 <= momentum_start <= 1.0 and 0.0 <= momentum_end <= 1.0):
            raise ValueError(
                f"DOSScheduleHook: momenta must be in [0, 1], got {momentum_start} -> {momentum_end}"
            )
        if not (tau_t_start > 0 and tau_t > 0):
            raise ValueError(f"DOSScheduleHook: temperatures must be > 0, got {tau_t_start} -> {tau_t}")
        mask_size_start = mask_size if mask_size_start is None else mask_size_start
        mask_ratio_start = mask_ratio if mask_ratio_start is None else mask_ratio_start
        # The ranges block_mask accepts, checked here so that a bad config fails before training.
        for name, value in (("mask_size", mask_size), ("mask_size_start", mask_size_start)):
            if not value > 0:
                raise ValueError(f"DOSScheduleHook: {name} must be > 0, got {value}")
        for name, value in (("mask_ratio", mask_ratio), ("mask_ratio_start", mask_ratio_start)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"DOSScheduleHook: {name} must be in [0, 1), got {value}")
        if (weight_decay_start is None) != (weight_decay_end is None):
            raise ValueError("DOSScheduleHook: give both weight_decay_start and weight_decay_end, or neither")
        self.momentum_start = momentum_start
        self.momentum_end = momentum_end
        self.tau_t_start = tau_t_start
        self.tau_t = tau_t
        self.tau_t_warmup_ratio = tau_t_warmup_ratio
        self.mask_size_start = float(mask_size_start)
        self.mask_size = float(mask_size)
        self.mask_ratio_start = float(mask_ratio_start)
        self.mask_ratio = float(mask_ratio)
        self.mask_warmup_ratio = mask_warmup_ratio
        self.weight_decay_start = weight_decay_start
        self.weight_decay_end = weight_decay_end
        self.decayed_groups: list[int] = []

    def before_train(self) -> None:
        model = self.trainer.model_without_ddp
        if not callable(getattr(model, "update_teacher", None)):
            raise TypeError(
                f"DOSScheduleHook needs a model with update_teacher(momentum), got {type(model).__name__}"
            )
        # Groups exempt from weight decay (biases, norms) stay exempt.
        self.decayed_groups = [
            i for i, g in enumerate(self.trainer.optimizer.param_groups) if g["weight_decay"] > 0
        ]

    def values(self, step: int, max_steps: int) -> dict[str, float]:
        """Scheduled values for the optimizer step that follows ``step`` completed steps."""
        warmup = round(self.tau_t_warmup_ratio * max_steps)
        tau_t = cosine_schedule(step, max_steps, self.tau_t, self.tau_t, warmup, self.tau_t_start)
        mask_steps = self.mask_warmup_ratio * max_steps
        p = min(step / mask_steps, 1.0) if mask_steps > 0 else 1.0
        out = dict(
            tau_t=tau_t,
            mask_size=self.mask_size_start + (self.mask_size - self.mask_size_start) * p,
            mask_ratio=self.mask_ratio_start + (self.mask_ratio - self.mask_ratio_start) * p,
        )
        if self.weight_decay_start is not None:
            out["weight_decay"] = cosine_schedule(
                step, max_steps, self.weight_decay_start, self.weight_decay_end
            )
        return out

    def momentum(self, step: int, max_steps: int) -> float:
        """EMA momentum applied after ``step`` completed optimizer steps."""
        return cosine_schedule(step, max_steps, self.momentum_start, self.momentum_end)

    def before_step(self) -> None:
        t = self.trainer
        values = self.values(t.step, t.max_steps)
        for key in ("tau_t", "mask_size", "mask_ratio"):
            t.forward_kwargs[key] = values[key]
        if "weight_decay" in values:
            for i in self.decayed_groups:
                t.optimizer.param_groups[i]["weight_decay"] = values["weight_decay"]
        for key, value in values.items():
            t.storage.put(f"sched/{key}", value)

    def after_step(self) -> None:
        t = self.trainer
        if getattr(t, "step_skipped", False):
            return  # a non-finite step skipped by the nonfinite policy updates nothing
        momentum = self.momentum(t.step, t.max_steps)
        t.model_without_ddp.update_teacher(momentum)
        t.storage.put("sched/momentum", momentum)
