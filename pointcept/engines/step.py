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
from collections.abc import Sequence

import torch
from torch.nn.parallel import DistributedDataParallel

from .amp import autocast
from .launch import to_device
from .storage import ScalarStorage


def _forward(model, batch, device, amp_dtype, forward_kwargs, step_number) -> dict:
    batch = to_device(batch, device)
    with autocast(device, amp_dtype):
        output = model(batch, **(forward_kwargs or {}))
    if not isinstance(output, dict) or "loss" not in output:
        raise TypeError(f"the model must return a dict with 'loss' in training, got {type(output).__name__}")
    loss = output["loss"]
    if not torch.isfinite(loss.detach()):
        where = f" at step {step_number}" if step_number is not None else ""
        raise FloatingPointError(f"loss is {loss.item()}{where}")
    return output


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
) -> dict:
    """Forward ``batch`` (moved to ``device``) under autocast, backward through ``scaler``, clip
    the gradient norm to ``clip_grad`` (if set), step ``optimizer``, ``scaler`` and ``scheduler``.

    ``batch`` is one batch or a list of k micro-batches accumulated into this one optimizer step
    (module doc). ``model(batch, **forward_kwargs)`` must return a dict with a finite scalar
    ``"loss"`` (TypeError / FloatingPointError otherwise, before the optimizer steps;
    ``step_number`` only names the step in that message). Returns the output with its tensors
    detached (merged over micro-batches, see :func:`_merge`). If ``storage`` is given it receives
    ``grad_norm`` (when clipping), every 0-d tensor of the output and ``lr`` (the largest group lr
    after the scheduler step).
    """
    micro_batches = [batch] if isinstance(batch, dict) else list(batch)
    if not micro_batches:
        raise ValueError("train_step needs at least one batch")
    k = len(micro_batches)
    optimizer.zero_grad(set_to_none=True)
    outputs = []
    for i, micro in enumerate(micro_batches):
        sync = i == k - 1 or not isinstance(model, DistributedDataParallel)
        with contextlib.nullcontext() if sync else model.no_sync():
            output = _forward(model, micro, device, amp_dtype, forward_kwargs, step_number)
            loss = output["loss"] if k == 1 else output["loss"] / k
            scaler.scale(loss).backward()
        outputs.append({key: v.detach() if isinstance(v, torch.Tensor) else v for key, v in output.items()})
        del output, loss
    if clip_grad:
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip_grad))
        if storage is not None:
            storage.put("grad_norm", float(norm))
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
    output = _merge(outputs)
    if storage is not None:
        for key, value in output.items():
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                storage.put(key, float(value))
        storage.put("lr", max(g["lr"] for g in optimizer.param_groups))
    return output
