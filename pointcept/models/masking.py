"""Block masking for DOS: whole cubes of a cloud's original coordinates are hidden from the student."""

import torch

from pointcept.models.matching import pack_keys
from pointcept.ops import masked_gather
from pointcept.utils.offsets import offset2batch


def check_mask_args(mask_size: float, mask_ratio: float, prefix: str = "") -> None:
    """Raise ValueError unless ``mask_size > 0`` and ``0 <= mask_ratio < 1``; ``prefix`` starts the message."""
    if not mask_size > 0:
        raise ValueError(f"{prefix}mask_size must be > 0, got {mask_size}")
    if not 0 <= mask_ratio < 1:
        raise ValueError(f"{prefix}mask_ratio must be in [0, 1), got {mask_ratio}")


def check_jitter(
    mask_jitter: float, observable_only: bool, grid_size: float | None, prefix: str = ""
) -> None:
    """Raise ValueError unless ``mask_jitter >= 0``, and ``> 0`` only with mask tokens and a grid size."""
    if not mask_jitter >= 0:
        raise ValueError(f"{prefix}mask_jitter must be >= 0, got {mask_jitter}")
    if mask_jitter > 0 and observable_only:
        raise ValueError(f"{prefix}mask_jitter moves mask tokens; it needs observable_only=False")
    if mask_jitter > 0 and not (grid_size is not None and grid_size > 0):
        raise ValueError(
            f"{prefix}mask_jitter > 0 needs the input grid_size (> 0) to re-voxelise, got {grid_size}"
        )


def block_mask(
    origin_coord: torch.Tensor, offset: torch.Tensor, mask_size: float, mask_ratio: float
) -> torch.Tensor:
    """Random block masking: cubes of ``mask_size`` on the original coordinates of each cloud.

    Per cloud, ``round(mask_ratio * cubes)`` cubes are masked, but at least one cube stays
    observable so that the student never sees an empty cloud. Randomness: B seeds come from the global
    torch generator and each cloud orders its cubes with its own seed, so the mask of a cloud
    does not depend on the other clouds of the batch.

    Args:
        origin_coord (Tensor[N, 3] float): pre-augmentation coordinates.
        offset (Tensor[B] int64): cloud offsets.
        mask_size (float): cube side (same unit as ``origin_coord``), > 0.
        mask_ratio (float): fraction of cubes masked, in [0, 1).

    Returns:
        keep (Tensor[N] bool): True for observable points.
    """
    check_mask_args(mask_size, mask_ratio)
    num_clouds = offset.numel()
    batch = offset2batch(offset)
    if batch.numel() == 0:
        return torch.ones(0, dtype=torch.bool, device=origin_coord.device)
    low = origin_coord.new_full((num_clouds, 3), float("inf"))
    low.scatter_reduce_(0, batch[:, None].expand(-1, 3), origin_coord, reduce="amin")
    cells = torch.floor((origin_coord - low[batch]) / mask_size).long()
    extent = cells.max(0).values + 1
    key = pack_keys(batch, cells, extent, num_clouds)
    # unique() sorts the keys, so cubes come grouped by cloud, in cloud order.
    cube_key, cube_of_point = torch.unique(key, return_inverse=True)
    cube_batch = torch.div(cube_key, extent.prod(), rounding_mode="floor")
    cubes_per_cloud = torch.bincount(cube_batch, minlength=num_clouds)
    # One seed per cloud from the global generator, then each cloud draws its own scores: the
    # mask of a cloud never depends on the sizes of the other clouds (or of the other view).
    seeds = torch.randint(0, 2**62, (num_clouds,)).tolist()
    score = torch.cat(
        [
            torch.rand(int(count), generator=torch.Generator().manual_seed(seed))
            for seed, count in zip(seeds, cubes_per_cloud.tolist())
        ]
    ).to(origin_coord.device)
    # Stable sort by cloud after sorting by score: a random order of cubes within each cloud.
    by_score = torch.argsort(score)
    order = by_score[torch.argsort(cube_batch[by_score], stable=True)]
    first_cube = torch.cumsum(cubes_per_cloud, 0) - cubes_per_cloud
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device) - first_cube[cube_batch[order]]
    num_masked = torch.minimum(torch.round(cubes_per_cloud * mask_ratio).long(), cubes_per_cloud - 1)
    cube_masked = rank < num_masked[cube_batch]
    return ~cube_masked[cube_of_point]


def backbone_input(view: dict) -> dict:
    """Backbone input of a whole collated view: its ``coord``, ``grid_coord``, ``feat``, ``offset``."""
    return dict(coord=view["coord"], grid_coord=view["grid_coord"], feat=view["feat"], offset=view["offset"])


def jitter_masked(
    coord: torch.Tensor, grid_coord: torch.Tensor, mask: torch.Tensor, sigma: float, grid_size: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sonata's mask-token jitter: move the masked points, and only them, by clipped Gaussian noise.

    ``coord[mask]`` moves by ``clamp(N(0, sigma), -2 sigma, 2 sigma)`` per axis (Sonata clips the
    upper side only; the symmetric clip keeps the noise zero-mean). PTv3 reads positions only
    through ``grid_coord`` (serialisation and sparse convolutions), so the moved points are
    re-voxelised: their ``grid_coord`` shifts by ``floor(coord' / grid_size) - floor(coord /
    grid_size)``, exactly the voxel ``GridSample`` would give the moved point, clamped at 0 (a point
    that leaves the view's grid through its lower corner stays in the border voxel).

    Args:
        coord (Tensor[N, 3] float), grid_coord (Tensor[N, 3] int64): the view's points.
        mask (Tensor[N] bool): True where a point is masked.
        sigma (float): noise standard deviation, in ``coord`` units, > 0.
        grid_size (float): the view's input voxel size, > 0.

    Returns:
        (coord, grid_coord): new tensors, equal to the inputs on the unmasked rows.
    """
    noise = torch.randn(coord.shape, device=coord.device, dtype=coord.dtype) * sigma
    noise = noise.clamp(-2 * sigma, 2 * sigma) * mask[:, None]
    moved = coord + noise
    step = torch.floor(moved / grid_size).long() - torch.floor(coord / grid_size).long()
    return moved, (grid_coord + step).clamp_min(0)


def masked_input(
    view: dict, keep: torch.Tensor, remove: bool = True, jitter: float = 0.0, grid_size: float | None = None
) -> tuple[dict, torch.Tensor]:
    """Backbone input of a view under the mask ``keep`` (Tensor[N] bool), and its rows' ``origin_coord``.

    ``remove=True`` drops the masked points (``masked_gather`` compacts every per-point array in one
    pass and shrinks the offsets); ``remove=False`` keeps them and sets ``mask = ~keep`` for a
    backbone with a mask token, and with ``jitter > 0`` moves the masked points' coordinates
    (``jitter_masked`` with ``grid_size``). ``origin_coord`` is never jittered.
    """
    if not remove:
        inputs = dict(backbone_input(view), mask=~keep)
        if jitter > 0:
            inputs["coord"], inputs["grid_coord"] = jitter_masked(
                view["coord"], view["grid_coord"], ~keep, jitter, grid_size
            )
        return inputs, view["origin_coord"]
    if jitter > 0:
        raise ValueError("masked_input: jitter applies to mask tokens; removed points have no coordinates")
    (coord, grid_coord, feat, origin), _, offset = masked_gather(
        [view["coord"], view["grid_coord"], view["feat"], view["origin_coord"]], keep, view["offset"]
    )
    return dict(coord=coord, grid_coord=grid_coord, feat=feat, offset=offset), origin
