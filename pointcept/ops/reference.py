"""Pure-PyTorch references of the ``dos_ops`` kernels: plain, slow, obviously correct.

Every fused kernel is tested against these functions, and ``pointcept.ops`` falls back to them when
the extension is not built. They do no input validation (the public wrappers in ``pointcept.ops``
do) and run on any device. Shape letters are those of the ``pointcept`` package docstring.
"""

import math
from typing import NamedTuple

import torch

from pointcept.utils.offsets import batch2offset, offset2batch, offset2start

# Cells are addressed by 16 bits per axis and the cloud index sits above bit 48 of the packed key.
GRID_BITS = 16
MAX_GRID_COORD = (1 << GRID_BITS) - 1
MAX_CLOUDS = 1 << 15


class GridPoolResult(NamedTuple):
    """Output of ``grid_pool``; cells are sorted by (cloud, x, y, z).

    * ``feat`` (Tensor[M, C]): max or mean of the input features of each cell, dtype of ``feat``.
    * ``coord`` (Tensor[M, 3]): mean coordinate of each cell, dtype of ``coord``.
    * ``grid_coord`` (Tensor[M, 3] int64): ``grid_coord // stride`` of each cell.
    * ``cluster`` (Tensor[N] int64): cell of every input point (the inverse map).
    * ``idx_ptr`` (Tensor[M + 1] int64): CSR pointers of the cells into the input points sorted by
      ``cluster`` (stable, so ties keep input order).
    * ``head`` (Tensor[M] int64): first (lowest) input row of each cell.
    * ``offset`` (Tensor[B] int64): cumulative cell counts per cloud.
    """

    feat: torch.Tensor
    coord: torch.Tensor
    grid_coord: torch.Tensor
    cluster: torch.Tensor
    idx_ptr: torch.Tensor
    head: torch.Tensor
    offset: torch.Tensor


