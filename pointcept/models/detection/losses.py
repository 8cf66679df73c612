"""CenterPoint losses: the CornerNet/CenterNet focal loss on heatmaps and L1 on regressions."""

import torch
import torch.nn.functional as F


def heatmap_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, num_objects: int, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """Penalty-reduced pixel-wise focal loss (CornerNet eq. 1), summed and divided by ``num_objects``.

    With ``p = sigmoid(logits)`` and Gaussian targets ``y``: cells with ``y == 1`` contribute
    ``-(1 - p)^alpha log p``, every other cell ``-(1 - y)^beta p^alpha log(1 - p)`` (so cells near
    a centre are punished less for firing). ``log p`` and ``log(1 - p)`` are taken as ``logsigmoid``
    of ``logits`` and ``-logits``, which stays finite for saturated logits.

    Args:
        logits, target (Tensor[B, C, H, W]); num_objects (int): the normaliser, clamped to >= 1.
    """
    p = torch.sigmoid(logits)
    pos = target.eq(1.0)
    pos_term = (1 - p).pow(alpha) * F.logsigmoid(logits)
    neg_term = (1 - target).pow(beta) * p.pow(alpha) * F.logsigmoid(-logits)
    total = torch.where(pos, pos_term, neg_term).sum()
    return -total / max(int(num_objects), 1)


def regression_l1_loss(
    pred: torch.Tensor, target: torch.Tensor, code_weights: torch.Tensor, num_objects: int
) -> torch.Tensor:
    """``sum_k sum_c w_c |pred[k, c] - target[k, c]| / max(num_objects, 1)``.

    pred, target (Tensor[K, R]) at the K object centres; code_weights (Tensor[R]).
    """
    return ((pred - target).abs() * code_weights).sum() / max(int(num_objects), 1)
