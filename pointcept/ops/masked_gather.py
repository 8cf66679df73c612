"""Compact several per-point tensors by a keep mask in one pass."""

from collections.abc import Sequence

import torch

from pointcept.ops import reference
from pointcept.ops._backend import use_fused
from pointcept.ops._checks import check_offset, check_rows, check_tensor


def masked_gather(
    tensors: Sequence[torch.Tensor], keep: torch.Tensor, offset: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Keep the rows of every per-point tensor where ``keep`` is true.

    Args:
        tensors (Sequence[Tensor[N, ...]]): per-point tensors of any dtype and trailing shape, on the
            device of ``keep``. Floating tensors are differentiable: the backward pass scatters the
            gradient to the kept rows and zeros the others.
        keep (Tensor[N] bool): rows to keep.
        offset (Tensor[B] int64): cloud offsets of the input (cumulative, ``offset[-1] == N``).

    Returns:
        gathered (list[Tensor[M, ...]]): the kept rows of each tensor, in input order.
        kept_index (Tensor[M] int64): increasing input rows that were kept.
        new_offset (Tensor[B] int64): cloud offsets of the output; a cloud may become empty.
    """
    if isinstance(tensors, torch.Tensor) or not isinstance(tensors, Sequence):
        raise TypeError(f"tensors must be a list or tuple of tensors, got {type(tensors).__name__}")
    check_tensor("keep", keep, dtypes=(torch.bool,), ndim=1)
    num_rows = len(keep)
    tensors = list(tensors)
    for i, x in enumerate(tensors):
        check_tensor(f"tensors[{i}]", x, device=keep.device)
        if x.dim() == 0:
            raise ValueError(f"tensors[{i}] must have a leading dimension of N={num_rows} rows, got a scalar")
        check_rows(f"tensors[{i}]", x, num_rows)
    check_offset(offset, num_rows, keep.device)
    if use_fused("masked_gather", keep.device):
        gathered, kept_index, new_offset = torch.ops.dos_ops.masked_gather(tensors, keep, offset)
        return list(gathered), kept_index, new_offset
    return reference.masked_gather(tensors, keep, offset)
