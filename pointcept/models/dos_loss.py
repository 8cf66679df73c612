"""DOS loss terms: per-cloud softmaps of student cells and their Zipf-Sinkhorn teacher targets.

Rows are cells at the distillation level, grouped into clouds by a ``batch`` vector; every
normalisation (softmax over points, Sinkhorn marginals, loss averaging) runs within one cloud, so a
cloud's loss never depends on the other clouds of the batch; the one exception is the Sonata
baseline's ``scope="batch"`` Sinkhorn, whose marginals span all cells of the batch.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from pointcept.ops import zipf_sinkhorn
from pointcept.utils.offsets import batch2offset


def segment_log_softmax(logits: torch.Tensor, batch: torch.Tensor, num_clouds: int) -> torch.Tensor:
    """Log-softmax over the rows of each cloud, independently for every column.

    Args:
        logits (Tensor[M, K] float), batch (Tensor[M] int64): rows and their cloud.
        num_clouds (int): B.

    Returns:
        Tensor[M, K] float: ``log softmax`` over the rows of the same cloud (column-wise softmaps).
    """
    index = batch[:, None].expand_as(logits)
    # The shift cancels in the softmax; detaching it keeps scatter_reduce out of the backward.
    peak = logits.new_full((num_clouds, logits.shape[1]), float("-inf"))
    peak = peak.scatter_reduce(0, index, logits.detach(), reduce="amax")
    shifted = logits - peak[batch]
    norm = logits.new_zeros((num_clouds, logits.shape[1])).index_add(0, batch, shifted.exp())
    return shifted - norm.log()[batch]


def softmap_kl(
    student_logits: torch.Tensor, target: torch.Tensor, batch: torch.Tensor, num_clouds: int
) -> torch.Tensor:
    """Per-cloud ``(1/K) sum_k KL(target_k || softmax_points(student_logits)_k)``.

    Args:
        student_logits (Tensor[M, K] float): student cosines already divided by tau_s.
        target (Tensor[M, K] float): teacher softmaps; each column sums to 1 over each cloud's rows.
        batch (Tensor[M] int64): cloud of every row.
        num_clouds (int): B.

    Returns:
        Tensor[B] float: the loss of each cloud (0 for clouds without rows).
    """
    log_student = segment_log_softmax(student_logits, batch, num_clouds)
    # xlogy gives 0 * log 0 = 0 where the target vanishes.
    pointwise = torch.special.xlogy(target, target) - target * log_student
    per_prototype = pointwise.new_zeros((num_clouds, target.shape[1])).index_add(0, batch, pointwise)
    return per_prototype.mean(1)


def assignment_ce(
    student_logits: torch.Tensor, assignment: torch.Tensor, batch: torch.Tensor, num_clouds: int
) -> torch.Tensor:
    """Per-cloud mean over rows of ``-sum_k q_ik log softmax_k(student_logits_i)`` (SwAV/Sonata style).

    Args:
        student_logits (Tensor[M, K] float): student cosines already divided by tau_s.
        assignment (Tensor[M, K] float): teacher distribution over prototypes; rows sum to 1.
        batch (Tensor[M] int64): cloud of every row.
        num_clouds (int): B.

    Returns:
        Tensor[B] float: the loss of each cloud (0 for clouds without rows).
    """
    pointwise = -(assignment * F.log_softmax(student_logits, dim=1)).sum(1)
    total = pointwise.new_zeros(num_clouds).index_add(0, batch, pointwise)
    count = torch.bincount(batch, minlength=num_clouds).clamp_min(1)
    return total / count


TARGETS = ("softmap", "assignment", "regression")
SINKHORN_SCOPES = ("cloud", "batch")


def check_target(target: str, scope: str = "cloud", prefix: str = "") -> None:
    """Raise ValueError unless ``target`` is in TARGETS and ``scope`` in SINKHORN_SCOPES, with
    ``"batch"`` only for assignment targets (a softmap is a distribution over one cloud's cells)."""
    if target not in TARGETS:
        raise ValueError(f"{prefix}target must be one of {TARGETS}, got {target!r}")
    if scope not in SINKHORN_SCOPES or (scope == "batch" and target != "assignment"):
        raise ValueError(
            f"{prefix}sinkhorn_scope must be 'cloud', or 'batch' with target 'assignment'; got {scope!r}"
        )


class Term(NamedTuple):
    """One distillation term (same-view or cross-view) of one view."""

    loss: torch.Tensor  # 0-d, mean over clouds that have at least one matched cell
    row_error: torch.Tensor  # 0-d, max Sinkhorn row-marginal error over clouds
    entropy: torch.Tensor  # 0-d, mean entropy of the teacher softmaps
    matched: torch.Tensor  # 0-d, fraction of student cells that entered the term
    target: torch.Tensor  # (M_hit, K) float, detached Zipf-Sinkhorn softmaps at the matched cells


def distill_term(
    student_logits: torch.Tensor,
    batch: torch.Tensor,
    num_clouds: int,
    teacher_logits: torch.Tensor,
    index: torch.Tensor,
    prior: torch.Tensor,
    tau_s: float,
    tau_t: float,
    sinkhorn_iters: int,
    target: str = "softmap",
    scope: str = "cloud",
) -> Term:
    """Distil the teacher's targets into the student at the student cells matched to a teacher cell.

    Zipf-Sinkhorn runs over exactly the matched cells of each cloud, the same cells the student
    softmax runs over; unmatched cells (``index == -1``) drop out of both.

    Args:
        student_logits (Tensor[M, K] float): student cosines with the prototypes.
        batch (Tensor[M] int64), num_clouds (int): cloud of every student cell, and B.
        teacher_logits (Tensor[M_t, K] float): teacher cosines (no gradient needed).
        index (Tensor[M] int64): teacher row matched to every student cell, -1 for none.
        prior (Tensor[K] float): Zipf column marginal of the Sinkhorn.
        tau_s, tau_t (float): student and teacher temperatures.
        sinkhorn_iters (int): Sinkhorn iterations T.
        target (str): ``"softmap"`` (KL between per-prototype distributions over cells) or
            ``"assignment"`` (cross-entropy with per-cell distributions over prototypes).
        scope (str): ``"cloud"`` runs one Sinkhorn per cloud; ``"batch"`` (Sonata, assignment
            targets only) one Sinkhorn over all matched cells of the batch (a single offset), so
            ``q[:, k]`` is then a distribution over the batch's cells.

    Returns:
        Term; ``loss`` is differentiable in ``student_logits``.
    """
    check_target(target, scope, "distill_term: ")
    if target == "regression":
        raise ValueError("distill_term: regression has no Sinkhorn target; use regression_term")
    hit = index >= 0
    batch = batch[hit]
    offset = batch2offset(batch, num_clouds) if scope == "cloud" else batch.new_tensor([batch.numel()])
    teacher_logits = teacher_logits[index[hit]] / tau_t
    softmaps, row_error = zipf_sinkhorn(
        teacher_logits, offset, prior=prior, n_iter=sinkhorn_iters, return_error=True
    )
    student_logits = student_logits[hit] / tau_s
    if target == "softmap":
        per_cloud = softmap_kl(student_logits, softmaps, batch, num_clouds)
    else:
        # The plan before the final column normalisation is softmaps * prior; renormalising it
        # per point gives the SwAV/Sonata assignment (a distribution over prototypes).
        plan = softmaps * prior
        assignment = plan / plan.sum(1, keepdim=True).clamp_min(1e-30)
        per_cloud = assignment_ce(student_logits, assignment, batch, num_clouds)
    valid = torch.bincount(batch, minlength=num_clouds) > 0
    num_valid = valid.sum().clamp_min(1)
    loss = (per_cloud * valid).sum() / num_valid
    with torch.no_grad():
        # Entropy of the column distributions over each cloud's cells (for scope "batch" the
        # columns span the batch, so this is per cloud of a batch-wide softmap).
        entropy = -torch.special.xlogy(softmaps, softmaps)
        entropy = entropy.new_zeros((num_clouds, softmaps.shape[1])).index_add(0, batch, entropy)
        entropy = (entropy.mean(1) * valid).sum() / num_valid
        matched = hit.float().mean() if hit.numel() else hit.new_zeros((), dtype=torch.float)
        row_error = row_error.max() if row_error.numel() else entropy.new_zeros(())
    return Term(loss=loss, row_error=row_error, entropy=entropy, matched=matched, target=softmaps)


def regression_term(
    student_embed: torch.Tensor,
    batch: torch.Tensor,
    num_clouds: int,
    teacher_embed: torch.Tensor,
    index: torch.Tensor,
) -> Term:
    """Cosine feature regression at the matched cells: no prototypes, no Sinkhorn.

    Per cloud, the mean over matched student cells of ``1 - cos(student_embed, teacher_embed)``
    (both are the head's unit projections), averaged over clouds with at least one matched cell.

    Args:
        student_embed (Tensor[M, E] float): student unit embeddings.
        batch (Tensor[M] int64), num_clouds (int): cloud of every student cell, and B.
        teacher_embed (Tensor[M_t, E] float): teacher unit embeddings (no gradient needed).
        index (Tensor[M] int64): teacher row matched to every student cell, -1 for none.

    Returns:
        Term with ``row_error`` and ``entropy`` 0 (there is no Sinkhorn) and ``target`` the matched
        teacher embeddings (Tensor[M_hit, E]).
    """
    hit = index >= 0
    batch = batch[hit]
    target = teacher_embed[index[hit]].detach()
    pointwise = 1.0 - (student_embed[hit] * target).sum(1)
    count = torch.bincount(batch, minlength=num_clouds)
    per_cloud = pointwise.new_zeros(num_clouds).index_add(0, batch, pointwise) / count.clamp_min(1)
    valid = count > 0
    loss = (per_cloud * valid).sum() / valid.sum().clamp_min(1)
    zero = loss.new_zeros(()).detach()
    matched = hit.float().mean() if hit.numel() else zero
    return Term(loss=loss, row_error=zero, entropy=zero, matched=matched, target=target)
