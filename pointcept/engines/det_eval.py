"""Running a detector over a loader and scoring it: what ``DetEvaluator`` (training) and ``DetTester``
(``tools/test.py``) share.

Batches are collated detection samples (``gt_boxes``/``gt_labels``/``gt_num_points``/``gt_offset``,
optional ``gt_attrs`` (M,) attribute ids into ``NUSCENES_ATTRIBUTE_NAMES`` and ``gt_difficulty``
(M,) Waymo detection levels); the model in eval
mode returns ``pred_boxes``/``pred_scores``/``pred_labels``/``pred_offset`` (``CenterPoint``).
Predictions and GT are in the frame of the batch's ``coord``. Samples gathered from every rank are
ordered by ``(rank, position)``, which the metrics do not depend on except through score ties.
"""

import numpy as np
import torch

from pointcept.utils import comm

from .amp import autocast
from .det_metrics import (
    DetectionEvalConfig,
    WaymoEvalConfig,
    attribute_ids,
    evaluate_detections,
    evaluate_waymo,
    format_detection_table,
    format_waymo_table,
)
from .launch import to_device

METRICS = ("nuscenes", "waymo")
"""Detection metric sets: nuScenes centre-distance AP/NDS, Waymo rotated-IoU AP/APH."""

HEADLINE = {"nuscenes": ("NDS", "mAP"), "waymo": ("mAPH_L2", "mAP_L2", "mAPH_L1", "mAP_L1")}
"""Per metric set, the scalar keys that can pick the best checkpoint (the first is the default)."""


def eval_config(class_names, class_range=None, use_attributes=None, has_attrs=False, **kwargs):
    """``DetectionEvalConfig``; ``use_attributes=None`` uses the attribute error iff the GT has attributes."""
    use = bool(has_attrs) if use_attributes is None else bool(use_attributes)
    return DetectionEvalConfig(class_names, class_range=class_range, use_attributes=use, **kwargs)


def score_detections(
    gts, preds, names, metric="nuscenes", class_range=None, use_attributes=None, options=None
) -> dict:
    """The ``metric`` set's results (``evaluate_detections`` or ``evaluate_waymo``); ``options`` are
    further fields of its config (``DetectionEvalConfig`` / ``WaymoEvalConfig``). Waymo's metric has
    no range filter or attributes, so ``class_range``/``use_attributes`` must be None with it."""
    check_metric(names, metric, class_range, use_attributes, options)
    options = dict(options or {})
    if metric == "waymo":
        return evaluate_waymo(gts, preds, WaymoEvalConfig(names, **options))
    cfg = eval_config(names, class_range, use_attributes, has_attributes(gts), **options)
    return evaluate_detections(gts, preds, cfg)


def check_metric(names, metric="nuscenes", class_range=None, use_attributes=None, options=None) -> None:
    """Raise ValueError for settings ``score_detections`` would refuse, before any model runs."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "waymo":
        if class_range is not None or use_attributes is not None:
            raise ValueError("the waymo metric takes no class_range or use_attributes (nuScenes settings)")
        WaymoEvalConfig(names, **dict(options or {}))
    else:
        eval_config(names, class_range, use_attributes, **dict(options or {}))


def format_results(metrics: dict) -> str:
    """The table of ``score_detections``' results, for either metric set."""
    return (
        format_waymo_table(metrics) if metrics.get("metric") == "waymo" else format_detection_table(metrics)
    )


def _split(batch: dict, out: dict, class_names) -> list[tuple[dict, dict, str]]:
    gt_off = [0, *batch["gt_offset"].tolist()]
    pr_off = [0, *out["pred_offset"].tolist()]
    names = batch.get("name")
    samples = []
    for b in range(len(gt_off) - 1):
        g0, g1, p0, p1 = gt_off[b], gt_off[b + 1], pr_off[b], pr_off[b + 1]
        gt = dict(
            boxes=batch["gt_boxes"][g0:g1].double().cpu().numpy(),
            labels=batch["gt_labels"][g0:g1].cpu().numpy(),
            num_points=batch["gt_num_points"][g0:g1].cpu().numpy() if "gt_num_points" in batch else None,
            attrs=batch["gt_attrs"][g0:g1].cpu().numpy() if "gt_attrs" in batch else None,
        )
        if "gt_difficulty" in batch:
            gt["difficulty"] = batch["gt_difficulty"][g0:g1].cpu().numpy()
        pred = dict(
            boxes=out["pred_boxes"][p0:p1].double().cpu().numpy(),
            scores=out["pred_scores"][p0:p1].double().cpu().numpy(),
            labels=out["pred_labels"][p0:p1].cpu().numpy(),
        )
        if gt["attrs"] is not None:
            pred["attrs"] = attribute_ids(class_names, pred["boxes"], pred["labels"])
        name = names[b] if isinstance(names, (list, tuple)) else f"sample_{len(samples)}"
        samples.append((gt, pred, str(name)))
    return samples


