"""3x3x3 submanifold convolution (the CPE of PTv3) with a neighbour table built once per level."""

import torch

from pointcept.ops import reference
from pointcept.ops._backend import use_fused
from pointcept.ops._checks import FLOAT_DTYPES, check_offset, check_rows, check_tensor
from pointcept.ops.reference import MAX_CLOUDS, MAX_GRID_COORD

TAPS = 27


def submconv_neighbours(grid_coord: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Neighbour table of a 3x3x3 submanifold convolution over the voxels of every cloud.

    Tap ``k = 9 (dx + 1) + 3 (dy + 1) + (dz + 1)`` (spconv's weight order) holds the row of the
    voxel at ``grid_coord + (dx, dy, dz)`` in the same cloud, or -1 when no row holds it; a voxel
    held by several rows resolves to the lowest of them. Tap ``26 - k`` is the mirrored offset.

    Args:
        grid_coord (Tensor[N, 3] int32 | int64): voxel coordinates in ``[0, 65535]`` per axis.
        offset (Tensor[B] int64): cloud offsets (cumulative, ``offset[-1] == N``), B <= 32768.

    Returns:
        Tensor[N, 27] int64.
    """
    check_tensor("grid_coord", grid_coord, dtypes=(torch.int32, torch.int64), ndim=2)
    device = grid_coord.device
    check_rows("grid_coord", grid_coord, len(grid_coord), columns=3)
    check_offset(offset, len(grid_coord), device)
    if len(offset) > MAX_CLOUDS:
        raise ValueError(f"offset may hold at most {MAX_CLOUDS} clouds, got {len(offset)}")
    grid_coord = grid_coord.long()
    if use_fused("submconv_neighbours", device):
        # The kernels check the grid range (same ValueError as below).
        return torch.ops.dos_ops.submconv_neighbours(grid_coord, offset)
    if len(grid_coord) > 0:
        low, high = (int(v) for v in torch.aminmax(grid_coord))
        if low < 0 or high > MAX_GRID_COORD:
            raise ValueError(
                f"grid_coord must lie in [0, {MAX_GRID_COORD}] (16 bits per axis), got values in [{low}, {high}]"
            )
    return reference.submconv_neighbours(grid_coord, offset)


def submconv(
    feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, neighbours: torch.Tensor
) -> torch.Tensor:
    """``out[i] = sum_k W_k feat[neighbours[i, k]] + bias``: a 3x3x3 submanifold convolution.

    Same result as spconv's ``SubMConv3d`` with the same weight on the same voxels; ``feat``,
    ``weight`` and ``bias`` are differentiable.

    Args:
        feat (Tensor[N, C_in] float).
        weight (Tensor[C_out, 3, 3, 3, C_in]): spconv's layout, dtype of ``feat``.
        bias (Tensor[C_out] | None): dtype of ``feat``.
        neighbours (Tensor[N, 27] int64): from ``submconv_neighbours``.

    Returns:
        Tensor[N, C_out] of ``feat``'s dtype.
    """
    check_tensor("feat", feat, dtypes=FLOAT_DTYPES, ndim=2)
    device = feat.device
    num_rows, c_in = feat.shape
    check_tensor("weight", weight, dtypes=(feat.dtype,), ndim=5, device=device)
    if tuple(weight.shape[1:]) != (3, 3, 3, c_in):
        raise ValueError(f"weight must have shape (C_out, 3, 3, 3, {c_in}), got {tuple(weight.shape)}")
    if bias is not None:
        check_tensor("bias", bias, dtypes=(feat.dtype,), ndim=1, device=device)
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    check_tensor("neighbours", neighbours, dtypes=(torch.int64,), ndim=2, device=device)
    check_rows("neighbours", neighbours, num_rows, columns=TAPS)
    if use_fused("submconv", device):
        return torch.ops.dos_ops.submconv(feat, weight, bias, neighbours)
    return reference.submconv(feat, weight, bias, neighbours)
