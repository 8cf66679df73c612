"""Segmentation criteria: cross-entropy and Lovasz-softmax, both skipping ``ignore_index`` points."""

import torch
import torch.nn.functional as F
from torch import nn

from .builder import LOSSES


class _IgnoringLoss(nn.Module):
    """A per-point classification loss over the points whose label is not ``ignore_index``.

    ``forward`` returns ``loss_weight * self.compute(logits, target, valid)``, or 0 (still attached
    to the graph, so DDP sees every parameter used) when no point is valid.
    """

    def __init__(self, ignore_index: int = -1, loss_weight: float = 1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (Tensor[N, C] float), target (Tensor[N] int64) -> scalar."""
        valid = target != self.ignore_index
        if not bool(valid.any()):
            return logits.sum() * 0.0
        return self.compute(logits, target, valid) * self.loss_weight

    def compute(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The unweighted loss; ``valid`` (Tensor[N] bool) marks the points that count."""
        raise NotImplementedError


@LOSSES.register_module()
class CrossEntropyLoss(_IgnoringLoss):
    """Mean cross-entropy over non-ignored points, times ``loss_weight``.

    Args:
        weight (Sequence[float] | None): per-class weights (moved to the logits' device on use).
        ignore_index (int): label of points that do not count.
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self, weight=None, ignore_index: int = -1, loss_weight: float = 1.0):
        super().__init__(ignore_index, loss_weight)
        weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        self.register_buffer("weight", weight, persistent=False)

    def compute(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.to(device=logits.device, dtype=logits.dtype)
        return F.cross_entropy(logits, target, weight=weight, ignore_index=self.ignore_index)


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors.

    Berman et al., "The Lovasz-Softmax loss", CVPR 2018, Eq. 8-9: with ground truth ``gt_sorted``
    (Tensor[P] float, 1 = in class) ordered by decreasing error, ``J_i = 1 - |gt ∩ top_i| / |gt ∪ top_i|``
    for the top-i predictions, and the weights are ``J_1, J_2 - J_1, ..., J_P - J_{P-1}``.

    Returns:
        Tensor[P] float.
    """
    total = gt_sorted.sum()
    intersection = total - gt_sorted.cumsum(0)
    union = total + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def lovasz_softmax(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovasz-softmax averaged over classes present in ``target``.

    Args:
        probs (Tensor[P, C] float): class probabilities of the valid points.
        target (Tensor[P] int64): labels in ``[0, C)``.

    Returns:
        scalar Tensor.
    """
    losses = []
    for c in torch.unique(target).tolist():
        fg = (target == c).to(probs.dtype)
        errors = (fg - probs[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    return torch.stack(losses).mean()


@LOSSES.register_module()
class LovaszLoss(_IgnoringLoss):
    """Lovasz-softmax loss (Berman et al., CVPR 2018) over non-ignored points, classes present only.

    Args:
        ignore_index (int): label of points that do not count.
        loss_weight (float): multiplier of the loss.
    """

    def compute(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return lovasz_softmax(F.softmax(logits[valid].float(), dim=1), target[valid])
