"""grid_pool: reference on a hand-checked case, fused kernel parity, gradients, opcheck."""

import pytest
import torch

import pointcept.ops as ops
from pointcept.ops import reference


def test_reference_hand_checked(device):
    # Cloud 0: rows 0..3, cloud 1: rows 4..5. Stride 2 cells: row0 (0,0,0), row1 (1,0,0),
    # row2 (0,0,0), row3 (0,1,0); cloud 1: both rows in (0,0,0).
    grid = torch.tensor([[1, 0, 0], [2, 1, 1], [0, 1, 0], [0, 3, 1], [1, 1, 1], [0, 0, 0]], device=device)
    offset = torch.tensor([4, 6], device=device)
    feat = torch.tensor([[1.0], [5.0], [3.0], [7.0], [2.0], [4.0]], device=device)
    coord = torch.arange(18.0, device=device).view(6, 3)
    out = reference.grid_pool(grid, offset, feat, coord, stride=2, reduce="max")
    assert out.grid_coord.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert out.cluster.tolist() == [0, 2, 0, 1, 3, 3]
    assert out.idx_ptr.tolist() == [0, 2, 3, 4, 6]
    assert out.head.tolist() == [0, 3, 1, 4]
    assert out.offset.tolist() == [3, 4]
    assert out.feat.flatten().tolist() == [3.0, 7.0, 5.0, 4.0]
    assert out.coord[0].tolist() == [3.0, 4.0, 5.0]
    mean = reference.grid_pool(grid, offset, feat, coord, stride=2, reduce="mean")
    assert mean.feat.flatten().tolist() == [2.0, 7.0, 5.0, 3.0]


def make_case(
    n: int, clouds: int, extent: int, seed: int, device: torch.device, low: int = 0, channels: int = 5
):
    """Random clouds drawn on the CPU (same values on every device), then moved to ``device``."""
    generator = torch.Generator().manual_seed(seed)
    cut = torch.sort(torch.randint(0, n + 1, (clouds - 1,), generator=generator)).values
    offset = torch.cat([cut, torch.tensor([n])])
    grid = torch.randint(low, low + extent, (n, 3), generator=generator)
    feat = torch.randn(n, channels, generator=generator)
    coord = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return grid.to(device), offset.to(device), feat.to(device), coord.to(device)


CASES = {
    "random": dict(n=400, clouds=3, extent=12),
    "one_cell": dict(n=50, clouds=1, extent=1),
    "single_point": dict(n=1, clouds=1, extent=5),
    "near_2^16": dict(n=300, clouds=2, extent=6, low=65530),
    "full_range": dict(n=300, clouds=2, extent=65536),
    "many_clouds": dict(n=500, clouds=60, extent=4),
    "large": dict(n=40_000, clouds=4, extent=60, channels=64),
}


def assert_same(got, want, exact_feat: bool):
    """Indices exactly; means to rounding; ``feat`` exactly when ``exact_feat`` (max is exact)."""
    for name in reference.GridPoolResult._fields:
        g, w = getattr(got, name), getattr(want, name)
        assert g.dtype == w.dtype and g.shape == w.shape and g.device == w.device, name
        if g.is_floating_point() and not (exact_feat and name == "feat"):
            torch.testing.assert_close(g, w, msg=name)
        else:
            assert torch.equal(g, w), name


@pytest.mark.parametrize("reduce", ["max", "mean"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_reference(name, stride, reduce, fused_device):
    grid, offset, feat, coord = make_case(**CASES[name], seed=stride, device=fused_device)
    with ops.use_backend("fused"):
        got = ops.grid_pool(grid, offset, feat, coord, stride, reduce)
    want = reference.grid_pool(grid, offset, feat, coord, stride, reduce)
    assert got.feat.device == fused_device
    assert_same(got, want, exact_feat=reduce == "max")


def test_fused_empty_clouds_and_empty_input(fused_device):
    grid, _, feat, coord = make_case(30, 1, 4, seed=0, device=fused_device)
    offset = torch.tensor([0, 10, 10, 30, 30], device=fused_device)
    with ops.use_backend("fused"):
        got = ops.grid_pool(grid, offset, feat, coord, 2, "max")
        assert_same(got, reference.grid_pool(grid, offset, feat, coord, 2, "max"), exact_feat=True)
        empty = ops.grid_pool(grid[:0], offset.new_tensor([0, 0]), feat[:0], coord[:0], 2, "mean")
    assert empty.feat.shape == (0, 5) and empty.idx_ptr.tolist() == [0] and empty.offset.tolist() == [0, 0]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_fused_dtypes(dtype, fused_device):
    grid, offset, feat, coord = make_case(500, 2, 8, seed=4, device=fused_device)
    feat, coord = feat.to(dtype), coord.float()
    for reduce in ("max", "mean"):
        with ops.use_backend("fused"):
            got = ops.grid_pool(grid.int(), offset, feat, coord, 2, reduce)
        want = reference.grid_pool(grid, offset, feat, coord, 2, reduce)
        assert_same(got, want, exact_feat=reduce == "max")


def test_fused_max_ties_and_nan(fused_device):
    grid = torch.zeros(4, 3, dtype=torch.long, device=fused_device)
    offset = torch.tensor([4], device=fused_device)
    feat = torch.tensor(
        [[1.0, 2.0], [3.0, float("nan")], [3.0, 2.0], [0.0, float("nan")]], device=fused_device
    )
    coord = torch.zeros(4, 3, device=fused_device)
    with ops.use_backend("fused"):
        got = ops.grid_pool(grid, offset, feat.requires_grad_(), coord, 2, "max")
        (grad,) = torch.autograd.grad(got.feat.sum(), feat)
    assert got.feat[0, 0] == 3.0 and got.feat[0, 1].isnan()
    # The gradient of a tied max goes to the lowest row, of a NaN max to the first NaN.
    assert grad.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("reduce", ["max", "mean"])
@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_gradcheck(backend, reduce, device, request):
    if backend == "fused":
        request.getfixturevalue("fused_device")  # skips without kernels for the device
    grid, offset, feat, coord = make_case(40, 3, 4, seed=5, device=device, channels=3)
    feat = feat.double().requires_grad_()
    coord = coord.requires_grad_()

    def fn(feat, coord):
        out = ops.grid_pool(grid, offset, feat, coord, 2, reduce)
        return out.feat, out.coord

    with ops.use_backend(backend):
        assert torch.autograd.gradcheck(fn, (feat, coord))


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_opcheck(reduce, fused_device):
    grid, offset, feat, coord = make_case(60, 2, 5, seed=6, device=fused_device)
    feat.requires_grad_()
    coord.requires_grad_()
    torch.library.opcheck(torch.ops.dos_ops.grid_pool.default, (grid, offset, feat, coord, 2, reduce, True))
    out = torch.ops.dos_ops.grid_pool(grid, offset, feat.detach(), coord.detach(), 2, "max", True)
    grad = torch.randn_like(out[0])
    torch.library.opcheck(torch.ops.dos_ops.grid_pool_max_backward.default, (grad, out[7], 60))
    torch.library.opcheck(torch.ops.dos_ops.grid_pool_mean_backward.default, (grad, out[3], out[4]))
