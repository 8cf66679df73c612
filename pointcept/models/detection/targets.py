"""CenterPoint training targets: Gaussian heatmaps and regression targets at object centres.

Regression target of an object (10 channels, ``REG_CHANNELS``): sub-cell centre offset (2), centre
height z (1), log size l, w, h (3), sin/cos of yaw (2), velocity vx, vy (2). The box convention is
the data pipeline's (``pointcept.datasets.boxes``): ``[x, y, z, l, w, h, yaw, vx, vy]``, z = the
geometric centre.

Gaussian radius (the rule CenterPoint takes from CornerNet/CenterNet). For a box of BEV extent
``l x w`` cells, the radius is the largest corner displacement ``r`` for which a predicted box still
overlaps the ground truth with IoU >= ``o`` (``min_overlap``), in the worst of three ways the
corners can move:

1. both corners shift by ``r`` along x and along y (the box translates by (r, r)): the overlap is
   ``(l - r)(w - r)`` and the union ``2lw - (l - r)(w - r)``; IoU = o gives
   ``r^2 - (l + w) r + lw (1 - o) / (1 + o) = 0``, whose smaller root is the bound;
2. both corners move inwards by ``r`` (the prediction shrinks inside the box): IoU =
   ``(l - 2r)(w - 2r) / lw`` = o gives ``4 r^2 - 2 (l + w) r + (1 - o) lw = 0``, smaller root;
3. both corners move outwards by ``r`` (the prediction grows around the box): IoU =
   ``lw / ((l + 2r)(w + 2r))`` = o gives ``4 o r^2 + 2 o (l + w) r - (1 - o) lw = 0``, positive root.

``radius = max(min_radius, floor(min(r1, r2, r3)))``; the Gaussian has ``sigma = (2 radius + 1) / 6``
over a ``(2 radius + 1)^2`` window around the centre cell, whose value is exactly 1 (the focal
loss's positive). Both discriminants of 1 and 2 are >= 0 for 0 < o < 1 since (l + w)^2 >= 4lw.
Note: the reference CornerNet code evaluates ``(b + sqrt(disc)) / 2`` for all three quadratics
instead of the roots above; its radii differ (larger for big boxes). We use the roots of the
geometry as derived here.
"""

import math

import torch

from .bev import BEVGrid

REG_CHANNELS = 10
"""offset x, offset y, z, log l, log w, log h, sin yaw, cos yaw, vx, vy."""


def gaussian_radius(length: torch.Tensor, width: torch.Tensor, min_overlap: float = 0.1) -> torch.Tensor:
    """Largest corner displacement (cells, float) keeping IoU >= ``min_overlap`` (module docstring)."""
    if not 0.0 < min_overlap < 1.0:
        raise ValueError(f"min_overlap must be in (0, 1), got {min_overlap}")
    o = min_overlap
    s, p = length + width, length * width
    r1 = (s - torch.sqrt(s * s - 4 * p * (1 - o) / (1 + o))) / 2
    r2 = (s - torch.sqrt(s * s - 4 * (1 - o) * p)) / 4
    r3 = (-o * s + torch.sqrt(o * o * s * s + 4 * o * (1 - o) * p)) / (4 * o)
    return torch.minimum(torch.minimum(r1, r2), r3)


