"""One optimizer step: the single implementation shared by ``Trainer.run_step`` and the benchmarks.

Hooks run around it (``before_step`` / ``after_step``); anything scheduled, such as the DOS EMA
teacher update, belongs to a hook, not to this function.
"""

import math

import torch

from pointcept.utils.timing import PhaseTimer, phase

from .amp import autocast
from .launch import to_device
from .nonfinite import NonFiniteGuard
from .storage import ScalarStorage


def train_step(
    model: torch.nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    scheduler=None,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    clip_grad: float | None = None,
    forward_kwargs: dict | None = None,
    storage: ScalarStorage | None = None,
    step_number: int | None = None,
    nonfinite: NonFiniteGuard | None = None,
    timer: PhaseTimer | None = None,
) -> dict:
    """Forward ``batch`` (moved to ``device``) under autocast, backward through ``scaler``, clip
    the gradient norm to ``clip_grad`` (if set), step ``optimizer``, ``scaler`` and ``scheduler``.

    ``model(batch, **forward_kwargs)`` must return a dict with a scalar ``"loss"`` (TypeError
    otherwise). Without ``nonfinite`` a non-finite loss raises FloatingPointError before any
    gradient is touched; with it, the loss terms and the gradient norm are checked and the guard's
    policy applies (``nonfinite.py``; ``nonfinite.last_skipped`` tells whether the optimizer step
    was skipped). ``step_number`` names the step in messages. Returns the output with its tensors
    detached. If ``storage`` is given it receives ``grad_norm`` (when clipping), every 0-d tensor
    of the output and ``lr`` (the largest group lr after the scheduler step); nothing for a
    skipped step. With a ``timer`` the phases ``to_device``, ``forward``, ``backward`` and
    ``optimizer`` (clipping, checks, optimizer, scaler and scheduler steps) are timed; the results
    do not change.
    """
    with phase(timer, "to_device"):
        batch = to_device(batch, device)
    buffers = None
    if nonfinite is not None and nonfinite.policy == "skip":
        buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    with phase(timer, "forward"), autocast(device, amp_dtype):
        output = model(batch, **(forward_kwargs or {}))
    if not isinstance(output, dict) or "loss" not in output:
        raise TypeError(f"the model must return a dict with 'loss' in training, got {type(output).__name__}")
    loss = output["loss"]
    if nonfinite is None:
        if not torch.isfinite(loss.detach()):
            where = f" at step {step_number}" if step_number is not None else ""
            raise FloatingPointError(f"loss is {loss.item()}{where}")
        bad_terms = None
    else:
        bad_loss, terms = nonfinite.loss_verdict(output, device)
        bad_terms = terms if bad_loss else None
        if bad_loss and nonfinite.policy == "stop":
            nonfinite.reject(nonfinite.problem(step_number, terms, None))
    optimizer.zero_grad(set_to_none=True)
    # A skipped step still runs backward: under DDP every rank must join the gradient all-reduce.
    with phase(timer, "backward"):
        scaler.scale(loss).backward()
    with phase(timer, "optimizer"):
        updated = _update(
            model, optimizer, scaler, scheduler, clip_grad, storage, nonfinite, step_number, bad_terms
        )
    if not updated:
        with torch.no_grad():  # the skipped step leaves no trace in the buffers (e.g. BN statistics)
            for name, value in model.named_buffers():
                value.copy_(buffers[name])
        return _detached(output)
    output = _detached(output)
    if storage is not None:
        for key, value in output.items():
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                storage.put(key, float(value))
        storage.put("lr", max(g["lr"] for g in optimizer.param_groups))
    return output


def _update(
    model, optimizer, scaler, scheduler, clip_grad, storage, nonfinite, step_number, bad_terms
) -> bool:
    """Clip the gradient norm, apply the ``nonfinite`` policy (``bad_terms``: the non-finite loss
    terms, None when the loss is finite), then step the optimizer through the scaler and the
    scheduler. Returns False when the step was skipped (gradients cleared, nothing stepped)."""
    norm = None
    if clip_grad:
        scaler.unscale_(optimizer)
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip_grad)))
    elif nonfinite is not None and not scaler.is_enabled():
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
    # An enabled (fp16) GradScaler skips overflowing steps itself and lowers its scale.
    bad_grad = norm is not None and not math.isfinite(norm) and not scaler.is_enabled()
    if nonfinite is not None:
        if bad_terms is not None or bad_grad:
            nonfinite.reject(nonfinite.problem(step_number, bad_terms or {}, norm))
            optimizer.zero_grad(set_to_none=True)
            return False
        nonfinite.accept()
    if storage is not None and clip_grad:
        storage.put("grad_norm", norm)
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
    return True


def _detached(output: dict) -> dict:
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in output.items()}
