"""The bird's-eye-view grid of a detector and the scatter of point features into it.

Grid convention (shared by targets, heads and decoding): ``point_cloud_range = (x0, y0, z0, x1,
y1, z1)`` in metres and a square ``cell_size``; the grid has ``nx = (x1 - x0) / cell_size``
columns (x, the last tensor dimension) and ``ny = (y1 - y0) / cell_size`` rows (y). Cell (iy, ix)
covers ``[x0 + ix * cell, x0 + (ix + 1) * cell) x [y0 + iy * cell, ...)``; a BEV tensor is
``(B, C, ny, nx)`` and a flat cell index is ``iy * nx + ix``.
"""

from collections.abc import Sequence

import torch


class BEVGrid:
    """Geometry of a BEV grid (see the module docstring). Raises ValueError on a range that the
    cell size does not divide (to 1e-6 cells), so that cell edges are exact multiples of the size."""

    def __init__(self, point_cloud_range: Sequence[float], cell_size: float):
        if len(point_cloud_range) != 6:
            raise ValueError(f"point_cloud_range must be (x0, y0, z0, x1, y1, z1), got {point_cloud_range}")
        self.range = tuple(float(v) for v in point_cloud_range)
        if any(lo >= hi for lo, hi in zip(self.range[:3], self.range[3:])):
            raise ValueError(f"point_cloud_range needs min < max on every axis, got {point_cloud_range}")
        if not cell_size > 0:
            raise ValueError(f"bev cell size must be > 0, got {cell_size}")
        self.cell_size = float(cell_size)
        cells = []
        for extent in (self.range[3] - self.range[0], self.range[4] - self.range[1]):
            n = extent / self.cell_size
            if abs(n - round(n)) > 1e-6 or round(n) < 1:
                raise ValueError(
                    f"bev cell size {cell_size} must divide the x and y extents of point_cloud_range "
                    f"{point_cloud_range} (extent {extent} gives {n} cells)"
                )
            cells.append(int(round(n)))
        self.nx, self.ny = cells

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return self.ny, self.nx

    def cell_of(self, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cells of positions ``xyz`` (Tensor[N, 2 or 3]) -> (ix, iy, inside), int64, int64, bool.

        ``inside``: x and y in ``[min, max)`` and, when z is given, z in ``[z0, z1]``.
        """
        x0, y0, z0, x1, y1, z1 = self.range
        ix = torch.floor((xyz[:, 0] - x0) / self.cell_size).long()
        iy = torch.floor((xyz[:, 1] - y0) / self.cell_size).long()
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        if xyz.shape[1] > 2:
            inside &= (xyz[:, 2] >= z0) & (xyz[:, 2] <= z1)
        return ix, iy, inside

    def __repr__(self) -> str:
        return f"BEVGrid(range={self.range}, cell_size={self.cell_size}, ny={self.ny}, nx={self.nx})"


def scatter_to_bev(
    feat: torch.Tensor,
    coord: torch.Tensor,
    batch: torch.Tensor,
    num_clouds: int,
    grid: BEVGrid,
    reduce: str = "max",
) -> torch.Tensor:
    """Pool the features of the points in every BEV column.

    Args:
        feat (Tensor[N, C]), coord (Tensor[N, 3]) and batch (Tensor[N] int64) of the points.
        num_clouds (int): B.
        grid (BEVGrid): the grid; points outside its range are ignored.
        reduce (str): ``"max"`` or ``"mean"`` over the points of a cell.

    Returns:
        Tensor[B, C, ny, nx]; cells without points are 0. Differentiable w.r.t. ``feat``.
    """
    if reduce not in ("max", "mean"):
        raise ValueError(f"BEV scatter reduce must be 'max' or 'mean', got {reduce!r}")
    ix, iy, inside = grid.cell_of(coord)
    flat = (batch[inside] * grid.ny + iy[inside]) * grid.nx + ix[inside]
    channels = feat.shape[1]
    out = feat.new_zeros(num_clouds * grid.ny * grid.nx, channels)
    out = out.scatter_reduce(
        0,
        flat.unsqueeze(1).expand(-1, channels),
        feat[inside],
        reduce="amax" if reduce == "max" else "mean",
        include_self=False,
    )
    return out.view(num_clouds, grid.ny, grid.nx, channels).permute(0, 3, 1, 2).contiguous()
