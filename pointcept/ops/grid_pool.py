"""Pool the points of every cloud into cells of ``stride`` grid units."""

import torch

from pointcept.ops import reference
from pointcept.ops._backend import use_fused
from pointcept.ops._checks import FLOAT_DTYPES, check_int, check_offset, check_rows, check_tensor
from pointcept.ops.reference import MAX_CLOUDS, MAX_GRID_COORD, GridPoolResult

REDUCTIONS = ("max", "mean")


def grid_pool(
    grid_coord: torch.Tensor,
    offset: torch.Tensor,
    feat: torch.Tensor,
    coord: torch.Tensor,
    stride: int = 2,
    reduce: str = "max",
) -> GridPoolResult:
    """Pool points into the cells ``grid_coord // stride`` of each cloud.

    Cells are ordered by the packed key (cloud, x, y, z), lexicographically. ``feat`` and ``coord``
    are differentiable; the gradient of ``max`` goes to the lowest input row holding the maximum.

    Args:
        grid_coord (Tensor[N, 3] int32 | int64): voxel coordinates in ``[0, 65535]`` per axis.
        offset (Tensor[B] int64): cloud offsets (cumulative, ``offset[-1] == N``), B <= 32768.
        feat (Tensor[N, C] float): features to pool with ``reduce``.
        coord (Tensor[N, 3] float): coordinates, averaged per cell.
        stride (int): cell size in grid units, >= 1.
        reduce (str): ``"max"`` or ``"mean"`` for ``feat``.

    Returns:
        GridPoolResult with ``feat (M, C)``, ``coord (M, 3)``, ``grid_coord (M, 3) int64``,
        ``cluster (N,)``, ``idx_ptr (M + 1,)``, ``head (M,)`` and ``offset (B,)``; see its docstring.
    """
    check_tensor("grid_coord", grid_coord, dtypes=(torch.int32, torch.int64), ndim=2)
    device = grid_coord.device
    num_rows = len(grid_coord)
    check_rows("grid_coord", grid_coord, num_rows, columns=3)
    check_tensor("feat", feat, dtypes=FLOAT_DTYPES, ndim=2, device=device)
    check_rows("feat", feat, num_rows)
    check_tensor("coord", coord, dtypes=FLOAT_DTYPES, ndim=2, device=device)
    check_rows("coord", coord, num_rows, columns=3)
    check_offset(offset, num_rows, device)
    if len(offset) > MAX_CLOUDS:
        raise ValueError(f"offset may hold at most {MAX_CLOUDS} clouds, got {len(offset)}")
    check_int("stride", stride, minimum=1)
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    grid_coord = grid_coord.long()
    if use_fused("grid_pool", device):
        # The kernels check the grid range in a pass they make anyway (same ValueError as below).
        # The argmax is only needed for the backward pass of max.
        with_argmax = reduce == "max" and torch.is_grad_enabled() and feat.requires_grad
        out = torch.ops.dos_ops.grid_pool(grid_coord, offset, feat, coord, stride, reduce, with_argmax)
        return GridPoolResult(*out[:7])
    if num_rows > 0:
        low, high = (int(v) for v in torch.aminmax(grid_coord))
        if low < 0 or high > MAX_GRID_COORD:
            raise ValueError(
                f"grid_coord must lie in [0, {MAX_GRID_COORD}] (16 bits per axis), got values in [{low}, {high}]"
            )
    return reference.grid_pool(grid_coord, offset, feat, coord, stride, reduce)
