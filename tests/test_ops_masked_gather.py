"""masked_gather: reference on a hand-checked case, fused kernel parity, gradients, opcheck."""

import pytest
import torch

import pointcept.ops as ops
from pointcept.ops import reference


def test_reference_hand_checked(device):
    keep = torch.tensor([True, False, True, False, False, True], device=device)
    offset = torch.tensor([2, 2, 5, 6], device=device)  # cloud 1 is empty
    value = torch.arange(6.0, device=device)[:, None] * torch.ones(1, 2, device=device)
    (out,), kept_index, new_offset = reference.masked_gather([value], keep, offset)
    assert kept_index.tolist() == [0, 2, 5]
    assert new_offset.tolist() == [1, 1, 2, 3]
    assert out.tolist() == [[0.0, 0.0], [2.0, 2.0], [5.0, 5.0]]


def make_case(n: int, clouds: int, keep_prob: float, seed: int, device: torch.device):
    """Random clouds drawn on the CPU (same values on every device), then moved to ``device``."""
    generator = torch.Generator().manual_seed(seed)
    cut = torch.sort(torch.randint(0, n + 1, (clouds - 1,), generator=generator)).values
    offset = torch.cat([cut, torch.tensor([n])])
    keep = torch.rand(n, generator=generator) < keep_prob
    tensors = [
        torch.randn(n, 3, generator=generator),
        torch.randint(0, 1000, (n, 3), generator=generator),
        torch.randn(n, 5, generator=generator, dtype=torch.float64),
        torch.randn(n, 2, 3, generator=generator).half(),
        torch.arange(n),
        torch.rand(n, generator=generator) < 0.5,
    ]
    return [t.to(device) for t in tensors], keep.to(device), offset.to(device)


CASES = {
    "random": (300, 4, 0.3),
    "none_masked": (50, 2, 1.1),
    "all_masked": (50, 2, -0.1),
    "single_point": (1, 1, 1.1),
    "single_point_masked": (1, 1, -0.1),
    "many_clouds": (200, 40, 0.5),
    "large": (70_000, 3, 0.3),  # several parallel chunks
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_reference(name, fused_device):
    n, clouds, keep_prob = CASES[name]
    tensors, keep, offset = make_case(n, clouds, keep_prob, seed=len(name), device=fused_device)
    with ops.use_backend("fused"):
        got, got_index, got_offset = ops.masked_gather(tensors, keep, offset)
    want, want_index, want_offset = reference.masked_gather(tensors, keep, offset)
    assert torch.equal(got_index, want_index)
    assert torch.equal(got_offset, want_offset)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.device == fused_device and torch.equal(g, w)


def test_fused_empty_cloud_and_empty_input(fused_device):
    keep = torch.tensor([True, False, True], device=fused_device)
    offset = torch.tensor([0, 3, 3], device=fused_device)
    with ops.use_backend("fused"):
        (out,), index, new_offset = ops.masked_gather([torch.arange(3.0, device=fused_device)], keep, offset)
        assert new_offset.tolist() == [0, 2, 2] and out.tolist() == [0.0, 2.0] and index.tolist() == [0, 2]
        (out,), index, new_offset = ops.masked_gather(
            [torch.zeros(0, 4, device=fused_device)],
            torch.zeros(0, dtype=torch.bool, device=fused_device),
            offset[:1],
        )
    assert out.shape == (0, 4) and index.numel() == 0 and new_offset.tolist() == [0]


def test_fused_non_contiguous_input(fused_device):
    tensors, keep, offset = make_case(100, 3, 0.5, seed=3, device=fused_device)
    strided = torch.randn(3, 100, device=fused_device).t()
    with ops.use_backend("fused"):
        (got,), _, _ = ops.masked_gather([strided], keep, offset)
    assert torch.equal(got, strided[keep])


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_gradcheck(backend, device, request):
    if backend == "fused":
        request.getfixturevalue("fused_device")  # skips without kernels for the device
    torch.manual_seed(0)
    keep = torch.tensor([True, False, True, True, False, True, False], device=device)
    offset = torch.tensor([3, 3, 7], device=device)
    feat = torch.randn(7, 3, dtype=torch.float64, device=device, requires_grad=True)
    coord = torch.randn(7, 2, 2, dtype=torch.float64, device=device, requires_grad=True)
    index = torch.arange(7, device=device)

    def fn(feat, coord):
        gathered, _, _ = ops.masked_gather([feat, index, coord], keep, offset)
        return gathered[0], gathered[2]

    with ops.use_backend(backend):
        assert torch.autograd.gradcheck(fn, (feat, coord))
        out = ops.masked_gather([feat], keep, offset)[0][0]
        (grad,) = torch.autograd.grad(out.sum(), feat)
    assert grad.device == device and torch.equal(grad, keep[:, None].double().expand(7, 3))


def test_opcheck(fused_device):
    tensors, keep, offset = make_case(40, 3, 0.5, seed=1, device=fused_device)
    tensors[0].requires_grad_()
    torch.library.opcheck(torch.ops.dos_ops.masked_gather.default, (tensors, keep, offset))
    grads = [torch.randn(int(keep.sum()), 3, device=fused_device)]
    kept_index = torch.nonzero(keep).flatten()
    torch.library.opcheck(torch.ops.dos_ops.masked_gather_backward.default, (grads, kept_index, 40))