def masked_gather(
    tensors: list[torch.Tensor], keep: torch.Tensor, offset: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Keep the rows of every tensor where ``keep`` is true.

    Args:
        tensors (list[Tensor[N, ...]]): per-point tensors of any dtype.
        keep (Tensor[N] bool): rows to keep.
        offset (Tensor[B] int64): cloud offsets of the input.

    Returns:
        gathered (list[Tensor[M, ...]]), kept_index (Tensor[M] int64, increasing),
        new_offset (Tensor[B] int64).
    """
    kept_index = torch.nonzero(keep).flatten()
    gathered = [t[kept_index] for t in tensors]
    new_offset = batch2offset(offset2batch(offset)[kept_index], num_clouds=len(offset))
    return gathered, kept_index, new_offset


def _accumulate_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _segment_mean(x: torch.Tensor, cluster: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    acc = _accumulate_dtype(x)
    total = x.new_zeros((len(counts), x.shape[1]), dtype=acc).index_add_(0, cluster, x.to(acc))
    return (total / counts[:, None].to(acc)).to(x.dtype)


def grid_pool(
    grid_coord: torch.Tensor,
    offset: torch.Tensor,
    feat: torch.Tensor,
    coord: torch.Tensor,
    stride: int = 2,
    reduce: str = "max",
) -> GridPoolResult:
    """Pool points into cells of ``stride`` grid units; see ``pointcept.ops.grid_pool``.

    Cells are the unique rows of (cloud, grid_coord // stride), which ``torch.unique(dim=0)``
    returns in lexicographic order, the order of the packed key used by the kernels. The gradient
    of ``max`` is split evenly between tied inputs (the kernels give it to the lowest row instead).
    """
    batch = offset2batch(offset)
    cell = torch.div(grid_coord.long(), stride, rounding_mode="floor")
    keys = torch.cat([batch[:, None], cell], dim=1)
    if len(keys) == 0:
        unique_keys, cluster, counts = keys, batch, batch
    else:
        unique_keys, cluster, counts = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
    num_cells = len(unique_keys)
    order = torch.argsort(cluster, stable=True)
    idx_ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, dim=0)])
    head = order[idx_ptr[:-1]]
    if reduce == "max":
        index = cluster[:, None].expand_as(feat)
        empty = feat.new_zeros((num_cells, feat.shape[1]))
        pooled = empty.scatter_reduce(0, index, feat, reduce="amax", include_self=False)
    else:
        pooled = _segment_mean(feat, cluster, counts)
    return GridPoolResult(
        feat=pooled,
        coord=_segment_mean(coord, cluster, counts),
        grid_coord=unique_keys[:, 1:].contiguous(),
        cluster=cluster,
        idx_ptr=idx_ptr,
        head=head,
        offset=batch2offset(unique_keys[:, 0], num_clouds=len(offset)),
    )


def zipf_prior(
    num_prototypes: int, alpha: float, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """Zipf prior ``w_k = k^-alpha / sum_r r^-alpha`` for ranks ``k = 1..K`` -> Tensor[K]."""
    rank = torch.arange(1, num_prototypes + 1, dtype=torch.float64, device=device)
    weight = rank.pow(-alpha)
    return (weight / weight.sum()).to(dtype)


def zipf_sinkhorn(
    logits: torch.Tensor, offset: torch.Tensor, alpha: float, prior: torch.Tensor | None, n_iter: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-domain Sinkhorn-Knopp with a Zipf column prior, one cloud at a time.

    The signature is the kernel's schema (no defaults): ``pointcept.ops.zipf_sinkhorn`` owns the
    defaults and the validation and calls either with the same arguments.

    Args:
        logits (Tensor[N, K] float): scores already divided by the temperature.
        offset (Tensor[B] int64): cloud offsets.
        alpha (float): Zipf exponent, used when ``prior`` is None.
        prior (Tensor[K] float | None): column marginal; normalised to sum to 1.
        n_iter (int): number of (row scaling, column scaling) rounds.

    Returns:
        target (Tensor[N, K]): float64 for float64 logits, else float32; every column of every cloud
        sums to 1 over that cloud's points.
        row_error (Tensor[B]): L1 distance between the row marginal after the last column scaling
        and the uniform ``1 / N_b``; 0 for empty clouds.
    """
    dtype = _accumulate_dtype(logits)
    num_prototypes = logits.shape[1]
    if prior is None:
        prior = zipf_prior(num_prototypes, alpha, device=logits.device)
    log_prior = (prior.double() / prior.double().sum()).log().to(dtype)
    target = logits.new_zeros(logits.shape, dtype=dtype)
    row_error = logits.new_zeros(len(offset), dtype=dtype)
    for b, (start, end) in enumerate(zip(offset2start(offset).tolist(), offset.tolist())):
        n = end - start
        if n == 0:
            continue
        log_plan = logits[start:end].to(dtype)
        for _ in range(n_iter):
            # Rows: every point carries mass 1/n. Columns: prototype k receives mass prior_k.
            log_plan = log_plan - torch.logsumexp(log_plan, dim=1, keepdim=True) - math.log(n)
            log_plan = log_plan - torch.logsumexp(log_plan, dim=0, keepdim=True) + log_prior
        row_error[b] = (torch.logsumexp(log_plan, dim=1).exp() - 1.0 / n).abs().sum()
        # Each prototype's target is a distribution over the cloud's points.
        target[start:end] = torch.softmax(log_plan, dim=0)
    return target, row_error


# The 27 offsets of a 3x3x3 submanifold convolution, in spconv's weight order: kernel index
# k = 9 (dx + 1) + 3 (dy + 1) + (dz + 1) reads the input at grid_coord + (dx, dy, dz), and
# 26 - k is the mirrored offset -(dx, dy, dz).
SUBMCONV_OFFSETS = torch.tensor([[dx, dy, dz] for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)])


def submconv_neighbours(grid_coord: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Neighbour table of a 3x3x3 submanifold convolution; see ``pointcept.ops.submconv_neighbours``.

    The cells (cloud, x, y, z) are packed into one int64 key (16 bits per axis), sorted stably, and
    every shifted key is looked up with ``searchsorted``; a cell held by several rows resolves to
    the lowest of them.
    """
    grid_coord = grid_coord.long()
    batch = offset2batch(offset)
    shifts = SUBMCONV_OFFSETS.to(grid_coord.device)
    key = (batch << (3 * GRID_BITS)) | (grid_coord[:, 0] << (2 * GRID_BITS)) | (grid_coord[:, 1] << GRID_BITS)
    key = key | grid_coord[:, 2]
    sorted_key, order = torch.sort(key, stable=True)
    shifted = grid_coord[:, None, :] + shifts[None]  # [N, 27, 3]
    inside = ((shifted >= 0) & (shifted <= MAX_GRID_COORD)).all(dim=2)
    shifted = shifted.clamp(0, MAX_GRID_COORD)
    target = (batch[:, None] << (3 * GRID_BITS)) | (shifted[..., 0] << (2 * GRID_BITS))
    target = target | (shifted[..., 1] << GRID_BITS) | shifted[..., 2]
    position = (
        torch.searchsorted(sorted_key, target.flatten()).view_as(target).clamp(max=max(len(key) - 1, 0))
    )
    if len(key) == 0:
        return target
    found = inside & (sorted_key[position] == target)
    return torch.where(found, order[position], torch.full_like(target, -1))


def submconv(
    feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, neighbours: torch.Tensor
) -> torch.Tensor:
    """3x3x3 submanifold convolution ``out[i] = sum_k W_k feat[neighbours[i, k]] + bias``.

    Args:
        feat (Tensor[N, C_in]), weight (Tensor[C_out, 3, 3, 3, C_in], spconv's layout),
        bias (Tensor[C_out] | None), neighbours (Tensor[N, 27] int64, -1 where missing).

    Returns:
        Tensor[N, C_out]; missing neighbours contribute zero.
    """
    padded = torch.cat([feat, feat.new_zeros(1, feat.shape[1])])
    gathered = padded[neighbours.where(neighbours >= 0, len(feat))]  # [N, 27, C_in]
    out = gathered.flatten(1) @ weight.reshape(weight.shape[0], -1).t()
    return out if bias is None else out + bias
