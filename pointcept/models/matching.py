"""Point correspondences for DOS: exact cell-key matching and radius-bounded nearest neighbours.

Both matchers work cloud by cloud (a query in cloud ``b`` only ever matches a reference row of cloud
``b``) and never build an ``N x N`` distance matrix: keys are packed into one int64 per row and
looked up with ``sort`` + ``searchsorted``.
"""

import torch

# Upper bound on candidate (query, reference) pairs materialised at once by ``nearest_neighbor``;
# 2**22 pairs cost ~100 MB of temporaries, independent of the cloud sizes.
_MAX_PAIRS_PER_CHUNK = 1 << 22

# 27 neighbouring cells (including the cell itself) of a 3D voxel hash.
_NEIGHBOURS = torch.stack(
    torch.meshgrid(torch.arange(-1, 2), torch.arange(-1, 2), torch.arange(-1, 2), indexing="ij"), dim=-1
).reshape(-1, 3)


def pack_keys(
    batch: torch.Tensor, cells: torch.Tensor, extent: torch.Tensor, num_clouds: int
) -> torch.Tensor:
    """Pack (batch, x, y, z) into one int64 key, ordered lexicographically.

    Args:
        batch (Tensor[N] int64): cloud index of every row, ``< num_clouds``.
        cells (Tensor[N, 3] int64): non-negative integer cell coordinates, ``cells < extent``.
        extent (Tensor[3] int64): exclusive upper bound of each cell axis.
        num_clouds (int): exclusive upper bound of ``batch``.

    Returns:
        Tensor[N] int64 keys; equal keys <=> equal (batch, cell).
    """
    ex, ey, ez = (int(e) for e in extent)
    # Python ints do not overflow, so this checks that the packed key fits in 63 bits.
    if num_clouds * ex * ey * ez >= 2**63:
        raise ValueError(
            f"cell keys do not fit in int64: {num_clouds} clouds x extent {(ex, ey, ez)}; "
            "use a coarser cell size or fewer clouds per batch"
        )
    return ((batch * ex + cells[:, 0]) * ey + cells[:, 1]) * ez + cells[:, 2]


def match_by_key(
    query_batch: torch.Tensor,
    query_cells: torch.Tensor,
    ref_batch: torch.Tensor,
    ref_cells: torch.Tensor,
) -> torch.Tensor:
    """For every query row, the reference row with the same (batch, cell) key, or -1.

    Args:
        query_batch (Tensor[M] int64), query_cells (Tensor[M, 3] int64): query keys.
        ref_batch (Tensor[N] int64), ref_cells (Tensor[N, 3] int64): reference keys, unique per row.

    Returns:
        Tensor[M] int64: index into the reference rows, -1 where the key is absent.
    """
    if query_cells.numel() == 0 or ref_cells.numel() == 0:
        return torch.full((query_batch.shape[0],), -1, dtype=torch.long, device=query_batch.device)
    low = torch.minimum(query_cells.min(0).values, ref_cells.min(0).values)
    high = torch.maximum(query_cells.max(0).values, ref_cells.max(0).values)
    extent = high - low + 1
    num_clouds = max(int(ref_batch.max()), int(query_batch.max())) + 1
    ref_key = pack_keys(ref_batch, ref_cells - low, extent, num_clouds)
    query_key = pack_keys(query_batch, query_cells - low, extent, num_clouds)
    sorted_key, order = torch.sort(ref_key)
    assert sorted_key.numel() < 2 or bool((sorted_key[1:] != sorted_key[:-1]).all()), "duplicate ref keys"
    pos = torch.searchsorted(sorted_key, query_key).clamp_max(sorted_key.numel() - 1)
    found = sorted_key[pos] == query_key
    return torch.where(found, order[pos], torch.full_like(pos, -1))


