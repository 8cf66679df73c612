"""Mixed precision: autocast dtype and GradScaler from the config's ``amp_dtype`` and the device."""

import contextlib
import logging

import torch

logger = logging.getLogger("pointcept")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp_dtype(amp_dtype: str | None, device: torch.device) -> torch.dtype | None:
    """``None`` (full precision), ``"bf16"`` or ``"fp16"`` -> a dtype for ``device``.

    fp16 autocast on CPU is slow and lossy, so a CPU run falls back to bf16 with a warning; this
    keeps GPU configs runnable on a laptop.
    """
    if amp_dtype is None:
        return None
    if amp_dtype not in _DTYPES:
        raise ValueError(f"amp_dtype must be None, 'bf16' or 'fp16', got {amp_dtype!r}")
    if amp_dtype == "fp16" and device.type == "cpu":
        logger.warning("amp_dtype='fp16' is not supported on CPU; using bf16 autocast instead")
        return torch.bfloat16
    return _DTYPES[amp_dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``device.type`` (a no-op context when ``dtype`` is None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def build_grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler enabled only for fp16 (bf16 has fp32's range and needs no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
