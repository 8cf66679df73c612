"""Rotated BEV / 3D box overlap: hand cases and a Monte-Carlo estimate."""

import math

import numpy as np
import pytest

from pointcept.datasets.box_overlap import bev_corners, bev_intersection, bev_iou, iou_3d
from pointcept.datasets.boxes import points_in_boxes


def box(x=0.0, y=0.0, z=0.0, l=4.0, w=2.0, h=1.5, yaw=0.0):  # noqa: E741 (box convention)
    return np.array([x, y, z, l, w, h, yaw, 0.0, 0.0], dtype=np.float64)


def boxes(*rows):
    return np.stack(rows)


def test_corners_ccw_from_front_left():
    c = bev_corners(box(1, 2, l=4, w=2, yaw=math.pi / 2)[None])[0]
    np.testing.assert_allclose(c, [[0, 4], [0, 0], [2, 0], [2, 4]], atol=1e-12)


def test_axis_aligned_partial_overlap():
    a = box(0, 0, l=4, w=2)  # x in [-2, 2], y in [-1, 1]
    b = box(1, 0.5, l=4, w=2)  # x in [-1, 3], y in [-0.5, 1.5]
    inter = 3.0 * 1.5
    assert bev_intersection(a[None], b[None])[0, 0] == pytest.approx(inter, abs=1e-12)
    assert bev_iou(a[None], b[None])[0, 0] == pytest.approx(inter / (8 + 8 - inter), abs=1e-12)


def test_identical_boxes_iou_one():
    a = box(3, -2, 1, l=4.2, w=1.9, h=1.6, yaw=0.7)
    assert bev_iou(a[None], a[None])[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert iou_3d(a[None], a[None])[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_square_rotated_45_degrees_octagon():
    # Unit-half-side square and the same square rotated 45 deg: a regular octagon of area 8(sqrt2 - 1).
    a = box(l=2, w=2)
    b = box(l=2, w=2, yaw=math.pi / 4)
    inter = 8 * (math.sqrt(2) - 1)
    assert bev_intersection(a[None], b[None])[0, 0] == pytest.approx(inter, abs=1e-12)
    assert bev_iou(a[None], b[None])[0, 0] == pytest.approx(inter / (8 - inter), abs=1e-12)


def test_diamond_corner_in_square():
    # A 45-degree diamond whose right corner pokes 0.5 m into a square: a triangle of area 0.25.
    d = math.sqrt(2)  # side of a diamond with half-diagonal 1
    a = box(0, 0, l=2, w=2)  # x in [-1, 1]
    b = box(1.5, 0, l=d, w=d, yaw=math.pi / 4)  # leftmost corner at x = 0.5, top/bottom at x = 1.5
    assert bev_intersection(a[None], b[None])[0, 0] == pytest.approx(0.25, abs=1e-12)


def test_disjoint_and_touching_are_zero():
    a = box(0, 0, l=4, w=2)
    far = box(10, 10, l=4, w=2, yaw=0.3)
    edge = box(4, 0, l=4, w=2)  # shares the face x = 2
    corner = box(4, 2, l=4, w=2)  # shares only the corner (2, 1)
    got = bev_iou(a[None], boxes(far, edge, corner))
    np.testing.assert_array_equal(got, 0.0)
    # Bounding circles overlap but the rotated footprints do not.
    near = box(0, 2.2, l=4, w=2, yaw=0.0)
    assert bev_iou(a[None], near[None])[0, 0] == 0.0


def test_containment():
    outer = box(l=6, w=4, yaw=0.4)
    inner = box(0.3, -0.2, l=1, w=0.5, yaw=1.3)
    assert bev_intersection(outer[None], inner[None])[0, 0] == pytest.approx(0.5, abs=1e-12)
    assert bev_iou(inner[None], outer[None])[0, 0] == pytest.approx(0.5 / 24, abs=1e-12)


def test_3d_iou_uses_z_overlap():
    a = box(0, 0, 0, l=2, w=2, h=2)  # z in [-1, 1]
    b = box(0, 0, 1.5, l=2, w=2, h=2)  # z in [0.5, 2.5]
    inter = 4 * 0.5
    assert iou_3d(a[None], b[None])[0, 0] == pytest.approx(inter / (8 + 8 - inter), abs=1e-12)
    assert bev_iou(a[None], b[None])[0, 0] == pytest.approx(1.0)
    stacked = box(0, 0, 2.0, l=2, w=2, h=2)  # touching in z
    assert iou_3d(a[None], stacked[None])[0, 0] == 0.0


def test_pairwise_shape_symmetry_and_seven_columns():
    rng = np.random.default_rng(0)
    n, m = 7, 5
    a = np.concatenate(
        [rng.uniform(-5, 5, (n, 3)), rng.uniform(0.5, 4, (n, 3)), rng.uniform(-4, 4, (n, 1))], 1
    )
    b = np.concatenate(
        [rng.uniform(-5, 5, (m, 3)), rng.uniform(0.5, 4, (m, 3)), rng.uniform(-4, 4, (m, 1))], 1
    )
    ab, ba = bev_iou(a, b), bev_iou(b, a)
    assert ab.shape == (n, m) and ab.dtype == np.float64
    np.testing.assert_allclose(ab, ba.T, atol=1e-12)
    assert (ab > 0).any() and (ab >= 0).all() and (ab <= 1).all()
    assert bev_iou(np.zeros((0, 7)), b).shape == (0, m)
    # Yaw differing by pi is the same footprint.
    flipped = a.copy()
    flipped[:, 6] += math.pi
    np.testing.assert_allclose(np.diag(bev_iou(a, flipped)), 1.0, atol=1e-9)


def test_matches_monte_carlo():
    rng = np.random.default_rng(1)
    samples = rng.uniform(-4, 4, size=(400_000, 3))
    samples[:, 2] = 0.0
    cell = 64.0 / len(samples)
    for _ in range(6):
        pair = np.stack(
            [
                box(*rng.uniform(-1, 1, 2), 0, *rng.uniform(1.0, 3.5, 2), 1.0, rng.uniform(-math.pi, math.pi))
                for _ in range(2)
            ]
        )
        inside = points_in_boxes(samples, pair.astype(np.float32))
        estimate = (inside[:, 0] & inside[:, 1]).sum() * cell
        exact = bev_intersection(pair[:1], pair[1:])[0, 0]
        # Binomial standard error of the estimate is below 0.02 m^2 here.
        assert exact == pytest.approx(estimate, abs=0.08), (pair, exact, estimate)


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"\(M, >=7\)"):
        bev_iou(np.zeros((2, 5)), np.zeros((1, 7)))
    bad = box()[None].copy()
    bad[0, 4] = 0
    with pytest.raises(ValueError, match="non-positive sizes"):
        iou_3d(bad, box()[None])
