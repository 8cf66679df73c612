"""pointcept.utils.flops: neighbour pairs of submanifold convolutions and step FLOPs by operator,
checked against hand-computed counts and against spconv's own neighbour map."""

import pytest
import torch
from torch import nn

from pointcept.models.modules import SubMConv3d
from pointcept.models.structure import import_spconv
from pointcept.utils.flops import StepFlopCounter, submanifold_pairs


def rows(*voxels):
    """Tensor[N, 4] int32 of ``[batch, x, y, z]`` rows."""
    return torch.tensor(voxels, dtype=torch.int32)


def kernel_size(module):
    return module.conv.kernel_size[0]


def random_voxels(n=120, side=7, batches=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat(
        [torch.randint(0, batches, (n, 1), generator=g), torch.randint(0, side, (n, 3), generator=g)], 1
    )
    return torch.unique(idx, dim=0).int()


def sparse_tensor(indices, channels, requires_grad=True, seed=0):
    spconv = import_spconv()
    g = torch.Generator().manual_seed(seed)
    feat = torch.randn(len(indices), channels, generator=g).requires_grad_(requires_grad)
    shape = (indices[:, 1:].max(0).values + 1).tolist()
    return spconv.SparseConvTensor(feat, indices, shape, int(indices[:, 0].max()) + 1)


def test_pairs_by_hand():
    # Two face neighbours: each voxel pairs with itself and with the other.
    assert submanifold_pairs(rows([0, 0, 0, 0], [0, 1, 0, 0]), 3) == 4
    # A diagonal neighbour is inside a 3x3x3 kernel too; two steps away is not.
    assert submanifold_pairs(rows([0, 0, 0, 0], [0, 1, 1, 1], [0, 3, 1, 1]), 3) == 3 + 2
    # A full 2x2x2 block: every voxel sees all 8 with kernel 3; kernel 1 is the identity.
    block = torch.cartesian_prod(*[torch.arange(2)] * 3)
    cube = torch.cat([torch.zeros(8, 1, dtype=torch.long), block], 1)
    assert submanifold_pairs(cube, 3) == 64
    assert submanifold_pairs(cube, 1) == 8
    # The same voxel in another cloud is no neighbour; negative coordinates are fine.
    assert submanifold_pairs(rows([0, -5, 2, 0], [1, -5, 2, 0], [1, -4, 2, 0]), 3) == 3 + 2
    # Kernel 5 reaches two voxels away.
    assert submanifold_pairs(rows([0, 0, 0, 0], [0, 2, 2, 2]), 5) == 4
    assert submanifold_pairs(torch.zeros(0, 4, dtype=torch.int32), 3) == 0
    with pytest.raises(ValueError, match="kernel_size must be odd, got 2"):
        submanifold_pairs(cube, 2)


@pytest.mark.parametrize("ksize", [3, 5])
def test_pairs_match_spconv_neighbour_map(ksize):
    indices = random_voxels()
    conv = SubMConv3d(4, 6, ksize, indice_key="k")
    out = conv(sparse_tensor(indices, 4))
    pair_num = out.indice_dict["k"].indice_pair_num.long()
    centre = ksize**3 // 2
    # spconv's native submanifold map stores one half of the symmetric offsets; the centre is the identity.
    assert int(pair_num[centre]) == 0
    assert submanifold_pairs(indices, ksize) == 2 * int(pair_num.sum()) + len(indices)


def test_linear_step_counts_forward_and_both_gradients():
    lin = nn.Linear(5, 7)
    x = torch.randn(11, 5, requires_grad=True)
    with StepFlopCounter([], kernel_size) as counter:
        lin(x).sum().backward()
    # Forward 2*N*in*out; backward: input gradient and weight gradient, the same each.
    assert counter.total == 3 * 2 * 11 * 5 * 7
    assert counter.sparse_flops == counter.sparse_pairs == counter.sparse_torch_flops == 0


@pytest.mark.parametrize("input_grad", [True, False])
def test_sparse_conv_counted_from_pairs_and_not_twice(input_grad):
    indices = random_voxels()
    conv, lin = SubMConv3d(8, 16, 3, indice_key="a"), nn.Linear(16, 4)
    x = sparse_tensor(indices, 8, requires_grad=input_grad)
    pairs = submanifold_pairs(indices, 3)
    with StepFlopCounter([conv], kernel_size) as counter:
        lin(conv(x).features).sum().backward()
    n, passes = len(indices), 3 if input_grad else 2
    assert counter.sparse_pairs == pairs
    assert counter.sparse_flops == passes * 2 * 8 * 16 * pairs
    # Only the linear layer is dense: what spconv issues (aten.mm per offset) is kept apart.
    assert dict(counter.dense) == {"addmm": 2 * n * 16 * 4, "mm": 2 * 2 * n * 16 * 4}
    assert counter.total == counter.sparse_flops + 3 * 2 * n * 16 * 4
    # spconv's native algorithm multiplies exactly the pairs, in forward, weight and (always) input gradient.
    assert counter.sparse_torch_flops == 3 * 2 * 8 * 16 * pairs


def test_forward_only_counts_one_pass_and_counting_changes_nothing():
    indices = random_voxels(seed=3)
    conv = SubMConv3d(4, 6, 3, indice_key="b")
    x = sparse_tensor(indices, 4)
    with torch.no_grad(), StepFlopCounter([conv], kernel_size) as counter:
        counted = conv(x).features
    assert counter.sparse_flops == 2 * 4 * 6 * submanifold_pairs(indices, 3)
    assert sum(counter.dense.values()) == 0
    torch.testing.assert_close(counted, conv(x).features, rtol=0, atol=0)
    # Gradients with the counter equal those without; hooks are gone afterwards.
    grads = []
    for use_counter in (True, False):
        x = sparse_tensor(indices, 4)
        ctx = StepFlopCounter([conv], kernel_size) if use_counter else torch.enable_grad()
        with ctx:
            conv(x).features.square().sum().backward()
        grads.append((x.features.grad.clone(), conv.conv.weight.grad.clone()))
        conv.zero_grad(set_to_none=True)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not conv._forward_hooks and not conv._forward_pre_hooks


def test_cpu_attention_is_counted():
    # torch's own formulas miss the CPU flash-attention kernels that scaled_dot_product_attention runs.
    b, h, length, e = 2, 3, 16, 8
    q, k, v = (torch.randn(b, h, length, e, requires_grad=True) for _ in range(3))
    with StepFlopCounter([], kernel_size) as counter:
        nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()
    # Forward: Q K^T and P V, 2 * L * L * E each per head; backward (flash): the scores recomputed,
    # then the gradients of P, V, Q and K, five products of that size.
    assert counter.dense["_scaled_dot_product_flash_attention_for_cpu"] == 2 * 2 * b * h * length * length * e
    assert (
        counter.dense["_scaled_dot_product_flash_attention_for_cpu_backward"] == 5 * 2 * b * h * length**2 * e
    )
    assert counter.total == 7 * 2 * b * h * length**2 * e
