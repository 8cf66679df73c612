"""Batched Sinkhorn-Knopp with a Zipf prior over prototypes (DOS teacher targets)."""

import math

import torch

from pointcept.ops import reference
from pointcept.ops._backend import use_fused
from pointcept.ops._checks import FLOAT_DTYPES, check_int, check_offset, check_tensor


def zipf_sinkhorn(
    logits: torch.Tensor,
    offset: torch.Tensor,
    alpha: float = 1.3,
    prior: torch.Tensor | None = None,
    n_iter: int = 3,
    return_error: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Zipf-Sinkhorn targets for all clouds of a batch in one call. No gradient flows through it.

    Per cloud of ``N_b`` points: ``n_iter`` rounds of row scaling (every point's row sums to
    ``1 / N_b``) then column scaling (column ``k`` sums to ``prior_k``), then every column is
    normalised to sum to 1 over the cloud's points. ``alpha = 0`` is standard Sinkhorn-Knopp.

    Args:
        logits (Tensor[N, K] float16 | bfloat16 | float32 | float64): scores, already divided by the
            temperature. Stable for large magnitudes (computed with max subtraction).
        offset (Tensor[B] int64): cloud offsets (cumulative, ``offset[-1] == N``); empty clouds are
            allowed and contribute nothing.
        alpha (float): Zipf exponent >= 0 of the default prior ``k^-alpha / sum_r r^-alpha`` for
            ``k = 1..K``; ignored when ``prior`` is given.
        prior (Tensor[K] float | None): positive column marginal, normalised here to sum to 1.
        n_iter (int): number of rounds, >= 1.
        return_error (bool): also return the row-marginal error per cloud.

    Returns:
        target (Tensor[N, K]): float32 (float64 for float64 logits), detached; each column of each
        cloud sums to 1. With ``return_error``, also ``row_error`` (Tensor[B], same dtype): L1
        distance between the row marginal after the last column scaling and ``1 / N_b`` (0 for empty
        clouds).
    """
    check_tensor("logits", logits, dtypes=FLOAT_DTYPES, ndim=2)
    num_rows, num_prototypes = logits.shape
    if num_prototypes < 1:
        raise ValueError(f"logits must have K >= 1 columns, got shape {tuple(logits.shape)}")
    check_offset(offset, num_rows, logits.device)
    check_int("n_iter", n_iter, minimum=1)
    if not isinstance(return_error, bool):
        raise TypeError(f"return_error must be a bool, got {type(return_error).__name__}")
    if prior is None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise TypeError(f"alpha must be a float, got {type(alpha).__name__}")
        if not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    else:
        check_tensor("prior", prior, dtypes=FLOAT_DTYPES, ndim=1, device=logits.device)
        if len(prior) != num_prototypes:
            raise ValueError(f"prior must have K={num_prototypes} entries, got {len(prior)}")
        if not bool(torch.isfinite(prior).all()) or bool((prior <= 0).any()):
            raise ValueError("prior must be finite and strictly positive")
        prior = prior.detach().double() / prior.detach().double().sum()
    logits = logits.detach()
    with torch.no_grad():
        fused = use_fused("zipf_sinkhorn", logits.device)
        kernel = torch.ops.dos_ops.zipf_sinkhorn if fused else reference.zipf_sinkhorn
        target, row_error = kernel(logits, offset, float(alpha), prior, n_iter)
    return (target, row_error) if return_error else target
