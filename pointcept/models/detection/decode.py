"""Turning CenterPoint head outputs into boxes: per-class top-k peaks and class-aware circle NMS."""

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .bev import BEVGrid
from .targets import decode_regression


def circle_nms(
    centers: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, radius: torch.Tensor
) -> torch.Tensor:
    """Greedy class-aware NMS on BEV centre distance.

    Boxes are visited by decreasing score; a box is kept unless a kept box of the *same label* has
    its centre at a distance strictly below ``radius[label]`` (metres). A radius <= 0 disables
    suppression for that class.

    Args:
        centers (Tensor[K, 2+]): x, y of each box; scores (Tensor[K]); labels (Tensor[K] int64);
        radius (Tensor[C] float): per-class radius.

    Returns:
        Tensor[K'] int64: indices of the kept boxes, by decreasing score.
    """
    if len(scores) == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    order = torch.argsort(scores, descending=True, stable=True)
    xy = centers[order, :2].double()
    lab = labels[order]
    r = radius.to(xy)[lab]
    close = (torch.cdist(xy, xy) < r[:, None]) & (lab[:, None] == lab[None, :])
    close = close.cpu().numpy()
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= close[i]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


def decode_detections(
    heatmap: torch.Tensor,
    reg: torch.Tensor,
    grid: BEVGrid,
    topk: int = 100,
    score_threshold: float = 0.1,
    nms_radius: Sequence[float] | None = None,
    max_per_cloud: int = 500,
) -> dict:
    """Boxes of every cloud from dense head outputs.

    Per cloud and class, local maxima of the heatmap (a cell equal to the max of its 3x3
    neighbourhood) are ranked and the ``topk`` best with score >= ``score_threshold`` become boxes
    through ``decode_regression``; then ``circle_nms`` (when ``nms_radius`` is given, one radius in
    metres per class) and the ``max_per_cloud`` highest scores are kept.

    Args:
        heatmap (Tensor[B, C, H, W]): probabilities (sigmoid of the head's logits).
        reg (Tensor[B, 10, H, W]): regression maps (channels of ``targets.REG_CHANNELS``).

    Returns:
        dict: ``pred_boxes`` (Tensor[K, 9]), ``pred_scores`` (Tensor[K]), ``pred_labels``
        (Tensor[K] int64), ``pred_offset`` (Tensor[B] int64, cumulative box counts per cloud);
        within a cloud, boxes are sorted by decreasing score.
    """
    num_clouds, num_classes, ny, nx = heatmap.shape
    if (ny, nx) != grid.shape:
        raise ValueError(f"heatmap is {ny}x{nx} but the BEV grid is {grid.shape}")
    if nms_radius is not None and len(nms_radius) != num_classes:
        raise ValueError(f"nms_radius needs one radius per class ({num_classes}), got {len(nms_radius)}")
    peaks = heatmap * (heatmap == F.max_pool2d(heatmap, 3, stride=1, padding=1))
    k = min(topk, ny * nx)
    scores, cells = peaks.view(num_clouds, num_classes, -1).topk(k, dim=2)
    reg_flat = reg.reshape(num_clouds, reg.shape[1], -1)
    radius = (
        None
        if nms_radius is None
        else torch.as_tensor(nms_radius, dtype=torch.float64, device=heatmap.device)
    )
    boxes, out_scores, out_labels, counts = [], [], [], []
    for b in range(num_clouds):
        score, cell = scores[b].reshape(-1), cells[b].reshape(-1)
        label = torch.arange(num_classes, device=heatmap.device).repeat_interleave(k)
        keep = score >= score_threshold
        score, cell, label = score[keep], cell[keep], label[keep]
        box = decode_regression(reg_flat[b][:, cell].t(), cell % nx, cell // nx, grid)
        if radius is not None:
            kept = circle_nms(box, score, label, radius)
        else:
            kept = torch.argsort(score, descending=True, stable=True)
        kept = kept[:max_per_cloud]
        boxes.append(box[kept])
        out_scores.append(score[kept])
        out_labels.append(label[kept])
        counts.append(len(kept))
    return dict(
        pred_boxes=torch.cat(boxes),
        pred_scores=torch.cat(out_scores),
        pred_labels=torch.cat(out_labels),
        pred_offset=torch.cumsum(torch.tensor(counts, dtype=torch.long, device=heatmap.device), 0),
    )


def split_predictions(out: dict) -> list[dict]:
    """``decode_detections`` output -> one dict (``boxes``, ``scores``, ``labels``) per cloud."""
    offset = out["pred_offset"].tolist()
    starts = [0, *offset[:-1]]
    return [
        dict(boxes=out["pred_boxes"][s:e], scores=out["pred_scores"][s:e], labels=out["pred_labels"][s:e])
        for s, e in zip(starts, offset)
    ]
