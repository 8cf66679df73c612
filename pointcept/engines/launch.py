"""Device selection and process-group setup for runs launched by ``torchrun`` (or not at all).

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
a plain ``python tools/train.py`` sets none of them and runs as a single process. The backend
follows the device: NCCL for CUDA, gloo for CPU.
"""

import logging
import os
from typing import Any

import torch
import torch.distributed as dist

from pointcept.utils import comm

logger = logging.getLogger("pointcept")


def select_device(name: str | None = None) -> torch.device:
    """``None``/``"auto"`` -> ``cuda:LOCAL_RANK`` if CUDA is available, else ``cpu``; else ``name``."""
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init_distributed(device: torch.device) -> bool:
    """Join the process group described by torchrun's environment, if any; idempotent.

    Returns True when running with more than one process.
    """
    if comm.is_distributed():
        return comm.get_world_size() > 1
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method="env://")
    logger.info(f"initialised {backend} process group: rank {comm.get_rank()} of {comm.get_world_size()}")
    return True


def destroy_distributed() -> None:
    if comm.is_distributed():
        dist.destroy_process_group()


def to_device(data: Any, device: torch.device) -> Any:
    """Move every tensor inside nested dicts/lists to ``device``."""
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=True)
    if isinstance(data, dict):
        return {k: to_device(v, device) for k, v in data.items()}
    if isinstance(data, list):
        return [to_device(v, device) for v in data]
    return data
