"""masked_gather: reference on a hand-checked case, fused kernel parity, gradients, opcheck."""

import pytest
import torch

import pointcept.ops as ops
from pointcept.ops import reference

requires_fused = pytest.mark.skipif(not ops.fused_available(), reason="dos_ops extension not built")


def test_reference_hand_checked():
    keep = torch.tensor([True, False, True, False, False, True])
    offset = torch.tensor([2, 2, 5, 6])  # cloud 1 is empty
    value = torch.arange(6.0)[:, None] * torch.ones(1, 2)
    (out,), kept_index, new_offset = reference.masked_gather([value], keep, offset)
    assert kept_index.tolist() == [0, 2, 5]
    assert new_offset.tolist() == [1, 1, 2, 3]
    assert out.tolist() == [[0.0, 0.0], [2.0, 2.0], [5.0, 5.0]]


def make_case(n: int, clouds: int, keep_prob: float, seed: int):
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
    return tensors, keep, offset


CASES = {
    "random": (300, 4, 0.3),
    "none_masked": (50, 2, 1.1),
    "all_masked": (50, 2, -0.1),
    "single_point": (1, 1, 1.1),
    "single_point_masked": (1, 1, -0.1),
    "many_clouds": (200, 40, 0.5),
    "large": (70_000, 3, 0.3),  # several parallel chunks
}


@requires_fused
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_reference(name):
    n, clouds, keep_prob = CASES[name]
    tensors, keep, offset = make_case(n, clouds, keep_prob, seed=len(name))
    with ops.use_backend("fused"):
        got, got_index, got_offset = ops.masked_gather(tensors, keep, offset)
    want, want_index, want_offset = reference.masked_gather(tensors, keep, offset)
    assert torch.equal(got_index, want_index)
    assert torch.equal(got_offset, want_offset)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and torch.equal(g, w)


@requires_fused
def test_fused_empty_cloud_and_empty_input():
    keep = torch.tensor([True, False, True])
    offset = torch.tensor([0, 3, 3])
    with ops.use_backend("fused"):
        (out,), index, new_offset = ops.masked_gather([torch.arange(3.0)], keep, offset)
        assert new_offset.tolist() == [0, 2, 2] and out.tolist() == [0.0, 2.0] and index.tolist() == [0, 2]
        (out,), index, new_offset = ops.masked_gather(
            [torch.zeros(0, 4)], torch.zeros(0, dtype=torch.bool), offset[:1]
        )
    assert out.shape == (0, 4) and index.numel() == 0 and new_offset.tolist() == [0]


@requires_fused
def test_fused_non_contiguous_input():
    tensors, keep, offset = make_case(100, 3, 0.5, seed=3)
    strided = torch.randn(3, 100).t()
    with ops.use_backend("fused"):
        (got,), _, _ = ops.masked_gather([strided], keep, offset)
    assert torch.equal(got, strided[keep])


@pytest.mark.parametrize("backend", ["reference", pytest.param("fused", marks=requires_fused)])
def test_gradcheck(backend):
    torch.manual_seed(0)
    keep = torch.tensor([True, False, True, True, False, True, False])
    offset = torch.tensor([3, 3, 7])
    feat = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    coord = torch.randn(7, 2, 2, dtype=torch.float64, requires_grad=True)
    index = torch.arange(7)

    def fn(feat, coord):
        gathered, _, _ = ops.masked_gather([feat, index, coord], keep, offset)
        return gathered[0], gathered[2]

    with ops.use_backend(backend):
        assert torch.autograd.gradcheck(fn, (feat, coord))
        out = ops.masked_gather([feat], keep, offset)[0][0]
        (grad,) = torch.autograd.grad(out.sum(), feat)
    assert torch.equal(grad, keep[:, None].double().expand(7, 3))


@requires_fused
def test_opcheck():
    tensors, keep, offset = make_case(40, 3, 0.5, seed=1)
    tensors[0].requires_grad_()
    torch.library.opcheck(torch.ops.dos_ops.masked_gather.default, (tensors, keep, offset))
    grads = [torch.randn(int(keep.sum()), 3)]
    kept_index = torch.nonzero(keep).flatten()
    torch.library.opcheck(torch.ops.dos_ops.masked_gather_backward.default, (grads, kept_index, 40))
