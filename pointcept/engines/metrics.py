"""Semantic segmentation metrics from per-class intersection / union / target counts.

Counts are additive over points, scans and ranks, so the evaluator and the tester accumulate
them and reduce once: per-class IoU = I / U, mIoU and mAcc average over classes present (U > 0,
resp. T > 0), allAcc = sum(I) / sum(T).
"""

import numpy as np
import torch


def intersection_and_union(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    num_classes: int,
    ignore_index: int = -1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class counts for one prediction.

    Args:
        pred (Tensor[N] int): predicted class ids in ``[0, num_classes)``.
        target (Tensor[N] int): labels in ``[0, num_classes)`` or ``ignore_index``.

    Returns:
        intersection, union, target_count: each Tensor[num_classes] int64 on ``pred``'s device.
        Points labelled ``ignore_index`` are left out of all three.
    """
    pred = torch.as_tensor(pred).reshape(-1).long()
    target = torch.as_tensor(target, device=pred.device).reshape(-1).long()
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.numel()} points but target has {target.numel()}")
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(
            f"target labels must be in [0, {num_classes}) or ignore_index={ignore_index}, "
            f"got range [{int(target.min())}, {int(target.max())}]"
        )
    if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= num_classes):
        raise ValueError(
            f"pred must be in [0, {num_classes}), got range [{int(pred.min())}, {int(pred.max())}]"
        )
    area_inter = torch.bincount(target[pred == target], minlength=num_classes)
    area_pred = torch.bincount(pred, minlength=num_classes)
    area_target = torch.bincount(target, minlength=num_classes)
    return area_inter, area_pred + area_target - area_inter, area_target


def summarize(intersection: torch.Tensor, union: torch.Tensor, target: torch.Tensor) -> dict:
    """Turn accumulated counts (Tensor[K] each) into metrics.

    Returns a dict with ``iou`` and ``acc`` (lists of K floats, ``nan`` for a class absent from both
    labels and predictions, resp. absent from labels), ``mIoU``, ``mAcc`` (means over the non-nan
    classes) and ``allAcc`` (floats; ``nan`` when there are no labelled points).
    """
    inter = intersection.double().cpu()
    uni = union.double().cpu()
    tgt = target.double().cpu()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    iou = torch.where(uni > 0, inter / uni.clamp(min=1), nan)
    acc = torch.where(tgt > 0, inter / tgt.clamp(min=1), nan)
    total = float(tgt.sum())
    return dict(
        iou=iou.tolist(),
        acc=acc.tolist(),
        mIoU=float(iou.nanmean()) if (uni > 0).any() else float("nan"),
        mAcc=float(acc.nanmean()) if (tgt > 0).any() else float("nan"),
        allAcc=float(inter.sum()) / total if total > 0 else float("nan"),
    )


def format_metrics_table(metrics: dict, class_names: list[str] | None = None) -> str:
    """A fixed-width table: one row per class (id, name, IoU, Acc) and a summary line."""
    k = len(metrics["iou"])
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names given for {k} classes")
    width = max([len(n) for n in names] + [5])
    lines = [f"{'id':>3}  {'class':<{width}}  {'IoU':>7}  {'Acc':>7}"]
    for i, (name, iou, acc) in enumerate(zip(names, metrics["iou"], metrics["acc"])):
        lines.append(f"{i:>3}  {name:<{width}}  {iou:>7.4f}  {acc:>7.4f}")
    lines.append(f"mIoU {metrics['mIoU']:.4f}  mAcc {metrics['mAcc']:.4f}  allAcc {metrics['allAcc']:.4f}")
    return "\n".join(lines)