@torch.no_grad()
def collect_detections(
    model, loader, device, amp_dtype, class_names
) -> tuple[list, list, list, float | None]:
    """Run ``model`` (eval mode, restored afterwards) over ``loader`` on every rank.

    Returns (gts, preds, names, mean loss or None), gathered over ranks (module docstring).
    """
    was_training = model.training
    model.eval()
    local, loss = [], torch.zeros(2, dtype=torch.float64, device=device)
    for batch in loader:
        if "gt_offset" not in batch:
            raise ValueError(
                "detection evaluation needs gt_boxes/gt_labels in the batch (a reader with boxes, "
                "and Collect keys including 'gt_boxes', 'gt_labels', 'gt_num_points')"
            )
        batch = to_device(batch, device)
        with autocast(device, amp_dtype):
            out = model(batch)
        local.extend(_split(batch, out, class_names))
        if "loss" in out:
            loss += torch.stack([out["loss"].detach().double(), loss.new_ones(())])
    model.train(was_training)
    comm.all_reduce(loss)
    samples = [s for part in comm.all_gather(local) for s in part]
    gts = [s[0] for s in samples]
    preds = [s[1] for s in samples]
    names = [s[2] for s in samples]
    return gts, preds, names, (float(loss[0] / loss[1]) if loss[1] > 0 else None)


def sample_eval_info(dataset, names: list[str]) -> list[dict]:
    """Per sample name: ``sample_token`` (the name when unknown), ``lidar_to_global`` and ``range_frame``
    (4x4 or None) and ``bicycle_racks`` ((K, 9) or None), from ``dataset.eval_info(idx)`` where the
    dataset has it (``NuScenesDataset``). ``range_frame`` = ego_to_global's rotation @ lidar_to_ego:
    the devkit's ego-centred frame with global axes, where class ranges are measured;
    ``empty_boxes_dropped``: the reader already removed the GT boxes the devkit counts as empty."""
    info_of = getattr(dataset, "eval_info", None)
    index = {dataset.get_data_name(i): i for i in range(len(dataset))} if info_of is not None else {}
    out = []
    for name in names:
        info = info_of(index[name]) if name in index else {}
        l2e, e2g = info.get("lidar_to_ego"), info.get("ego_to_global")
        frame = l2g = None
        if l2e is not None and e2g is not None:
            l2g = e2g @ l2e
            frame = np.eye(4)
            frame[:3, :3] = e2g[:3, :3]
            frame = frame @ l2e
        out.append(
            dict(
                sample_token=info.get("sample_token", name),
                lidar_to_global=l2g,
                range_frame=frame,
                bicycle_racks=info.get("bicycle_rack_boxes"),
                empty_boxes_dropped=bool(info.get("empty_boxes_dropped", False)),
            )
        )
    return out


def attach_eval_info(gts: list[dict], infos: list[dict]) -> None:
    """Give each GT sample its ``range_frame`` and ``bicycle_racks`` (``sample_eval_info``) for
    ``det_metrics.filter_samples``. Where the reader already dropped the boxes the devkit counts as
    empty (no LiDAR and no radar point), ``num_points`` goes: the pipeline recounts it from the
    LiDAR points alone, which would also drop the boxes only radar saw."""
    for gt, info in zip(gts, infos):
        gt["range_frame"], gt["bicycle_racks"] = info["range_frame"], info["bicycle_racks"]
        if info["empty_boxes_dropped"]:
            gt["num_points"] = None


def evaluate_model(
    model,
    loader,
    dataset,
    device,
    amp_dtype,
    names,
    metric="nuscenes",
    class_range=None,
    use_attributes=None,
    options=None,
) -> tuple[list, list, list, dict, float | None]:
    """``collect_detections`` over ``loader``, the samples' ``eval_info`` from ``dataset`` attached to
    their GT, then ``score_detections``: the evaluation that ``DetEvaluator`` and ``DetTester`` share.

    Returns:
        (gts, preds, eval infos (``sample_eval_info``), metrics, mean loss or None).
    """
    gts, preds, sample_names, loss = collect_detections(model, loader, device, amp_dtype, names)
    infos = sample_eval_info(dataset, sample_names)
    attach_eval_info(gts, infos)
    metrics = score_detections(gts, preds, names, metric, class_range, use_attributes, options)
    return gts, preds, infos, metrics, loss


def has_attributes(gts: list[dict]) -> bool:
    return any(g.get("attrs") is not None and np.any(np.asarray(g["attrs"]) >= 0) for g in gts)
