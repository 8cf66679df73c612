"""submconv: neighbour table and 3x3x3 submanifold convolution; reference vs spconv, fused vs reference,
gradients, opcheck, validation messages."""

import pytest
import torch
from real_data import real_path, skip_unless_real

import pointcept.ops as ops
from pointcept.ops import reference

SCAN_PARTS = ("semantic_kitti", "dataset", "sequences", "00", "velodyne", "000000.bin")


def unique_voxels(n: int, clouds: int, extent: int, seed: int, low: int = 0):
    """Random clouds of distinct voxels in shuffled row order: (grid_coord [M, 3], offset [B])."""
    generator = torch.Generator().manual_seed(seed)
    batch = torch.sort(torch.randint(0, clouds, (n,), generator=generator)).values
    grid = torch.randint(low, low + extent, (n, 3), generator=generator)
    cells = torch.unique(torch.cat([batch[:, None], grid], dim=1), dim=0)
    cells = cells[torch.randperm(len(cells), generator=generator)]
    cells = cells[torch.argsort(cells[:, 0], stable=True)]
    offset = torch.cumsum(torch.bincount(cells[:, 0], minlength=clouds), dim=0)
    return cells[:, 1:].contiguous(), offset


def scan_voxels(num_points: int):
    """Voxels (5 cm) of the points of the real scan nearest to the sensor, as the model sees them."""
    from tools.bench_common import grid_sampled_scan

    data = grid_sampled_scan(real_path(*SCAN_PARTS), grid_size=0.05, num_points=num_points)
    return data["grid_coord"], data["offset"]


def spconv_submconv(grid, offset, feat, weight):
    """spconv's SubMConv3d (native CPU algorithm) with ``weight`` on the voxels ``grid``."""
    from spconv.core import ConvAlgo

    from pointcept.models.structure import import_spconv
    from pointcept.utils.offsets import offset2batch

    spconv = import_spconv()
    conv = spconv.SubMConv3d(feat.shape[1], weight.shape[0], 3, bias=False, algo=ConvAlgo.Native)
    conv = conv.to(feat.dtype)
    conv.weight.data.copy_(weight)
    indices = torch.cat([offset2batch(offset)[:, None], grid], dim=1).int()
    shape = (grid.max(0).values + 1).tolist()
    return conv(spconv.SparseConvTensor(feat, indices, shape, len(offset))).features


def test_reference_neighbours_hand_checked():
    # Cloud 0: rows 0..2; cloud 1: row 3 at the same cell as row 0; row 4 duplicates row 1's cell.
    grid = torch.tensor([[1, 1, 1], [2, 1, 1], [1, 1, 2], [1, 1, 1], [2, 1, 1]])
    offset = torch.tensor([3, 5])
    nbr = reference.submconv_neighbours(grid, offset)
    center, x_plus, x_minus, z_plus, z_minus = 13, 22, 4, 14, 12
    assert nbr[:, center].tolist() == [0, 1, 2, 3, 4]
    assert nbr[0, x_plus] == 1 and nbr[0, z_plus] == 2 and nbr[1, x_minus] == 0 and nbr[2, z_minus] == 0
    # Other clouds are invisible: row 3's only neighbour (row 4) is in its own cloud.
    assert nbr[3].tolist() == [-1] * 13 + [3] + [-1] * 8 + [4] + [-1] * 4
    # Row 0: itself, +x, +z; rows 1, 2: itself, the other (diagonal), row 0; rows 3, 4: itself, the other.
    assert (nbr >= 0).sum().item() == 3 + 3 + 3 + 2 + 2


def test_reference_matches_spconv():
    grid, offset = unique_voxels(600, 3, 9, seed=0)
    generator = torch.Generator().manual_seed(1)
    feat = torch.randn(len(grid), 5, generator=generator, dtype=torch.float64)
    weight = torch.randn(7, 3, 3, 3, 5, generator=generator, dtype=torch.float64)
    want = spconv_submconv(grid, offset, feat, weight)
    got = reference.submconv(feat, weight, None, reference.submconv_neighbours(grid, offset))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


