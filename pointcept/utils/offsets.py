"""Conversions between ``offset``, ``batch`` and ``bincount`` on the input's device.

* ``offset`` (Tensor[B] int64): cumulative point counts per cloud, no leading zero.
* ``batch`` (Tensor[N] int64): cloud index of every point, non-decreasing.
* ``bincount`` (Tensor[B] int64): points per cloud.
"""

import torch


def offset2bincount(offset: torch.Tensor) -> torch.Tensor:
    """offset (Tensor[B]) -> bincount (Tensor[B])."""
    return torch.diff(offset, prepend=offset.new_zeros(1))


def offset2batch(offset: torch.Tensor) -> torch.Tensor:
    """offset (Tensor[B]) -> batch (Tensor[N]); empty clouds are allowed."""
    bincount = offset2bincount(offset)
    return torch.arange(len(bincount), device=offset.device, dtype=torch.long).repeat_interleave(bincount)


def batch2offset(batch: torch.Tensor, num_clouds: int | None = None) -> torch.Tensor:
    """batch (Tensor[N], non-decreasing) -> offset (Tensor[B]).

    ``num_clouds`` keeps trailing empty clouds, which ``batch`` alone cannot express.
    """
    minlength = 0 if num_clouds is None else num_clouds
    return torch.cumsum(torch.bincount(batch, minlength=minlength), dim=0)


def offset2start(offset: torch.Tensor) -> torch.Tensor:
    """offset (Tensor[B]) -> first row of every cloud (Tensor[B])."""
    return torch.cat([offset.new_zeros(1), offset[:-1]])
