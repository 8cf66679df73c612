"""What a training step does when its loss or gradients are not finite (config key ``nonfinite``).

* ``policy="stop"`` (default): the step raises :class:`NonFiniteError` naming the step and the
  non-finite loss term(s) (or the gradient norm) before the optimizer touches the weights, so the
  last checkpoint and the weights in memory are the ones of the previous step.
* ``policy="skip"``: the step's gradients are dropped and the optimizer, scheduler, AMP scaler and
  EMA teacher (hooks read ``trainer.step_skipped``) are not updated; model buffers (BatchNorm
  statistics) are restored to their values before the forward pass. The step still counts (the
  batch is consumed), a warning is logged, and the counters go into the checkpoint. More than
  ``max_skips`` skipped steps in a row raise :class:`NonFiniteError`.

The loss terms checked are the 0-d floating tensors of the model output whose key starts with
``loss``. Gradients are checked through their total norm, except under an enabled fp16 GradScaler,
whose own step skipping handles overflowing gradients. Under DDP the loss verdict is all-reduced,
so every rank takes the same decision (gradients are identical on every rank after backward).
"""

import logging
import math

import torch

from pointcept.utils import comm
from pointcept.utils.errors import NonFiniteError
from pointcept.utils.registry import ConfigError

logger = logging.getLogger("pointcept")

POLICIES = ("stop", "skip")


def nonfinite_loss_terms(output: dict) -> dict[str, float]:
    """``{key: value}`` of the loss terms (0-d float tensors, key ``loss*``) that are NaN or Inf."""
    bad = {}
    for key, value in output.items():
        if (
            key.startswith("loss")
            and isinstance(value, torch.Tensor)
            and value.dim() == 0
            and value.is_floating_point()
            and not torch.isfinite(value.detach())
        ):
            bad[key] = float(value.detach())
    return bad


def nonfinite_tensor(state: dict) -> str | None:
    """Name of the first floating tensor of ``state`` holding NaN/Inf, or None if all are finite."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            return key
    return None


class NonFiniteGuard:
    """Applies the ``nonfinite`` policy; keeps the skip counters (saved in checkpoints)."""

    def __init__(self, policy: str = "stop", max_skips: int = 10):
        if policy not in POLICIES:
            raise ConfigError(f"nonfinite.policy must be one of {POLICIES}, got {policy!r}")
        if isinstance(max_skips, bool) or not isinstance(max_skips, int) or max_skips < 0:
            raise ConfigError(f"nonfinite.max_skips must be an integer >= 0, got {max_skips!r}")
        self.policy, self.max_skips = policy, max_skips
        self.skipped_total = 0
        self.skipped_in_a_row = 0
        self.last_skipped = False

    @classmethod
    def from_config(cls, value: dict | None) -> "NonFiniteGuard":
        value = dict(value or {})
        unknown = sorted(set(value) - {"policy", "max_skips"})
        if unknown:
            raise ConfigError(f"nonfinite has unknown key(s) {unknown}; expected policy, max_skips")
        return cls(**value)

    def loss_verdict(self, output: dict, device: torch.device) -> tuple[bool, dict[str, float]]:
        """``(any rank has a non-finite loss term, this rank's non-finite terms)``."""
        bad = nonfinite_loss_terms(output)
        flag = torch.tensor([1.0 if bad else 0.0], device=device)
        return comm.all_reduce(flag).item() > 0, bad

    def problem(self, step: int, bad_terms: dict[str, float], grad_norm: float | None) -> str:
        if bad_terms:
            what = "non-finite loss term(s) " + ", ".join(f"{k} = {v}" for k, v in bad_terms.items())
        elif grad_norm is not None and not math.isfinite(grad_norm):
            what = f"non-finite gradient norm {grad_norm}"
        else:
            what = "a non-finite loss on another rank"
        return f"step {step}: {what}"

    def reject(self, problem: str) -> None:
        """Handle a non-finite step: raise (``stop``, or too many skips) or count and log it."""
        unchanged = "the weights were not updated and the last checkpoint is intact"
        if self.policy == "stop":
            raise NonFiniteError(
                f"{problem}; the run stopped ({unchanged}). Lower the learning rate, enable clip_grad, "
                "or set nonfinite=dict(policy='skip') to skip such steps"
            )
        self.skipped_in_a_row += 1
        self.skipped_total += 1
        self.last_skipped = True
        if self.skipped_in_a_row > self.max_skips:
            raise NonFiniteError(
                f"{problem}; {self.skipped_in_a_row} non-finite steps in a row, more than "
                f"nonfinite.max_skips={self.max_skips}: the run stopped ({unchanged})"
            )
        logger.warning(
            f"{problem}; step skipped (no optimizer/scheduler/EMA update; "
            f"{self.skipped_in_a_row} in a row, {self.skipped_total} in total, max_skips={self.max_skips})"
        )

    def accept(self) -> None:
        self.skipped_in_a_row = 0
        self.last_skipped = False

    def state_dict(self) -> dict:
        return dict(skipped_total=self.skipped_total, skipped_in_a_row=self.skipped_in_a_row)

    def load_state_dict(self, state: dict) -> None:
        self.skipped_total = int(state["skipped_total"])
        self.skipped_in_a_row = int(state["skipped_in_a_row"])