CASES = {
    "random": dict(n=700, clouds=3, extent=10),
    "dense": dict(n=900, clouds=1, extent=6),
    "sparse": dict(n=300, clouds=2, extent=200),
    "many_clouds": dict(n=400, clouds=50, extent=4),
    "single_point": dict(n=1, clouds=1, extent=3),
    "near_2^16": dict(n=400, clouds=2, extent=6, low=65530),
    "large": dict(n=30_000, clouds=2, extent=40),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_neighbours_match_reference(name, fused_device):
    grid, offset = unique_voxels(**CASES[name], seed=2)
    grid, offset = grid.to(fused_device), offset.to(fused_device)
    with ops.use_backend("fused"):
        got = ops.submconv_neighbours(grid.int(), offset)
    assert got.dtype == torch.int64 and got.shape == (len(grid), 27) and got.device == fused_device
    assert torch.equal(got, reference.submconv_neighbours(grid, offset))


def test_fused_neighbours_duplicates_empty_clouds_and_edges(fused_device):
    # Duplicate cells resolve to the lowest row; empty clouds; cells at 0 and 65535 have no
    # neighbours past the edge (keys must not wrap into the next field or cloud).
    grid = torch.tensor(
        [[0, 0, 0], [0, 0, 1], [0, 0, 0], [65535, 65535, 65535], [65535, 65535, 65534], [0, 1, 0], [5, 5, 5]],
        device=fused_device,
    )
    offset = torch.tensor([0, 3, 3, 6, 7], device=fused_device)
    with ops.use_backend("fused"):
        got = ops.submconv_neighbours(grid, offset)
        empty = ops.submconv_neighbours(grid[:0], offset.new_tensor([0]))
    want = reference.submconv_neighbours(grid, offset)
    assert torch.equal(got, want)
    assert got[1, 12].item() == 0 and got[2, 13].item() == 0  # duplicates of (0, 0, 0) -> row 0
    assert got[3].tolist() == [-1] * 12 + [4, 3] + [-1] * 13
    assert got[5].tolist() == [-1] * 13 + [5] + [-1] * 13
    assert (got[6] >= 0).sum().item() == 1 and empty.shape == (0, 27)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "name, c_in, c_out",
    # Channel counts below, at and off the kernels' register tiles (32 wide, 4 rows).
    [("random", 6, 4), ("many_clouds", 3, 5), ("random", 40, 37), ("large", 32, 48)],
)
def test_fused_forward_and_backward_match_reference(name, c_in, c_out, bias, fused_device):
    grid, offset = unique_voxels(**CASES[name], seed=3)
    nbr = reference.submconv_neighbours(grid, offset).to(fused_device)
    generator = torch.Generator().manual_seed(4)
    feat = torch.randn(len(grid), c_in, generator=generator).to(fused_device)
    weight = (torch.randn(c_out, 3, 3, 3, c_in, generator=generator) / 10).to(fused_device)
    b = torch.randn(c_out, generator=generator).to(fused_device) if bias else None
    grad = torch.randn(len(grid), c_out, generator=generator).to(fused_device)
    results = []
    for backend in ("fused", "reference"):
        leaves = [feat.clone().requires_grad_(), weight.clone().requires_grad_()]
        leaves += [b.clone().requires_grad_()] if bias else []
        with ops.use_backend(backend):
            out = ops.submconv(leaves[0], leaves[1], leaves[2] if bias else None, nbr)
        out.backward(grad)
        results.append([out.detach()] + [leaf.grad for leaf in leaves])
    for got, want in zip(*results):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)  # grad_weight sums 30k rows


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_fused_dtypes(dtype, fused_device):
    grid, offset = unique_voxels(500, 2, 8, seed=5)
    nbr = reference.submconv_neighbours(grid, offset).to(fused_device)
    generator = torch.Generator().manual_seed(6)
    feat = torch.randn(len(grid), 8, generator=generator).to(fused_device, dtype)
    weight = (torch.randn(5, 3, 3, 3, 8, generator=generator) / 8).to(fused_device, dtype)
    bias = torch.randn(5, generator=generator).to(fused_device, dtype)
    with ops.use_backend("fused"):
        out = ops.submconv(feat, weight, bias, nbr)
        grad_feat, grad_weight = torch.ops.dos_ops.submconv_backward(
            torch.ones_like(out), feat, weight, nbr, True, True
        )
    want = reference.submconv(feat.double(), weight.double(), bias.double(), nbr)
    assert out.dtype == dtype and grad_feat.dtype == dtype and grad_weight.shape == weight.shape
    tol = 1e-12 if dtype == torch.float64 else 3e-2
    torch.testing.assert_close(out.double(), want, rtol=tol, atol=tol * 10)
    # With a unit output gradient, grad_weight[co, k, ci] is the column sum of the gathered tap.
    padded = torch.cat([feat.double(), feat.new_zeros(1, 8, dtype=torch.float64)])
    taps = padded[nbr.where(nbr >= 0, len(feat))].sum(0)  # [27, C_in]
    torch.testing.assert_close(grad_weight.double()[0].reshape(27, 8), taps, rtol=tol, atol=tol * 50)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_gradcheck(backend, device, request):
    if backend == "fused":
        request.getfixturevalue("fused_device")
    grid, offset = unique_voxels(60, 2, 4, seed=7)
    nbr = reference.submconv_neighbours(grid, offset).to(device)
    generator = torch.Generator().manual_seed(8)
    feat = torch.randn(len(grid), 3, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    weight = torch.randn(2, 3, 3, 3, 3, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    bias = torch.randn(2, generator=generator, dtype=torch.float64).to(device).requires_grad_()
    with ops.use_backend(backend):
        assert torch.autograd.gradcheck(lambda f, w, b: ops.submconv(f, w, b, nbr), (feat, weight, bias))


def test_opcheck(fused_device):
    grid, offset = unique_voxels(80, 2, 5, seed=9)
    grid, offset = grid.to(fused_device), offset.to(fused_device)
    torch.library.opcheck(torch.ops.dos_ops.submconv_neighbours.default, (grid, offset))
    nbr = torch.ops.dos_ops.submconv_neighbours(grid, offset)
    feat = torch.randn(len(grid), 4, device=fused_device, requires_grad=True)
    weight = torch.randn(3, 3, 3, 3, 4, device=fused_device, requires_grad=True)
    bias = torch.randn(3, device=fused_device, requires_grad=True)
    torch.library.opcheck(torch.ops.dos_ops.submconv.default, (feat, weight, bias, nbr))
    torch.library.opcheck(torch.ops.dos_ops.submconv.default, (feat, weight, None, nbr))
    grad = torch.randn(len(grid), 3, device=fused_device)
    for flags in ((True, True), (True, False), (False, True)):
        args = (grad, feat.detach(), weight.detach(), nbr, *flags)
        torch.library.opcheck(torch.ops.dos_ops.submconv_backward.default, args)


@skip_unless_real(*SCAN_PARTS)
@pytest.mark.parametrize("stride", [1, 4])
def test_fused_matches_spconv_on_a_real_scan(stride, fused_device):
    grid, offset = scan_voxels(8000)
    grid = torch.unique(grid // stride, dim=0)  # a pooled level's voxels
    offset = torch.tensor([len(grid)])
    generator = torch.Generator().manual_seed(10)
    feat = torch.randn(len(grid), 16, generator=generator)
    weight = torch.randn(16, 3, 3, 3, 16, generator=generator) / 10
    want = spconv_submconv(grid, offset, feat, weight)
    with ops.use_backend("fused"):
        nbr = ops.submconv_neighbours(grid.to(fused_device), offset.to(fused_device))
        got = ops.submconv(feat.to(fused_device), weight.to(fused_device), None, nbr)
    assert (nbr >= 0).sum() > 2 * len(grid)  # the scan's voxels do have neighbours
    torch.testing.assert_close(got.cpu(), want, rtol=1e-4, atol=1e-4)


def test_validation_messages():
    grid, offset = torch.zeros(4, 3, dtype=torch.long), torch.tensor([4])
    feat, weight, nbr = torch.zeros(4, 2), torch.zeros(3, 3, 3, 3, 2), torch.zeros(4, 27, dtype=torch.long)
    with pytest.raises(TypeError, match=r"grid_coord must have dtype in \(int32, int64\), got float32"):
        ops.submconv_neighbours(grid.float(), offset)
    with pytest.raises(ValueError, match=r"offset\[-1\] must equal N=4, got 3"):
        ops.submconv_neighbours(grid, torch.tensor([3]))
    for backend in ("reference", "fused"):
        if backend == "fused" and not ops.fused_available():
            continue
        with (
            ops.use_backend(backend),
            pytest.raises(ValueError, match=r"grid_coord must lie in \[0, 65535\]"),
        ):
            ops.submconv_neighbours(grid - 1, offset)
    with pytest.raises(
        ValueError, match=r"weight must have shape \(C_out, 3, 3, 3, 2\), got \(3, 3, 3, 3, 5\)"
    ):
        ops.submconv(feat, torch.zeros(3, 3, 3, 3, 5), None, nbr)
    with pytest.raises(TypeError, match=r"weight must have dtype in \(float32\), got float64"):
        ops.submconv(feat, weight.double(), None, nbr)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(2,\)"):
        ops.submconv(feat, weight, torch.zeros(2), nbr)
    with pytest.raises(ValueError, match=r"neighbours must have shape \(N, 27\), got \(4, 26\)"):
        ops.submconv(feat, weight, None, nbr[:, :26])
    with pytest.raises(TypeError, match=r"neighbours must have dtype in \(int64\), got int32"):
        ops.submconv(feat, weight, None, nbr.int())


def test_fused_empty_input(fused_device):
    feat = torch.zeros(0, 3, device=fused_device, requires_grad=True)
    weight = torch.randn(2, 3, 3, 3, 3, device=fused_device, requires_grad=True)
    bias = torch.randn(2, device=fused_device, requires_grad=True)
    nbr = torch.zeros(0, 27, dtype=torch.long, device=fused_device)
    with ops.use_backend("fused"):
        out = ops.submconv(feat, weight, bias, nbr)
    assert out.shape == (0, 2)
    out.sum().backward()
    assert feat.grad.shape == (0, 3) and torch.equal(weight.grad, torch.zeros_like(weight))
    assert torch.equal(bias.grad, torch.zeros_like(bias))
