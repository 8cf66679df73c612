"""One optimizer step: the single implementation shared by ``Trainer.run_step`` and the benchmarks.

Hooks run around it (``before_step`` / ``after_step``); anything scheduled, such as the DOS EMA
teacher update, belongs to a hook, not to this function.
"""

import torch

from pointcept.utils.timing import PhaseTimer, phase

from .amp import autocast
from .launch import to_device
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
    timer: PhaseTimer | None = None,
) -> dict:
    """Forward ``batch`` (moved to ``device``) under autocast, backward through ``scaler``, clip
    the gradient norm to ``clip_grad`` (if set), step ``optimizer``, ``scaler`` and ``scheduler``.

    ``model(batch, **forward_kwargs)`` must return a dict with a finite scalar ``"loss"``
    (TypeError / FloatingPointError otherwise, before any gradient is touched; ``step_number``
    only names the step in that message). Returns the output with its tensors detached. If
    ``storage`` is given it receives ``grad_norm`` (when clipping), every 0-d tensor of the output
    and ``lr`` (the largest group lr after the scheduler step). With a ``timer`` the phases
    ``to_device``, ``forward``, ``backward`` and ``optimizer`` (clipping, optimizer, scaler and
    scheduler steps) are timed; the results do not change.
    """
    with phase(timer, "to_device"):
        batch = to_device(batch, device)
    with phase(timer, "forward"), autocast(device, amp_dtype):
        output = model(batch, **(forward_kwargs or {}))
    if not isinstance(output, dict) or "loss" not in output:
        raise TypeError(f"the model must return a dict with 'loss' in training, got {type(output).__name__}")
    loss = output["loss"]
    if not torch.isfinite(loss.detach()):
        where = f" at step {step_number}" if step_number is not None else ""
        raise FloatingPointError(f"loss is {loss.item()}{where}")
    optimizer.zero_grad(set_to_none=True)
    with phase(timer, "backward"):
        scaler.scale(loss).backward()
    with phase(timer, "optimizer"):
        _update(model, optimizer, scaler, scheduler, clip_grad, storage)
    output = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in output.items()}
    if storage is not None:
        for key, value in output.items():
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                storage.put(key, float(value))
        storage.put("lr", max(g["lr"] for g in optimizer.param_groups))
    return output


def _update(model, optimizer, scaler, scheduler, clip_grad, storage) -> None:
    """Clip the gradient norm (recording ``grad_norm``), step the optimizer through the scaler,
    then the scheduler."""
    if clip_grad:
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip_grad))
        if storage is not None:
            storage.put("grad_norm", float(norm))
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
