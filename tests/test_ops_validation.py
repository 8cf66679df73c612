"""Every input validation message of the pointcept.ops wrappers (checked before any dispatch)."""

import pytest
import torch

import pointcept.ops as ops


def gather_args(**overrides):
    args = dict(
        tensors=[torch.zeros(5, 2)], keep=torch.ones(5, dtype=torch.bool), offset=torch.tensor([2, 5])
    )
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (
            dict(tensors=torch.zeros(5, 2)),
            TypeError,
            "tensors must be a list or tuple of tensors, got Tensor",
        ),
        (dict(tensors=[torch.zeros(5), "x"]), TypeError, r"tensors\[1\] must be a torch.Tensor, got str"),
        (dict(tensors=[torch.tensor(1.0)]), ValueError, r"tensors\[0\] must have a leading dimension"),
        (
            dict(tensors=[torch.zeros(4, 2)]),
            ValueError,
            r"tensors\[0\] must have N=5 rows, got shape \(4, 2\)",
        ),
        (dict(tensors=[torch.zeros(5, 2, device="meta")]), ValueError, r"tensors\[0\] must be on cpu"),
        (dict(keep=[True] * 5), TypeError, "keep must be a torch.Tensor, got list"),
        (dict(keep=torch.ones(5)), TypeError, r"keep must have dtype in \(bool\), got float32"),
        (dict(keep=torch.ones(5, 1, dtype=torch.bool)), ValueError, "keep must have 1 dimension"),
        (
            dict(offset=torch.tensor([2, 5], dtype=torch.int32)),
            TypeError,
            r"offset must have dtype in \(int64\)",
        ),
        (dict(offset=torch.tensor([], dtype=torch.long)), ValueError, "offset must hold at least one cloud"),
        (dict(offset=torch.tensor([-1, 5])), ValueError, r"offset must be non-negative, got offset\[0\]=-1"),
        (dict(offset=torch.tensor([3, 2, 5])), ValueError, "offset must be non-decreasing"),
        (dict(offset=torch.tensor([2, 4])), ValueError, r"offset\[-1\] must equal N=5, got 4"),
    ],
)
def test_masked_gather_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        ops.masked_gather(**gather_args(**overrides))


def pool_args(**overrides):
    args = dict(
        grid_coord=torch.zeros(4, 3, dtype=torch.long),
        offset=torch.tensor([4]),
        feat=torch.zeros(4, 2),
        coord=torch.zeros(4, 3),
        stride=2,
        reduce="max",
    )
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(grid_coord=torch.zeros(4, 3)), TypeError, r"grid_coord must have dtype in \(int32, int64\)"),
        (dict(grid_coord=torch.zeros(4, dtype=torch.long)), ValueError, "grid_coord must have 2 dimension"),
        (
            dict(grid_coord=torch.zeros(4, 2, dtype=torch.long)),
            ValueError,
            r"grid_coord must have shape \(N, 3\)",
        ),
        (dict(feat=torch.zeros(4, 2, dtype=torch.long)), TypeError, "feat must have dtype in"),
        (dict(feat=torch.zeros(3, 2)), ValueError, r"feat must have N=4 rows"),
        (dict(feat=torch.zeros(4, 2, device="meta")), ValueError, "feat must be on cpu"),
        (dict(coord=torch.zeros(4, 2)), ValueError, r"coord must have shape \(N, 3\)"),
        (dict(offset=torch.tensor([1, 3])), ValueError, r"offset\[-1\] must equal N=4, got 3"),
        (dict(offset=torch.tensor([4] * 32769)), ValueError, "offset may hold at most 32768 clouds"),
        (dict(stride=0), ValueError, "stride must be >= 1, got 0"),
        (dict(stride=2.0), TypeError, "stride must be an int, got float"),
        (dict(reduce="sum"), ValueError, r"reduce must be one of \('max', 'mean'\), got 'sum'"),
    ],
)
def test_grid_pool_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        ops.grid_pool(**pool_args(**overrides))


requires_fused = pytest.mark.skipif(not ops.fused_available(), reason="dos_ops extension not built")


# The compiled kernels check the grid range themselves, with the wrapper's message.
@pytest.mark.parametrize("backend", ["reference", pytest.param("fused", marks=requires_fused)])
@pytest.mark.parametrize("bad, values", [(-1, r"\[-1, 0\]"), (65536, r"\[0, 65536\]")])
def test_grid_pool_range_errors(backend, bad, values):
    grid_coord = torch.zeros(4, 3, dtype=torch.long)
    grid_coord[1, 1] = bad
    match = r"grid_coord must lie in \[0, 65535\] \(16 bits per axis\), got values in " + values
    with ops.use_backend(backend), pytest.raises(ValueError, match=match):
        ops.grid_pool(**pool_args(grid_coord=grid_coord))


def sinkhorn_args(**overrides):
    args = dict(logits=torch.zeros(6, 4), offset=torch.tensor([3, 6]), alpha=1.3, prior=None, n_iter=3)
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(logits=torch.zeros(6, 4, dtype=torch.long)), TypeError, "logits must have dtype in"),
        (dict(logits=torch.zeros(6)), ValueError, "logits must have 2 dimension"),
        (dict(logits=torch.zeros(6, 0)), ValueError, r"logits must have K >= 1 columns, got shape \(6, 0\)"),
        (dict(offset=torch.tensor([3, 2])), ValueError, "offset must be non-decreasing"),
        (dict(offset=torch.tensor([3, 7])), ValueError, r"offset\[-1\] must equal N=6, got 7"),
        (dict(n_iter=0), ValueError, "n_iter must be >= 1, got 0"),
        (dict(n_iter=2.0), TypeError, "n_iter must be an int, got float"),
        (dict(alpha="1.3"), TypeError, "alpha must be a float, got str"),
        (dict(alpha=-0.5), ValueError, "alpha must be a finite number >= 0, got -0.5"),
        (dict(alpha=float("nan")), ValueError, "alpha must be a finite number >= 0, got nan"),
        (dict(prior=torch.ones(5)), ValueError, "prior must have K=4 entries, got 5"),
        (
            dict(prior=torch.tensor([1.0, 0.0, 1.0, 1.0])),
            ValueError,
            "prior must be finite and strictly positive",
        ),
        (dict(prior=torch.ones(4, dtype=torch.long)), TypeError, "prior must have dtype in"),
        (dict(return_error=1), TypeError, "return_error must be a bool, got int"),
    ],
)
def test_zipf_sinkhorn_errors(overrides, error, match):
    with pytest.raises(error, match=match):
        ops.zipf_sinkhorn(**sinkhorn_args(**overrides))
