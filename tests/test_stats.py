"""pointcept/utils/stats.py against hand-computed values (bootstrap cases small enough to enumerate)."""

import math

import numpy as np
import pytest

from pointcept.utils.stats import (
    bootstrap_miou,
    frequency_groups,
    mean_std,
    miou,
    paired_bootstrap,
    seed_mious,
)


def _scan(*pairs):
    """(2, C) counts of one scan from (intersection, union) per class."""
    return np.array(pairs, dtype=np.float64).T


# Two scans, two classes. Scan 0: class 0 I=9 U=10, class 1 absent. Scan 1: class 0 I=0 U=10,
# class 1 I=1 U=1. Pooled: (9/20 + 1/1) / 2 = 0.725; the mean of per-scan mIoUs would be
# (0.9 + 0.5) / 2 = 0.7.
SCANS_A = np.stack([_scan((9, 10), (0, 0)), _scan((0, 10), (1, 1))])
# Scan 0: class 0 I=5 U=10. Scan 1: class 0 I=5 U=10, class 1 I=0 U=2. Pooled: (0.5 + 0) / 2.
SCANS_B = np.stack([_scan((5, 10), (0, 0)), _scan((5, 10), (0, 2))])


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    m, s = mean_std([0.25, 0.75])
    assert m == 0.5 and s == pytest.approx(math.sqrt(0.125))
    m, s = mean_std([0.4])
    assert m == 0.4 and math.isnan(s)


def test_miou_pools_counts_over_scans():
    assert miou(SCANS_A.sum(0)) == pytest.approx(0.725)
    assert miou(SCANS_A).tolist() == pytest.approx([0.9, 0.5])  # per scan
    assert miou(SCANS_A.sum(0), classes=[1]) == pytest.approx(1.0)
    assert math.isnan(float(miou(SCANS_A[0], classes=[1])))  # class 1 has no union on scan 0
    assert seed_mious(SCANS_A[None]).tolist() == pytest.approx([0.725])


def test_bootstrap_over_seeds_enumerated():
    # One scan, one class; seeds: A has mIoU 0.5 and 0.9, B 0.4 and 0.4 -> per-seed differences 0.1
    # and 0.5. Seed resamples (0,0), (0,1), (1,0), (1,1) give 0.1, 0.3, 0.3, 0.5: the 2.5 % and
    # 97.5 % percentiles are the extreme atoms (probability 1/4 each).
    a = np.array([[[[1.0], [2.0]]], [[[9.0], [10.0]]]])
    b = np.array([[[[2.0], [5.0]]], [[[2.0], [5.0]]]])
    out = paired_bootstrap(a, b, num_resamples=2000, seed=3)
    assert out["diff"] == pytest.approx(0.3)
    assert out["low"] == pytest.approx(0.1) and out["high"] == pytest.approx(0.5)
    assert (out["num_seeds"], out["num_scans"], out["level"]) == (2, 1, 0.95)
    # one arm alone: seed mIoUs 0.5 and 0.9 -> mean 0.7, interval [0.5, 0.9]
    one = bootstrap_miou(a, num_resamples=2000, seed=3)
    assert one["mean"] == pytest.approx(0.7)
    assert one["low"] == pytest.approx(0.5) and one["high"] == pytest.approx(0.9)


def test_bootstrap_over_scans_enumerated():
    # One seed, two scans. Scan resamples: (0,0): A 0.9, B 0.5 -> 0.4; (1,1): A (0+1)/2, B (0.5+0)/2
    # -> 0.25; (0,1) and (1,0): A 0.725, B 0.25 -> 0.475. The point estimate is the pooled one
    # (0.475), not the difference of per-scan means (0.7 - 0.375 = 0.325).
    out = paired_bootstrap(SCANS_A[None], SCANS_B[None], num_resamples=4000, seed=0)
    assert out["diff"] == pytest.approx(0.475)
    assert out["low"] == pytest.approx(0.25) and out["high"] == pytest.approx(0.475)
    # restricted to class 0: A 0.45 vs B 0.5 on the full set; resamples 0.9-0.5, 0-0.5, 0.45-0.5
    out0 = paired_bootstrap(SCANS_A[None], SCANS_B[None], classes=[0], num_resamples=4000, seed=0)
    assert out0["diff"] == pytest.approx(-0.05)
    assert out0["low"] == pytest.approx(-0.5) and out0["high"] == pytest.approx(0.4)


def test_bootstrap_is_deterministic_and_paired():
    rng = np.random.default_rng(1)
    union = rng.integers(50, 100, (3, 4, 1, 5)).astype(float)
    a = np.concatenate([np.floor(union * rng.uniform(0.2, 0.9, union.shape)), union], axis=2)
    b = np.concatenate([np.floor(union * rng.uniform(0.2, 0.9, union.shape)), union], axis=2)
    first = paired_bootstrap(a, b, num_resamples=500, seed=7)
    assert paired_bootstrap(a, b, num_resamples=500, seed=7) == first
    assert first["low"] <= first["diff"] <= first["high"]
    same = paired_bootstrap(a, a, num_resamples=500, seed=7)  # identical arms: exactly zero
    assert (same["diff"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    assert paired_bootstrap(a, b, num_resamples=500, seed=8) != first
    with pytest.raises(ValueError, match="shape"):
        paired_bootstrap(a, b[:, :2])


def test_frequency_groups():
    groups = frequency_groups([0, 50, 10, 30, 5, 20, 1])
    assert groups == dict(head=[1, 3], common=[5, 2], tail=[4, 6])
    groups = frequency_groups([7, 50, 10, 30, 5, 20, 1, 0])  # 7 present: 3 / 2 / 2
    assert groups == dict(head=[1, 3, 5], common=[2, 0], tail=[4, 6])
    assert frequency_groups([4, 4, 4]) == dict(head=[0], common=[1], tail=[2])  # ties by index
