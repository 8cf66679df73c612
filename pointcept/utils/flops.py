"""Floating-point operations of a training step, counted by operator.

Dense operators are counted by ``torch.utils.flop_counter.FlopCounterMode`` (its per-operator
formulas: matmuls, attention, convolutions; elementwise ops, norms and softmax count zero), with
the formulas it lacks for the CPU attention kernels added (``EXTRA_FORMULAS``). Sparse convolutions are counted from their actual
neighbour pairs instead: a convolution with ``P`` (output, input) voxel pairs does
``2 * C_in * C_out * P`` FLOPs forward, the same again for the input gradient (when the input
needs one) and again for the weight gradient (when the weight needs one).

Whatever torch sees of a watched sparse convolution (spconv's native CPU algorithm issues one
``aten.mm`` per kernel offset, in forward and backward) is kept apart, in ``sparse_torch_flops``,
so nothing is counted twice; for spconv's native algorithm it equals the pair count, a fused
kernel that torch cannot see leaves it at zero. The backward window of a convolution opens when
the gradient reaches its output and closes when its weight gradient is accumulated (the autograd
engine runs a node's ``AccumulateGrad`` right after the node), so a convolution whose weight is
frozen has its backward counted as dense.
"""

from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


def submanifold_pairs(indices: torch.Tensor, kernel_size: int) -> int:
    """(output, input) pairs of a submanifold convolution: over the ``kernel_size**3`` offsets
    ``d`` (centre included), the active voxels ``v`` whose neighbour ``v + d`` is active too.

    Args:
        indices: Tensor[N, 4] int, rows ``[batch, x, y, z]`` of distinct active voxels.
        kernel_size: odd cube side.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if len(indices) == 0:
        return 0
    radius = kernel_size // 2
    pad = torch.tensor([0, radius, radius, radius], device=indices.device)
    idx = indices.long() - indices.long().min(0).values + pad
    span = idx.max(0).values + pad + 1  # every neighbour coordinate stays in [0, span)
    strides = torch.ones(4, dtype=torch.long, device=indices.device)
    for axis in (2, 1, 0):
        strides[axis] = strides[axis + 1] * span[axis + 1]
    keys = (idx * strides).sum(1)
    sorted_keys = keys.sort().values
    r = torch.arange(-radius, radius + 1, device=indices.device)
    offsets = torch.cartesian_prod(r, r, r)
    pairs = 0
    for delta in (offsets * strides[1:]).sum(1).tolist():
        query = keys + delta
        pos = torch.searchsorted(sorted_keys, query).clamp_(max=len(keys) - 1)
        pairs += int((sorted_keys[pos] == query).sum())
    return pairs


class _OpenBackward(torch.autograd.Function):
    """Identity whose backward marks the start of a watched convolution's backward."""

    @staticmethod
    def forward(ctx, x, counter):
        ctx.counter = counter
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.counter._inside = True
        return grad, None


def _cpu_sdpa_flops(query, key, value, *args, out_val=None, **kwargs) -> int:
    """The CPU flash-attention kernel: the same count as torch's formula for the CUDA kernels."""
    return sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward_flops(grad_out, query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# Operators torch's formulas miss: scaled_dot_product_attention on the CPU runs these.
EXTRA_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


class _SplitFlopCounterMode(FlopCounterMode):
    """FlopCounterMode (with ``EXTRA_FORMULAS``) that hands the FLOPs of ops run inside a watched
    convolution to its owner."""

    def __init__(self, owner: "StepFlopCounter"):
        super().__init__(display=False, custom_mapping=EXTRA_FORMULAS)
        self.owner = owner

    def _count_flops(self, func_packet, out, args, kwargs):
        if not self.owner._inside:
            return super()._count_flops(func_packet, out, args, kwargs)
        if func_packet in self.flop_registry:
            self.owner.sparse_torch_flops += self.flop_registry[func_packet](*args, **kwargs, out_val=out)
        return out


class StepFlopCounter:
    """Context manager counting the FLOPs of the code run under it (forward and backward).

    ``sparse_convs``: modules called as ``module(x)`` with ``x`` a sparse tensor (``.indices``
    Tensor[N, 4], ``.features`` Tensor[N, C_in]) returning one (``.features`` Tensor[N, C_out]),
    a submanifold convolution of cube side ``kernel_size(module)``.

    After exit: ``dense`` (Counter: operator name -> FLOPs), ``sparse_pairs`` (total neighbour
    pairs over all calls), ``sparse_flops`` (from the pairs, with backward), ``sparse_torch_flops``
    and ``total`` (dense + sparse_flops).
    """

    def __init__(self, sparse_convs: Iterable[nn.Module], kernel_size):
        self.sparse_convs = list(sparse_convs)
        self.kernel_size = kernel_size
        self.dense: Counter = Counter()
        self.sparse_pairs = 0
        self.sparse_flops = 0
        self.sparse_torch_flops = 0
        self._inside = False
        self._handles = []

    @property
    def total(self) -> int:
        return sum(self.dense.values()) + self.sparse_flops

    def _pre_hook(self, module, args):
        self._inside = True

    def _hook(self, module, args, out):
        self._inside = False
        x = args[0]
        weights = [p for p in module.parameters() if p.dim() > 1]
        pairs = submanifold_pairs(x.indices, self.kernel_size(module))
        forward = 2 * x.features.shape[1] * out.features.shape[1] * pairs
        passes = 1
        if torch.is_grad_enabled():
            passes += int(x.features.requires_grad) + int(any(w.requires_grad for w in weights))
        self.sparse_pairs += pairs
        self.sparse_flops += forward * passes
        if torch.is_grad_enabled() and out.features.requires_grad and weights[0].requires_grad:
            return out.replace_feature(_OpenBackward.apply(out.features, self))
        return out

    def _close_backward(self, param):
        self._inside = False

    def __enter__(self) -> "StepFlopCounter":
        for module in self.sparse_convs:
            self._handles.append(module.register_forward_pre_hook(self._pre_hook))
            self._handles.append(module.register_forward_hook(self._hook))
            weight = next(p for p in module.parameters() if p.dim() > 1)
            if weight.requires_grad:
                self._handles.append(weight.register_post_accumulate_grad_hook(self._close_backward))
        self._mode = _SplitFlopCounterMode(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for op, flops in self._mode.get_flop_counts().get("Global", {}).items():
            self.dense[str(op).removeprefix("aten.")] += flops
        return False
