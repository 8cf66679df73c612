"""Cell-key matching and radius nearest neighbours used by DOS."""

import math

import pytest
import torch

import pointcept.models.matching as matching
from pointcept.models.matching import match_by_key, nearest_neighbor


def brute_force_nn(query, query_batch, ref, ref_batch, radius):
    dist = torch.cdist(query.double(), ref.double())
    dist[query_batch[:, None] != ref_batch[None]] = float("inf")
    best, index = dist.min(1)
    return torch.where(best <= radius, index, -1)


@pytest.mark.parametrize("chunk", [1 << 22, 37])
def test_nearest_neighbor_equals_brute_force(monkeypatch, chunk):
    monkeypatch.setattr(matching, "_MAX_PAIRS_PER_CHUNK", chunk)
    g = torch.Generator().manual_seed(0)
    query = torch.rand(400, 3, generator=g) * 3 - 1
    ref = torch.rand(600, 3, generator=g) * 3 - 1
    query_batch = torch.sort(torch.randint(0, 3, (400,), generator=g)).values
    ref_batch = torch.sort(torch.randint(0, 3, (600,), generator=g)).values
    index, dist = nearest_neighbor(query, query_batch, ref, ref_batch, radius=0.25)
    expected = brute_force_nn(query, query_batch, ref, ref_batch, 0.25)
    assert torch.equal(index, expected)
    hit = index >= 0
    assert 0.2 < hit.float().mean() < 1.0
    torch.testing.assert_close(dist[hit], (query[hit] - ref[index[hit]]).norm(dim=1))
    assert torch.isinf(dist[~hit]).all()


def test_cross_view_match_finds_true_counterparts():
    """A rigidly moved, shuffled, partial copy matches back to its source points."""
    g = torch.Generator().manual_seed(1)
    # Points on a 0.3 m lattice with small noise: the true counterpart is always the nearest.
    lattice = torch.stack(torch.meshgrid(*(torch.arange(8.0),) * 3, indexing="ij"), -1).reshape(-1, 3) * 0.3
    origin = lattice + 0.02 * torch.rand(lattice.shape, generator=g)
    angle = 0.7
    rot = torch.tensor(
        [[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    perm = torch.randperm(len(origin), generator=g)[:300]
    moved = origin[perm] @ rot.T + torch.tensor([5.0, -3.0, 1.0])
    # The view stores its pre-augmentation coordinates, recovered up to float error.
    recovered = (moved - torch.tensor([5.0, -3.0, 1.0])) @ rot
    zeros = torch.zeros(len(perm), dtype=torch.long)
    index, dist = nearest_neighbor(recovered, zeros, origin, torch.zeros(len(origin), dtype=torch.long), 0.1)
    assert torch.equal(index, perm)
    assert dist.max() < 1e-5
    # Points far from any reference point stay unmatched.
    far = recovered + torch.tensor([0.0, 0.0, 10.0])
    index, _ = nearest_neighbor(far, zeros, origin, torch.zeros(len(origin), dtype=torch.long), 0.1)
    assert (index == -1).all()


def test_nearest_neighbor_stays_within_cloud():
    ref = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    index, _ = nearest_neighbor(ref[:1], torch.tensor([1]), ref, torch.tensor([0, 1]), 0.5)
    assert index.tolist() == [1]
    index, _ = nearest_neighbor(ref[:1], torch.tensor([2]), ref, torch.tensor([0, 1]), 0.5)
    assert index.tolist() == [-1]
    with pytest.raises(ValueError, match="radius must be > 0"):
        nearest_neighbor(ref, torch.tensor([0, 0]), ref, torch.tensor([0, 0]), 0.0)


def test_match_by_key_is_exact():
    g = torch.Generator().manual_seed(2)
    cells = torch.unique(torch.randint(0, 20, (500, 3), generator=g), dim=0)
    batch = torch.randint(0, 2, (len(cells),), generator=g)
    perm = torch.randperm(len(cells), generator=g)[:200]
    index = match_by_key(batch[perm], cells[perm], batch, cells)
    assert torch.equal(index, perm)
    # The same cell in two clouds gives two distinct keys.
    cell = torch.tensor([[1, 2, 3], [1, 2, 3]])
    assert match_by_key(torch.tensor([1, 0]), cell, torch.tensor([0, 1]), cell).tolist() == [1, 0]
    absent = match_by_key(torch.tensor([0]), torch.tensor([[25, 25, 25]]), batch, cells)
    assert absent.tolist() == [-1]