def encode_targets(
    gt_boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_offset: torch.Tensor,
    grid: BEVGrid,
    num_classes: int,
    min_overlap: float = 0.1,
    min_radius: int = 2,
) -> dict:
    """Targets of a batch.

    Args:
        gt_boxes (Tensor[M, 9] float), gt_labels (Tensor[M] int64), gt_offset (Tensor[B] int64):
            the concatenated boxes of B clouds (collate's layout). Boxes with a label outside
            ``[0, num_classes)`` (ignore = -1) or a centre outside the grid get no target.

    Returns:
        dict with ``heatmap`` (Tensor[B, num_classes, ny, nx], Gaussian peaks, 1 at each centre
        cell), and per target object (K of them): ``batch`` (Tensor[K] int64), ``cell`` (Tensor[K]
        int64, flat ``iy * nx + ix``), ``label`` (Tensor[K]), ``reg`` (Tensor[K, 10]), ``radius``
        (Tensor[K] int64), ``box_index`` (Tensor[K] int64, row in ``gt_boxes``).
    """
    device = gt_boxes.device
    num_clouds = len(gt_offset)
    counts = torch.diff(gt_offset, prepend=gt_offset.new_zeros(1))
    box_batch = torch.arange(num_clouds, device=device).repeat_interleave(counts)
    if len(box_batch) != len(gt_boxes) or len(gt_labels) != len(gt_boxes):
        raise ValueError(
            f"gt_offset ends at {int(gt_offset[-1]) if num_clouds else 0} but there are {len(gt_boxes)} boxes "
            f"and {len(gt_labels)} labels"
        )
    boxes = gt_boxes.float()
    ix, iy, inside = grid.cell_of(boxes[:, :2])
    keep = inside & (gt_labels >= 0) & (gt_labels < num_classes)
    idx = torch.nonzero(keep).flatten()
    boxes, ix, iy = boxes[idx], ix[idx], iy[idx]
    label, batch = gt_labels[idx], box_batch[idx]
    cell = grid.cell_size
    u = (boxes[:, 0] - grid.range[0]) / cell
    v = (boxes[:, 1] - grid.range[1]) / cell
    reg = torch.stack(
        [
            u - ix,
            v - iy,
            boxes[:, 2],
            torch.log(boxes[:, 3]),
            torch.log(boxes[:, 4]),
            torch.log(boxes[:, 5]),
            torch.sin(boxes[:, 6]),
            torch.cos(boxes[:, 6]),
            boxes[:, 7],
            boxes[:, 8],
        ],
        dim=1,
    )
    radius = gaussian_radius(boxes[:, 3] / cell, boxes[:, 4] / cell, min_overlap)
    radius = torch.clamp(torch.floor(radius).long(), min=int(min_radius))
    heatmap = torch.zeros(num_clouds * num_classes * grid.ny * grid.nx, device=device)
    if len(idx):
        r_max = int(radius.max())
        d = torch.arange(-r_max, r_max + 1, device=device)
        dy, dx = torch.meshgrid(d, d, indexing="ij")
        dx, dy = dx.reshape(1, -1), dy.reshape(1, -1)
        sigma = (2 * radius.float() + 1) / 6
        value = torch.exp(-(dx * dx + dy * dy).float() / (2 * sigma[:, None] ** 2))
        px, py = ix[:, None] + dx, iy[:, None] + dy
        valid = (
            (dx.abs() <= radius[:, None])
            & (dy.abs() <= radius[:, None])
            & (px >= 0)
            & (px < grid.nx)
            & (py >= 0)
            & (py < grid.ny)
        )
        plane = (batch * num_classes + label)[:, None].expand_as(px)
        flat = (plane * grid.ny + py) * grid.nx + px
        heatmap = heatmap.scatter_reduce(0, flat[valid], value[valid], reduce="amax", include_self=True)
    return dict(
        heatmap=heatmap.view(num_clouds, num_classes, grid.ny, grid.nx),
        batch=batch,
        cell=iy * grid.nx + ix,
        label=label,
        reg=reg,
        radius=radius,
        box_index=idx,
    )


def decode_regression(reg: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, grid: BEVGrid) -> torch.Tensor:
    """Inverse of the regression encoding: reg (Tensor[K, 10]) at cells (ix, iy) -> boxes (Tensor[K, 9]).

    Log sizes are clamped to [-5, 5] before ``exp`` so that untrained heads give finite boxes.
    """
    cell = grid.cell_size
    x = grid.range[0] + (ix.to(reg.dtype) + reg[:, 0]) * cell
    y = grid.range[1] + (iy.to(reg.dtype) + reg[:, 1]) * cell
    size = torch.exp(reg[:, 3:6].clamp(-5.0, 5.0))
    yaw = torch.atan2(reg[:, 6], reg[:, 7])
    yaw = torch.where(yaw >= math.pi, yaw - 2 * math.pi, yaw)  # [-pi, pi), the pipeline's range
    return torch.cat([x[:, None], y[:, None], reg[:, 2:3], size, yaw[:, None], reg[:, 8:10]], dim=1)
