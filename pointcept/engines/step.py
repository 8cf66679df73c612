"""One optimizer step: the single implementation shared by ``Trainer.run_step`` and the benchmarks.

Hooks run around it (``before_step`` / ``after_step``); anything scheduled, such as the DOS EMA
teacher update, belongs to a hook, not to this function.

Gradient accumulation: a step over k micro-batches backpropagates ``loss_i / k`` for each of them
(so the gradient is that of the mean of the k losses: for a per-sample-mean loss on equal
micro-batches, exactly the gradient of one batch of all their samples) and then steps the
optimizer, scaler and scheduler once. Under ``DistributedDataParallel`` the first k-1 backward
passes run in ``no_sync()``, so gradients are all-reduced once per optimizer step.
"""

import contextlib
import math
from collections.abc import Sequence

import torch
from torch.nn.parallel import DistributedDataParallel

from pointcept.utils.timing import PhaseTimer, phase

from .amp import autocast
from .launch import to_device
from .nonfinite import NonFiniteGuard
from .storage import ScalarStorage


def _forward(model, batch, device, amp_dtype, forward_kwargs, timer) -> dict:
    with phase(timer, "to_device"):
        batch = to_device(batch, device)
    with phase(timer, "forward"), autocast(device, amp_dtype):
        output = model(batch, **(forward_kwargs or {}))
    if not isinstance(output, dict) or "loss" not in output:
        raise TypeError(f"the model must return a dict with 'loss' in training, got {type(output).__name__}")
    return output


def _check_loss(output: dict, nonfinite, device, step_number) -> dict | None:
    """None when the loss is finite; else the non-finite loss terms (``{}``: on another rank).
    Without ``nonfinite`` a non-finite loss raises FloatingPointError; with policy "stop" the guard
    raises."""
    loss = output["loss"]
    if nonfinite is None:
        if not torch.isfinite(loss.detach()):
            where = f" at step {step_number}" if step_number is not None else ""
            raise FloatingPointError(f"loss is {loss.item()}{where}")
        return None
    bad_loss, terms = nonfinite.loss_verdict(output, device)
    if bad_loss and nonfinite.policy == "stop":
        nonfinite.reject(nonfinite.problem(step_number, terms, None))
    return terms if bad_loss else None


def _merge(outputs: list[dict]) -> dict:
    """The step's output from its micro-batches' (detached) outputs: a floating-point tensor that
    has the same shape in every micro-batch is their mean (loss terms, usage histograms); any other
    value is the last micro-batch's."""
    if len(outputs) == 1:
        return outputs[0]
    merged = dict(outputs[-1])
    for key, last in outputs[-1].items():
        values = [o.get(key) for o in outputs]
        if (
            isinstance(last, torch.Tensor)
            and last.is_floating_point()
            and all(isinstance(v, torch.Tensor) and v.shape == last.shape for v in values)
        ):
            merged[key] = torch.stack(values).mean(0)
    return merged


def train_step(
    model: torch.nn.Module,
    batch: dict | Sequence[dict],
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

    ``batch`` is one batch or a list of k micro-batches accumulated into this one optimizer step
    (module doc). ``model(batch, **forward_kwargs)`` must return a dict with a scalar ``"loss"``
    (TypeError otherwise). Without ``nonfinite`` a non-finite loss raises FloatingPointError before
    the optimizer steps; with it, the loss terms and the gradient norm are checked and the guard's
    policy applies (``nonfinite.py``; ``nonfinite.last_skipped`` tells whether the optimizer step
    was skipped). ``step_number`` names the step in messages. Returns the output with its tensors
    detached (merged over micro-batches, see :func:`_merge`). If ``storage`` is given it receives
    ``grad_norm`` (when clipping), every 0-d tensor of the output and ``lr`` (the largest group lr
    after the scheduler step); nothing for a skipped step. With a ``timer`` the phases
    ``to_device``, ``forward``, ``backward`` and ``optimizer`` (clipping, checks, optimizer, scaler
    and scheduler steps) are timed; the results do not change.
    """
    micro_batches = [batch] if isinstance(batch, dict) else list(batch)
    if not micro_batches:
        raise ValueError("train_step needs at least one batch")
    k = len(micro_batches)
    buffers = None
    if nonfinite is not None and nonfinite.policy == "skip":
        buffers = {name: v.detach().clone() for name, v in model.named_buffers()}
    optimizer.zero_grad(set_to_none=True)
    outputs, bad_terms = [], None
    for i, micro in enumerate(micro_batches):
        sync = i == k - 1 or not isinstance(model, DistributedDataParallel)
        with contextlib.nullcontext() if sync else model.no_sync():
            output = _forward(model, micro, device, amp_dtype, forward_kwargs, timer)
            bad = _check_loss(output, nonfinite, device, step_number)
            if bad is not None:
                bad_terms = {**(bad_terms or {}), **bad}
            loss = output["loss"] if k == 1 else output["loss"] / k
            # A skipped step still runs backward: under DDP every rank must join the all-reduce.
            with phase(timer, "backward"):
                scaler.scale(loss).backward()
        outputs.append({key: v.detach() if isinstance(v, torch.Tensor) else v for key, v in output.items()})
        del output, loss
    with phase(timer, "optimizer"):
        updated = _update(
            model, optimizer, scaler, scheduler, clip_grad, storage, nonfinite, step_number, bad_terms
        )
    output = _merge(outputs)
    if not updated:
        with torch.no_grad():  # the skipped step leaves no trace in the buffers (e.g. BN statistics)
            for name, value in model.named_buffers():
                value.copy_(buffers[name])
        return output
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