def nearest_neighbor(
    query_coord: torch.Tensor,
    query_batch: torch.Tensor,
    ref_coord: torch.Tensor,
    ref_batch: torch.Tensor,
    radius: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest reference point of every query point within ``radius``, per cloud.

    Reference points are hashed into cubes of side ``radius``; any point within ``radius`` of a
    query lies in one of the 27 cubes around the query's cube, so scanning those is exact. Ties are
    broken by the smaller reference index. Candidate pairs are processed in chunks so that memory
    stays bounded whatever the cloud sizes.

    Args:
        query_coord (Tensor[M, 3] float), query_batch (Tensor[M] int64): query points.
        ref_coord (Tensor[N, 3] float), ref_batch (Tensor[N] int64): reference points.
        radius (float): maximum matching distance (inclusive), > 0.

    Returns:
        index (Tensor[M] int64): nearest reference row, -1 when none lies within ``radius``.
        dist (Tensor[M] float): its distance, ``inf`` when unmatched.
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    device = query_coord.device
    num_query = query_coord.shape[0]
    best_dist = torch.full((num_query,), float("inf"), dtype=query_coord.dtype, device=device)
    best_index = torch.full((num_query,), -1, dtype=torch.long, device=device)
    if num_query == 0 or ref_coord.shape[0] == 0:
        return best_index, best_dist

    ref_cells = torch.floor(ref_coord / radius).long()
    query_cells = torch.floor(query_coord / radius).long()
    # One cell of margin on each side so that neighbour cells of every query stay in range.
    low = torch.minimum(ref_cells.min(0).values, query_cells.min(0).values) - 1
    high = torch.maximum(ref_cells.max(0).values, query_cells.max(0).values) + 1
    extent = high - low + 1
    num_clouds = max(int(ref_batch.max()), int(query_batch.max())) + 1
    ref_key = pack_keys(ref_batch, ref_cells - low, extent, num_clouds)
    sorted_key, order = torch.sort(ref_key)

    neighbours = _NEIGHBOURS.to(device)
    # (M, 27) keys of the neighbour cells and the [start, end) range of reference rows in each.
    cand_key = pack_keys(
        query_batch[:, None].expand(-1, 27).reshape(-1),
        (query_cells - low)[:, None, :].add(neighbours[None]).reshape(-1, 3),
        extent,
        num_clouds,
    ).view(num_query, 27)
    start = torch.searchsorted(sorted_key, cand_key)
    end = torch.searchsorted(sorted_key, cand_key, right=True)
    count = (end - start).sum(1)

    radius_sq = radius * radius
    boundaries = _chunk_boundaries(count, _MAX_PAIRS_PER_CHUNK)
    for lo, hi in zip(boundaries[:-1], boundaries[1:]):
        cell_count = (end[lo:hi] - start[lo:hi]).reshape(-1)
        total = int(cell_count.sum())
        if total == 0:
            continue
        pair_query = torch.arange(lo, hi, device=device).repeat_interleave(27).repeat_interleave(cell_count)
        # Position of each pair inside its cell's run of sorted reference rows.
        run_start = torch.cumsum(cell_count, 0) - cell_count
        within = torch.arange(total, device=device) - run_start.repeat_interleave(cell_count)
        pair_ref = order[start[lo:hi].reshape(-1).repeat_interleave(cell_count) + within]
        dist_sq = (query_coord[pair_query] - ref_coord[pair_ref]).square().sum(1)
        ok = dist_sq <= radius_sq
        pair_query, pair_ref, dist_sq = pair_query[ok], pair_ref[ok], dist_sq[ok]
        chunk_best = torch.full((hi - lo,), float("inf"), dtype=dist_sq.dtype, device=device)
        chunk_best.scatter_reduce_(0, pair_query - lo, dist_sq, reduce="amin")
        is_best = dist_sq == chunk_best[pair_query - lo]
        chunk_index = torch.full((hi - lo,), torch.iinfo(torch.long).max, dtype=torch.long, device=device)
        chunk_index.scatter_reduce_(0, pair_query[is_best] - lo, pair_ref[is_best], reduce="amin")
        hit = torch.isfinite(chunk_best)
        best_dist[lo:hi] = torch.where(hit, chunk_best.sqrt(), best_dist[lo:hi])
        best_index[lo:hi] = torch.where(hit, chunk_index, best_index[lo:hi])
    return best_index, best_dist


def _chunk_boundaries(count: torch.Tensor, budget: int) -> list[int]:
    """Split rows into consecutive chunks of about ``budget`` summed ``count`` each.

    A chunk holds the rows whose exclusive prefix sum falls in the same multiple of ``budget``, so
    it exceeds the budget by at most its last row's count.
    """
    chunk_id = (torch.cumsum(count, 0) - count) // budget
    cuts = torch.nonzero(chunk_id[1:] != chunk_id[:-1]).flatten() + 1
    return [0, *cuts.tolist(), count.numel()]
