"""Distributed helpers that also work in a single process without ``init_process_group``.

Every collective in the code base goes through here. Without an initialised process group, the
world has size 1 and each function is the identity (or a no-op for ``barrier``).
"""

import os
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_local_rank() -> int:
    """Rank within the node (``LOCAL_RANK`` from torchrun), 0 without a launcher."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` in place over all ranks and return it. ``op``: ``"sum"`` or ``"mean"``.

    With NCCL the tensor must be on the current CUDA device; with gloo on the CPU.
    """
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    world = get_world_size()
    if world > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        if op == "mean":
            tensor.div_(world)
    return tensor


def all_reduce_dict(
    values: dict[str, float | torch.Tensor], op: str = "mean", device=None
) -> dict[str, float]:
    """Reduce a dict of scalars (same keys on every rank) in one collective; returns python floats."""
    keys = sorted(values)
    if not keys:
        return {}
    flat = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    all_reduce(flat, op)
    return dict(zip(keys, flat.tolist()))


def all_gather(obj: Any) -> list[Any]:
    """Gather a picklable object from every rank; returns a list indexed by rank."""
    world = get_world_size()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Return rank ``src``'s ``obj`` on every rank."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
