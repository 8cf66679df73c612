"""Fake (shape-only) kernels and autograd formulas of the ``dos_ops`` custom ops.

The schemas live in ``libs/dos_ops/csrc/ops.cpp``; this module must run after the extension is
loaded, which ``pointcept.ops._backend.fused_available`` guarantees. ``zipf_sinkhorn`` has no
autograd formula on purpose: its output is a training target.
"""

import torch

_done = []


def _out_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _fake_masked_gather(tensors, keep, offset):
    kept = torch.library.get_ctx().new_dynamic_size()
    gathered = [t.new_empty((kept, *t.shape[1:])) for t in tensors]
    return gathered, keep.new_empty(kept, dtype=torch.int64), torch.empty_like(offset)


def _fake_masked_gather_backward(grads, kept_index, num_rows):
    return [g.new_empty((num_rows, *g.shape[1:])) for g in grads]


def _fake_grid_pool(grid_coord, offset, feat, coord, stride, reduce, with_argmax):
    cells = torch.library.get_ctx().new_dynamic_size()
    index = grid_coord.new_empty  # int64 outputs
    argmax_rows = cells if with_argmax and reduce == "max" else 0
    return (
        feat.new_empty((cells, feat.shape[1])),
        coord.new_empty((cells, 3)),
        index((cells, 3)),
        index(grid_coord.shape[0]),
        index(cells + 1),
        index(cells),
        torch.empty_like(offset),
        index((argmax_rows, feat.shape[1])),
    )


def _fake_grid_pool_max_backward(grad, argmax, num_rows):
    return grad.new_empty((num_rows, grad.shape[1]))


def _fake_grid_pool_mean_backward(grad, cluster, idx_ptr):
    return grad.new_empty((cluster.shape[0], grad.shape[1]))


def _fake_zipf_sinkhorn(logits, offset, alpha, prior, n_iter):
    dtype = _out_dtype(logits)
    return logits.new_empty(logits.shape, dtype=dtype), offset.new_empty(offset.shape, dtype=dtype)


def _fake_submconv_neighbours(grid_coord, offset):
    return grid_coord.new_empty((grid_coord.shape[0], 27))


def _fake_submconv(feat, weight, bias, neighbours):
    return feat.new_empty((feat.shape[0], weight.shape[0]))


def _fake_submconv_backward(grad, feat, weight, neighbours, feat_grad, weight_grad):
    grad_feat = feat.new_empty(feat.shape if feat_grad else (0, feat.shape[1]))
    return grad_feat, weight.new_empty(weight.shape if weight_grad else (0,))


def _masked_gather_setup(ctx, inputs, output):
    tensors, keep, _ = inputs
    ctx.num_rows = keep.shape[0]
    ctx.differentiable = [t.is_floating_point() for t in tensors]
    ctx.save_for_backward(output[1])


def _masked_gather_backward(ctx, grad_gathered, grad_kept_index, grad_offset):
    (kept_index,) = ctx.saved_tensors
    wanted = [i for i, ok in enumerate(ctx.differentiable) if ok and grad_gathered[i] is not None]
    grads = [None] * len(ctx.differentiable)
    if wanted:
        scattered = torch.ops.dos_ops.masked_gather_backward(
            [grad_gathered[i] for i in wanted], kept_index, ctx.num_rows
        )
        for i, grad in zip(wanted, scattered):
            grads[i] = grad
    return grads, None, None


def _grid_pool_setup(ctx, inputs, output):
    _, _, feat, _, _, reduce, _ = inputs
    ctx.reduce = reduce
    ctx.num_rows = feat.shape[0]
    cluster, idx_ptr, argmax = output[3], output[4], output[7]
    ctx.save_for_backward(cluster, idx_ptr, argmax)


def _grid_pool_backward(ctx, grad_feat, grad_coord, *unused):
    cluster, idx_ptr, argmax = ctx.saved_tensors
    feat_grad = coord_grad = None
    if ctx.needs_input_grad[2]:
        if ctx.reduce == "max":
            if argmax.shape[0] != grad_feat.shape[0]:
                raise RuntimeError(
                    "dos_ops::grid_pool was called with with_argmax=False; cannot backpropagate max"
                )
            feat_grad = torch.ops.dos_ops.grid_pool_max_backward(grad_feat, argmax, ctx.num_rows)
        else:
            feat_grad = torch.ops.dos_ops.grid_pool_mean_backward(grad_feat, cluster, idx_ptr)
    if ctx.needs_input_grad[3]:
        coord_grad = torch.ops.dos_ops.grid_pool_mean_backward(grad_coord, cluster, idx_ptr)
    return None, None, feat_grad, coord_grad, None, None, None


def _submconv_setup(ctx, inputs, output):
    feat, weight, bias, neighbours = inputs
    ctx.has_bias = bias is not None
    ctx.save_for_backward(feat, weight, neighbours)


def _submconv_backward(ctx, grad):
    feat, weight, neighbours = ctx.saved_tensors
    feat_grad, weight_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_feat = grad_weight = grad_bias = None
    if feat_grad or weight_grad:
        grad_feat, grad_weight = torch.ops.dos_ops.submconv_backward(
            grad, feat, weight, neighbours, feat_grad, weight_grad
        )
    if ctx.has_bias and ctx.needs_input_grad[2]:
        grad_bias = grad.sum(0, dtype=_out_dtype(grad)).to(grad.dtype)
    return grad_feat if feat_grad else None, grad_weight if weight_grad else None, grad_bias, None


def register() -> None:
    """Register fake kernels and autograd once per process."""
    if _done:
        return
    fakes = {
        "masked_gather": _fake_masked_gather,
        "masked_gather_backward": _fake_masked_gather_backward,
        "grid_pool": _fake_grid_pool,
        "grid_pool_max_backward": _fake_grid_pool_max_backward,
        "grid_pool_mean_backward": _fake_grid_pool_mean_backward,
        "zipf_sinkhorn": _fake_zipf_sinkhorn,
        "submconv_neighbours": _fake_submconv_neighbours,
        "submconv": _fake_submconv,
        "submconv_backward": _fake_submconv_backward,
    }
    for name, fake in fakes.items():
        # An extension built before an op existed lacks its schema; that op then uses its reference.
        if hasattr(torch.ops.dos_ops, name):
            torch.library.register_fake(f"dos_ops::{name}", fake)
    torch.library.register_autograd(
        "dos_ops::masked_gather", _masked_gather_backward, setup_context=_masked_gather_setup
    )
    torch.library.register_autograd("dos_ops::grid_pool", _grid_pool_backward, setup_context=_grid_pool_setup)
    if hasattr(torch.ops.dos_ops, "submconv"):
        torch.library.register_autograd(
            "dos_ops::submconv", _submconv_backward, setup_context=_submconv_setup
        )
    _done.append(True)
