"""Segmentation metrics: bincount counts vs a loop reference, summaries, the table, errors."""

import math

import numpy as np
import pytest
import torch

from pointcept.engines.metrics import format_metrics_table, intersection_and_union, summarize


def reference_counts(pred, target, k, ignore):
    inter, union, tgt = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    for p, t in zip(pred.tolist(), target.tolist()):
        if t == ignore:
            continue
        tgt[t] += 1
        if p == t:
            inter[t] += 1
            union[t] += 1
        else:
            union[t] += 1
            union[p] += 1
    return inter, union, tgt


def test_counts_match_loop_reference():
    g = torch.Generator().manual_seed(0)
    k = 5
    pred = torch.randint(0, k, (500,), generator=g)
    target = torch.randint(-1, k, (500,), generator=g)
    got = intersection_and_union(pred, target, k, ignore_index=-1)
    for a, b in zip(got, reference_counts(pred, target, k, -1)):
        assert a.dtype == torch.int64
        np.testing.assert_array_equal(a.numpy(), b)
    # numpy input, other ignore value
    target255 = torch.where(target < 0, 255, target)
    got255 = intersection_and_union(pred.numpy(), target255.numpy(), k, ignore_index=255)
    for a, b in zip(got255, got):
        assert torch.equal(a, b)


def test_summarize_hand_computed():
    # class 0: I=2 U=3 T=3; class 1: I=1 U=2 T=1; class 2: absent everywhere
    pred = torch.tensor([0, 0, 1, 1, 2 - 2])
    target = torch.tensor([0, 0, 0, 1, -1])
    inter, union, tgt = intersection_and_union(pred, target, 3)
    m = summarize(inter, union, tgt)
    assert m["iou"][0] == pytest.approx(2 / 3) and m["iou"][1] == pytest.approx(1 / 2)
    assert math.isnan(m["iou"][2]) and math.isnan(m["acc"][2])
    assert m["mIoU"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["mAcc"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["allAcc"] == pytest.approx(3 / 4)
    empty = summarize(*intersection_and_union(torch.tensor([0]), torch.tensor([-1]), 2))
    assert math.isnan(empty["mIoU"]) and math.isnan(empty["allAcc"])


def test_table_has_class_names():
    m = summarize(*intersection_and_union(torch.tensor([0, 1]), torch.tensor([0, 0]), 2))
    table = format_metrics_table(m, ["road", "car"])
    assert "road" in table and "car" in table and "mIoU 0.2500" in table
    with pytest.raises(ValueError, match="3 class names given for 2 classes"):
        format_metrics_table(m, ["a", "b", "c"])


def test_errors():
    with pytest.raises(ValueError, match="target labels must be in \\[0, 3\\)"):
        intersection_and_union(torch.tensor([0]), torch.tensor([3]), 3)
    with pytest.raises(ValueError, match="pred must be in \\[0, 3\\)"):
        intersection_and_union(torch.tensor([5]), torch.tensor([0]), 3)
    with pytest.raises(ValueError, match="pred has 2 points but target has 1"):
        intersection_and_union(torch.tensor([0, 1]), torch.tensor([0]), 3)
