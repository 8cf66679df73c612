"""Statistics for comparing pretraining presets over seeds and test scans (numpy only).

Inputs are per-scan confusion counts: for one arm, ``counts[s, n, 0, c]`` is the intersection and
``counts[s, n, 1, c]`` the union of class ``c`` on test scan ``n`` for seed ``s`` (what
``engines.metrics.intersection_and_union`` gives per scan). Counts are additive, so the mIoU of a
set of scans is computed from the *summed* intersections and unions (IoU per class = I / U over the
classes with U > 0, then their mean, as ``engines.metrics.summarize``), never as a mean of per-scan
mIoUs.

Paired bootstrap (:func:`paired_bootstrap`): a resample draws seeds with replacement and, separately,
test scans with replacement, the same draw for both arms (seed s of arm A and seed s of arm B share
the fine-tuning subset and the data order, so they are paired). For every drawn seed the mIoU of each
arm is computed over the drawn scans (their counts summed, a scan drawn twice counted twice); the
resample's statistic is the mean over the drawn seeds of ``mIoU_A - mIoU_B``. The interval is the
2.5 / 97.5 percentile of that statistic; the point estimate is the same statistic on the original
seeds and scans. Deterministic given ``seed``.
"""

import math

import numpy as np

GROUPS = ("head", "common", "tail")


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; ``nan`` with fewer than two values)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def miou(counts: np.ndarray, classes=None) -> np.ndarray:
    """mIoU from summed counts: ``counts[..., 0, C]`` intersections, ``counts[..., 1, C]`` unions.

    Averages IoU over the classes with a positive union, restricted to ``classes`` (indices) when
    given; ``nan`` where no such class exists. Returns an array of shape ``counts.shape[:-2]``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[-2] < 2:
        raise ValueError(f"counts must have shape (..., 2, C), got {counts.shape}")
    inter, union = counts[..., 0, :], counts[..., 1, :]
    if classes is not None:
        idx = np.asarray(list(classes), dtype=np.int64)
        inter, union = inter[..., idx], union[..., idx]
    valid = union > 0
    iou = np.where(valid, inter / np.where(valid, union, 1.0), 0.0)
    num = valid.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(num > 0, iou.sum(-1) / np.maximum(num, 1), np.nan)


def seed_mious(counts: np.ndarray, classes=None) -> np.ndarray:
    """Per-seed mIoU over all test scans: ``counts`` (S, N, 2, C) -> (S,)."""
    return miou(np.asarray(counts, dtype=np.float64).sum(axis=1), classes)


def paired_bootstrap(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    classes=None,
    num_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Paired difference A - B of mIoU with a bootstrap interval over seeds and scans (module doc).

    Args:
        counts_a, counts_b: (S, N, 2, C) per-seed, per-scan intersection / union counts of the two
            arms, on the same S seeds and the same N scans.
        classes: class indices the mIoU averages over (all when None).

    Returns ``dict(diff, low, high, level, num_resamples, num_seeds, num_scans)``; ``diff`` is the
    mean over seeds of the per-seed mIoU difference. A resample whose statistic is ``nan`` (no class
    of ``classes`` with a positive union in either arm) is left out of the percentiles.
    """
    a = np.asarray(counts_a, dtype=np.float64)
    b = np.asarray(counts_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"counts must both have shape (S, N, 2, C), got {a.shape} and {b.shape}")
    out = _bootstrap(a, b, classes, num_resamples, seed, level)
    out["diff"] = out.pop("estimate")
    return out


def bootstrap_miou(
    counts: np.ndarray, classes=None, num_resamples: int = 2000, seed: int = 0, level=0.95
) -> dict:
    """Mean over seeds of one arm's mIoU with its bootstrap interval (the same resampling scheme).

    Returns ``dict(mean, low, high, level, num_resamples, num_seeds, num_scans)``.
    """
    out = _bootstrap(np.asarray(counts, dtype=np.float64), None, classes, num_resamples, seed, level)
    out["mean"] = out.pop("estimate")
    return out


def _bootstrap(a, b, classes, num_resamples, seed, level) -> dict:
    """Statistic = mean over seeds of mIoU(a) (- mIoU(b)); percentile interval over resamples."""
    if a.ndim != 4 or a.shape[2] != 2:
        raise ValueError(f"counts must have shape (S, N, 2, C), got {a.shape}")
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    num_seeds, num_scans = a.shape[:2]

    def per_seed(pick):
        value = miou(a[pick].sum(axis=-3), classes)
        return value if b is None else value - miou(b[pick].sum(axis=-3), classes)

    estimate = float(np.mean(per_seed((slice(None), slice(None)))))
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, num_seeds, (num_resamples, num_seeds))
    scans = rng.integers(0, num_scans, (num_resamples, num_scans))
    # (R, S', N', 2, C) drawn counts -> summed over the drawn scans -> mIoU per drawn seed (R, S')
    with np.errstate(invalid="ignore"):
        stats = per_seed((seeds[:, :, None], scans[:, None, :])).mean(axis=1)
    stats = stats[~np.isnan(stats)]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail]) if stats.size else (math.nan, math.nan)
    return dict(
        estimate=estimate,
        low=float(low),
        high=float(high),
        level=level,
        num_resamples=num_resamples,
        num_seeds=num_seeds,
        num_scans=num_scans,
    )


def frequency_groups(point_counts) -> dict[str, list[int]]:
    """Split classes into head / common / tail by their number of labelled training points.

    The classes with at least one training point are ranked by count (descending, ties by class
    index) and cut into three rank terciles of sizes ``ceil(n/3)``, ``ceil((n - head)/2)`` and the
    rest: head = the most frequent third. Classes without training points belong to no group (a
    probe cannot learn them). Returns ``{"head": [...], "common": [...], "tail": [...]}`` of class
    indices in rank order.
    """
    counts = np.asarray(point_counts, dtype=np.float64).reshape(-1)
    present = [int(c) for c in np.flatnonzero(counts > 0)]
    ranked = sorted(present, key=lambda c: (-counts[c], c))
    n = len(ranked)
    head = math.ceil(n / 3)
    common = math.ceil((n - head) / 2)
    return dict(head=ranked[:head], common=ranked[head : head + common], tail=ranked[head + common :])
