"""Boxes in the data pipeline: geometry helpers, every geometric transform, collate."""

import math

import numpy as np
import pytest
import torch

from pointcept.datasets import Compose, collate_fn, point_collate_fn
from pointcept.datasets.boxes import (
    box_labels,
    boxes_to_corners,
    check_boxes,
    count_points_in_boxes,
    flip_boxes,
    limit_yaw,
    points_in_boxes,
    points_to_box_frame,
    rotate_boxes,
)
from pointcept.datasets.transform import (
    BOX_KEYS,
    CenterShift,
    GridSample,
    PointClip,
    RandomFlip,
    RandomJitter,
    RandomRotate,
    RandomRotateTargetAngle,
    RandomScale,
    RandomShift,
    SphereCrop,
    index_boxes,
    register_box_key,
)


def box(x=0.0, y=0.0, z=0.0, l=4.0, w=2.0, h=1.5, yaw=0.0, vx=0.0, vy=0.0):  # noqa: E741 (box convention)
    return np.array([x, y, z, l, w, h, yaw, vx, vy], dtype=np.float32)


def sample_with_boxes(boxes, points, labels=None):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 9)
    return dict(
        coord=np.asarray(points, dtype=np.float32).reshape(-1, 3),
        gt_boxes=boxes,
        gt_labels=np.arange(len(boxes), dtype=np.int64) if labels is None else np.asarray(labels),
        gt_num_points=count_points_in_boxes(np.asarray(points, np.float32).reshape(-1, 3), boxes),
        name="boxes",
    )


# ---------------------------------------------------------------- geometry helpers


def test_corners_hand_computed():
    # l = 4 along the heading, yaw = 90 deg: the box's length now runs along +y.
    corners = boxes_to_corners(box(1, 2, 3, l=4, w=2, h=2, yaw=math.pi / 2)[None])[0]
    expected = np.array(
        [[0, 4, 2], [0, 0, 2], [2, 0, 2], [2, 4, 2], [0, 4, 4], [0, 0, 4], [2, 0, 4], [2, 4, 4]],
        dtype=np.float64,
    )
    np.testing.assert_allclose(corners, expected, atol=1e-6)


def test_points_in_boxes_hand_computed_inclusive_faces():
    # A 45-degree box: l = 2*sqrt(2) along (1, 1), w = sqrt(2) along (-1, 1), h = 2.
    b = box(0, 0, 0, l=2 * math.sqrt(2), w=math.sqrt(2), h=2, yaw=math.pi / 4)
    pts = np.array(
        [
            [0.0, 0.0, 0.0],  # centre
            [0.99, 0.99, 0.0],  # just inside the front face (u = 1.40 <= 1.414)
            [1.01, 1.01, 0.0],  # beyond the front face
            [-0.3, 0.3, 0.9],  # left side (v = 0.42 <= 0.707), z inside
            [-0.6, 0.6, 0.0],  # v = 0.85 > 0.707: outside although |x|, |y| < 1
            [1.2, 0.0, 0.0],  # inside the axis-aligned hull, outside the rotated box
            [0.0, 0.0, 1.0],  # on the top face: inclusive
            [0.0, 0.0, 1.01],  # above
        ]
    )
    inside = points_in_boxes(pts, b[None])[:, 0]
    np.testing.assert_array_equal(inside, [True, True, False, True, False, False, True, False])
    np.testing.assert_allclose(points_to_box_frame(pts[3:4], b)[0], [0.0, 0.3 * math.sqrt(2), 0.9], atol=1e-6)


def _inside_by_half_planes(points, boxes):
    """Independent reference: a point is inside when it is left of (or on) every counter-clockwise BEV edge."""
    out = np.zeros((len(points), len(boxes)), dtype=bool)
    for j, corners in enumerate(boxes_to_corners(boxes)):
        bev = corners[:4, :2]
        ok = np.ones(len(points), dtype=bool)
        for k in range(4):
            a, b = bev[k], bev[(k + 1) % 4]
            cross = (b[0] - a[0]) * (points[:, 1] - a[1]) - (b[1] - a[1]) * (points[:, 0] - a[0])
            ok &= cross >= -1e-9
        ok &= (points[:, 2] >= corners[0, 2] - 1e-9) & (points[:, 2] <= corners[4, 2] + 1e-9)
        out[:, j] = ok
    return out


def test_points_in_boxes_matches_half_plane_reference():
    rng = np.random.default_rng(0)
    boxes = np.concatenate(
        [
            rng.uniform(-10, 10, (40, 3)),
            rng.uniform(0.5, 5, (40, 3)),
            rng.uniform(-4, 4, (40, 1)),
            rng.normal(size=(40, 2)),
        ],
        axis=1,
    ).astype(np.float32)
    pts = rng.uniform(-12, 12, (5000, 3)).astype(np.float32)
    pts[:, 2] /= 4
    ref = _inside_by_half_planes(pts.astype(np.float64), boxes)
    got = points_in_boxes(pts, boxes)
    assert ref.sum() > 200  # the test actually covers inside points
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(count_points_in_boxes(pts, boxes), ref.sum(0))
    assert points_in_boxes(pts[:0], boxes).shape == (0, 40)
    assert count_points_in_boxes(pts, boxes[:0]).shape == (0,)


def test_check_boxes_errors():
    with pytest.raises(ValueError, match=r"shape \(M, 9\)"):
        check_boxes(np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        check_boxes(np.array([box(x=np.nan)]))
    with pytest.raises(ValueError, match="non-positive sizes"):
        check_boxes(np.array([box(w=0.0)]))
    with pytest.raises(ValueError, match="flip axis"):
        flip_boxes(np.array([box()]), 2)


def test_limit_yaw_range():
    np.testing.assert_allclose(
        limit_yaw(np.array([math.pi, -math.pi, 3 * math.pi / 2, 0.1])),
        [-math.pi, -math.pi, -math.pi / 2, 0.1],
    )


# ---------------------------------------------------------------- transforms, hand-computed


def test_rotate_z_moves_centre_yaw_and_velocity():
    data = sample_with_boxes([box(1, 0, 0.5, yaw=0.0, vx=2.0, vy=0.0)], [[1, 0, 0.5], [5, 5, 0]])
    out = RandomRotate(angle=(0.5, 0.5), axis="z", center=(0, 0, 0), p=1.0)(data)
    np.testing.assert_allclose(out["gt_boxes"][0], [0, 1, 0.5, 4, 2, 1.5, math.pi / 2, 0, 2], atol=1e-6)
    np.testing.assert_allclose(out["coord"][0], [0, 1, 0.5], atol=1e-6)
    # about the points' bounding-box centre (2.5, 2.5): the box at (1, 0) goes to (5, 1)
    data = sample_with_boxes([box(1, 0, 0.5, yaw=0.2)], [[0, 0, 0], [5, 5, 1]])
    out = RandomRotateTargetAngle(angle=(0.5,), axis="z", center=None, p=1.0)(data)
    np.testing.assert_allclose(out["gt_boxes"][0, [0, 1, 2, 6]], [5, 1, 0.5, 0.2 + math.pi / 2], atol=1e-6)


@pytest.mark.parametrize("cls", [RandomRotate, RandomRotateTargetAngle])
def test_tilt_with_boxes_is_refused_and_without_boxes_allowed(cls):
    data = sample_with_boxes([box()], [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match=r"axis='x'.*no tilt"):
        cls(angle=(0.1, 0.1) if cls is RandomRotate else (0.1,), axis="x", p=0.0)(data)
    plain = {"coord": data["coord"].copy()}
    out = cls(angle=(0.5, 0.5) if cls is RandomRotate else (0.5,), axis="x", center=(0, 0, 0), p=1.0)(plain)
    np.testing.assert_allclose(out["coord"][1], [1, -1, 1], atol=1e-6)


def test_scale_boxes_and_refuse_anisotropic():
    data = sample_with_boxes([box(1, 2, 3, 4, 2, 1, 0.3, 1, -1)], [[1, 2, 3]])
    out = RandomScale(scale=(2.0, 2.0))(data)
    np.testing.assert_allclose(out["gt_boxes"][0], [2, 4, 6, 8, 4, 2, 0.3, 2, -2], atol=1e-6)
    with pytest.raises(ValueError, match="anisotropic"):
        RandomScale(scale=(0.9, 1.1), anisotropic=True)(sample_with_boxes([box()], [[0, 0, 0]]))


def test_flip_x_then_y_hand_computed():
    data = sample_with_boxes([box(1, 2, 0, yaw=0.3, vx=1, vy=2)], [[1, 2, 0]])
    original = data["gt_boxes"].copy()
    flipped_x = flip_boxes(data["gt_boxes"], 0)[0]
    np.testing.assert_allclose(flipped_x, [-1, 2, 0, 4, 2, 1.5, math.pi - 0.3, -1, 2], atol=1e-6)
    out = RandomFlip(p=1.0)(data)  # both axes: a rotation by pi
    np.testing.assert_allclose(out["gt_boxes"][0], [-1, -2, 0, 4, 2, 1.5, 0.3 - math.pi, -1, -2], atol=1e-6)
    np.testing.assert_allclose(out["coord"][0], [-1, -2, 0])
    np.testing.assert_allclose(rotate_boxes(original, math.pi), out["gt_boxes"], atol=1e-6)


def test_center_shift_moves_boxes_and_jitter_leaves_them():
    data = sample_with_boxes([box(3, 5, 1.0, yaw=0.1, vx=1)], [[2, 2, -1], [4, 6, 3]])
    out = CenterShift(apply_z=True)(data)
    np.testing.assert_allclose(out["gt_boxes"][0, :3], [0, 1, 2])
    np.testing.assert_allclose(out["gt_boxes"][0, 3:], data["gt_boxes"][0, 3:])
    before = out["gt_boxes"].copy()
    out = RandomJitter(sigma=0.01, clip=0.05)(out)
    np.testing.assert_array_equal(out["gt_boxes"], before)


def test_random_shift_moves_points_and_boxes_by_the_same_vector():
    data = sample_with_boxes([box(1, 2, 3, yaw=0.5, vx=1)], [[1, 2, 3], [0, 0, 0]])
    out = RandomShift(shift=((1.5, 1.5), (-2, -2), (0.25, 0.25)))(data)
    np.testing.assert_allclose(out["coord"], [[2.5, 0, 3.25], [1.5, -2, 0.25]])
    np.testing.assert_allclose(out["gt_boxes"][0], box(2.5, 0, 3.25, yaw=0.5, vx=1))
    with pytest.raises(ValueError, match="three"):
        RandomShift(shift=((0, 1), (0, 1)))


def test_point_clip_drops_boxes_by_centre_and_recounts_points():
    boxes = [box(0, 0, 0, l=2, w=2, h=2), box(4.5, 0, 0, l=2, w=2, h=2), box(6, 0, 0, l=1, w=1, h=1)]
    pts = [[0, 0, 0], [0.5, 0.5, 0], [3.8, 0, 0], [4.2, 0, 0], [5.2, 0, 0], [6, 0, 0]]
    data = sample_with_boxes(boxes, pts)
    np.testing.assert_array_equal(data["gt_num_points"], [2, 3, 1])
    out = PointClip(point_cloud_range=(-5, -5, -5, 5, 5, 5))(data)
    np.testing.assert_array_equal(out["gt_labels"], [0, 1])  # box 2's centre x=6 is outside
    np.testing.assert_array_equal(out["gt_num_points"], [2, 2])  # box 1 lost its point at x=5.2
    assert len(out["coord"]) == 4


def test_sphere_crop_drops_boxes_beyond_the_farthest_kept_point():
    pts = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [9, 0, 0], [11, 0, 0]], dtype=np.float32)
    boxes = [
        box(1.5, l=1, w=1, h=1),
        box(0.2, l=0.5, w=1, h=1),
        box(10.5, l=2, w=1, h=1),
        box(8.5, l=2, w=1, h=1),
    ]
    out = SphereCrop(point_max=3, mode="center")(sample_with_boxes(boxes, pts))
    # crop centre = bbox centre x = 5.5: kept points x = 1, 2, 9 (distances 4.5, 3.5, 3.5), radius 4.5;
    # box centres at distances 4, 5.3, 5, 3: boxes 1 and 2 leave.
    np.testing.assert_array_equal(out["coord"][:, 0], [1, 2, 9])
    np.testing.assert_array_equal(out["gt_labels"], [0, 3])
    np.testing.assert_array_equal(out["gt_num_points"], [2, 1])


def test_grid_sample_recounts_points_and_keeps_boxes():
    np.random.seed(0)
    rng = np.random.default_rng(3)
    pts = rng.uniform(-3, 3, (2000, 3)).astype(np.float32)
    boxes = [box(0, 0, 0, l=2, w=1, h=2, yaw=0.4), box(-2, 1, 0, l=1, w=1, h=1)]
    data = sample_with_boxes(boxes, pts)
    out = GridSample(grid_size=0.5)(dict(data))
    np.testing.assert_array_equal(out["gt_boxes"], data["gt_boxes"])
    np.testing.assert_array_equal(out["gt_num_points"], points_in_boxes(out["coord"], out["gt_boxes"]).sum(0))
    assert (out["gt_num_points"] < data["gt_num_points"]).all()
    for frag in GridSample(grid_size=0.5, mode="test")(dict(data)):
        np.testing.assert_array_equal(
            frag["gt_num_points"], count_points_in_boxes(frag["coord"], frag["gt_boxes"])
        )


def test_index_boxes_checks_alignment_and_registered_keys():
    data = sample_with_boxes([box(), box(x=5)], [[0, 0, 0]])
    data["gt_labels"] = data["gt_labels"][:1]
    with pytest.raises(ValueError, match="per-box key 'gt_labels' has 1 rows but gt_boxes has 2"):
        index_boxes(data, np.array([0]))
    register_box_key("gt_test_attr")
    try:
        data = sample_with_boxes([box(), box(x=5)], [[0, 0, 0]])
        data["gt_test_attr"] = np.array([7, 8])
        out = PointClip(point_cloud_range=(-1, -1, -1, 1, 1, 1))(data)
        np.testing.assert_array_equal(out["gt_test_attr"], [7])
    finally:
        BOX_KEYS.remove("gt_test_attr")


def test_box_handling_leaves_points_and_rng_unchanged():
    """The same pipeline and seed give bit-identical points with and without boxes."""
    pipeline = [
        dict(type="RandomRotate", angle=(-1, 1), axis="z", p=0.7),
        dict(type="RandomScale", scale=(0.9, 1.1)),
        dict(type="RandomFlip", p=0.5),
        dict(type="RandomJitter", sigma=0.01, clip=0.05),
        dict(type="CenterShift", apply_z=True),
        dict(type="RandomShift", shift=((-1, 1), (-1, 1), (-0.1, 0.1))),
        dict(type="SphereCrop", point_max=600),
        dict(type="GridSample", grid_size=0.2),
        dict(type="PointClip", point_cloud_range=(-8, -8, -3, 8, 8, 3)),
    ]
    scene = make_scene(seed=1)
    plain = {k: scene[k].copy() for k in ("coord", "instance")}
    assert "gt_boxes" in scene and len(scene["gt_boxes"]) == 6
    np.random.seed(5)
    with_boxes = Compose(pipeline)(scene)
    np.random.seed(5)
    without = Compose(pipeline)(plain)
    assert set(without) == {"coord", "instance", "grid_coord"}
    np.testing.assert_array_equal(with_boxes["coord"], without["coord"])
    np.testing.assert_array_equal(with_boxes["grid_coord"], without["grid_coord"])


# ---------------------------------------------------------------- property test


def make_scene(num_boxes=6, per_box=60, background=200, seed=0):
    """Boxes on a 12 m grid with points strictly inside (0.1 m from every face) and background points.

    ``instance`` holds each point's box (-1 = background); ``gt_labels`` = box id, so that box rows can
    be followed through crops.
    """
    rng = np.random.default_rng(seed)
    boxes = []
    for i in range(num_boxes):
        size = rng.uniform([1.0, 0.5, 1.0], [6.0, 2.5, 3.0])
        boxes.append(
            box(
                (i % 3) * 12.0 - 12 + rng.uniform(-1, 1),
                (i // 3) * 12.0 - 6 + rng.uniform(-1, 1),
                rng.uniform(-1, 1),
                *size,
                rng.uniform(-math.pi, math.pi),
                *rng.normal(0, 5, 2),
            )
        )
    boxes = np.stack(boxes)
    pts, owner = [], []
    for i, b in enumerate(boxes):
        half = b[3:6] / 2 - 0.1
        local = rng.uniform(-half, half, (per_box, 3))
        c, s = math.cos(b[6]), math.sin(b[6])
        pts.append(
            np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]], 1)
            + b[:3]
        )
        owner.append(np.full(per_box, i))
    pts.append(rng.uniform([-20, -14, -2], [20, 14, 2], (background, 3)))
    owner.append(np.full(background, -1))
    data = sample_with_boxes(boxes, np.concatenate(pts))
    data["instance"] = np.concatenate(owner).astype(np.int64)
    return data


AUGMENTATIONS = {
    "rotate_bbox_centre": [dict(type="RandomRotate", angle=(-1, 1), axis="z", p=1.0)],
    "rotate_origin": [dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0)],
    "scale": [dict(type="RandomScale", scale=(0.8, 1.2))],
    "flip": [dict(type="RandomFlip", p=0.5)],
    "flip_both": [dict(type="RandomFlip", p=1.0)],
    "center_shift": [dict(type="CenterShift", apply_z=True)],
    "random_shift": [dict(type="RandomShift", shift=((-2, 2), (-2, 2), (-0.5, 0.5)))],
    "jitter": [dict(type="RandomJitter", sigma=0.02, clip=0.05)],
    "point_clip": [dict(type="PointClip", point_cloud_range=(-10, -10, -3, 10, 10, 3))],
    "sphere_crop": [dict(type="SphereCrop", point_max=300, mode="random")],
    "grid_sample": [dict(type="GridSample", grid_size=0.3)],
    "chain": [
        dict(type="RandomRotate", angle=(-1, 1), axis="z", p=1.0),
        dict(type="RandomScale", scale=(0.9, 1.1)),
        dict(type="RandomFlip", p=0.5),
        dict(type="RandomJitter", sigma=0.01, clip=0.03),
        dict(type="CenterShift", apply_z=False),
        dict(type="RandomShift"),
        dict(type="SphereCrop", point_max=400),
        dict(type="GridSample", grid_size=0.2),
        dict(type="PointClip", point_cloud_range=(-15, -15, -3, 15, 15, 3)),
    ],
}


def _velocity_in_box_frame(b):
    c, s = math.cos(b[6]), math.sin(b[6])
    return np.array([c * b[7] + s * b[8], -s * b[7] + c * b[8]])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_points_stay_in_their_boxes_under_every_augmentation(name, seed):
    scene = make_scene(seed=seed)
    scene["index"] = np.arange(len(scene["coord"]))
    before = {k: v.copy() for k, v in scene.items() if isinstance(v, np.ndarray)}
    np.random.seed(seed)
    out = Compose(AUGMENTATIONS[name])(scene)
    boxes, ids = out["gt_boxes"], out["gt_labels"]
    assert (
        boxes.dtype == np.float32 and boxes.shape == (len(ids), 9) and len(out["gt_num_points"]) == len(ids)
    )
    assert (boxes[:, 6] >= -math.pi).all() and (boxes[:, 6] < math.pi).all()
    inside = points_in_boxes(out["coord"], boxes)
    np.testing.assert_array_equal(out["gt_num_points"], inside.sum(0))
    # Mirror parity of the whole sample, read from the lateral velocity of a box that has one.
    lateral = [
        (_velocity_in_box_frame(before["gt_boxes"][i])[1], _velocity_in_box_frame(boxes[r])[1])
        for r, i in enumerate(ids)
    ]
    mirrored = next(l0 * l1 < 0 for l0, l1 in lateral if abs(l0) > 0.1)
    exact = not any(t["type"] == "RandomJitter" for t in AUGMENTATIONS[name])
    checked = 0
    for row, box_id in enumerate(ids):
        mine = out["instance"] == box_id
        assert inside[mine, row].all(), f"{name}: a point left box {box_id}"
        b0, b1 = before["gt_boxes"][box_id], boxes[row]
        scale = b1[3] / b0[3]
        np.testing.assert_allclose(b1[3:6], b0[3:6] * scale, rtol=1e-5)
        # The velocity keeps its components along and across the heading (the latter mirrors with a flip).
        v0, v1 = _velocity_in_box_frame(b0), _velocity_in_box_frame(b1)
        np.testing.assert_allclose(v1, v0 * scale * np.array([1, -1 if mirrored else 1]), atol=1e-3)
        if exact and mine.any():
            # Points keep their coordinates in the box frame (scaled; lateral mirrored with a flip).
            local0 = points_to_box_frame(before["coord"][out["index"][mine]], b0)
            local1 = points_to_box_frame(out["coord"][mine], b1)
            local0[:, 1] *= -1 if mirrored else 1
            np.testing.assert_allclose(local1, local0 * scale, atol=1e-4)
            checked += 1
    assert len(ids) > 0 and (checked > 0 or not exact)
    if name in (
        "rotate_origin",
        "rotate_bbox_centre",
        "flip_both",
        "scale",
        "center_shift",
        "random_shift",
        "jitter",
        "grid_sample",
    ):
        assert len(ids) == len(before["gt_boxes"])  # nothing is cropped
    if name == "flip_both":
        assert not mirrored  # two mirrors make a rotation
    if name == "point_clip":
        in_range = np.all(np.abs(before["gt_boxes"][:, :2]) <= 10, axis=1)
        np.testing.assert_array_equal(ids, np.flatnonzero(in_range))
    if name == "sphere_crop":
        assert len(out["coord"]) == 300


# ---------------------------------------------------------------- collate


def test_collate_concatenates_boxes_with_gt_offset():
    s0 = sample_with_boxes([box(), box(x=5)], [[0, 0, 0], [5, 0, 0], [9, 9, 9]])
    s1 = sample_with_boxes(np.zeros((0, 9)), [[1, 1, 1]])
    s2 = sample_with_boxes([box(y=3)], [[0, 3, 0], [0, 3.5, 0]])
    batch = collate_fn([s0, s1, s2])
    assert batch["gt_boxes"].shape == (3, 9) and batch["gt_boxes"].dtype == torch.float32
    torch.testing.assert_close(batch["gt_offset"], torch.tensor([2, 2, 3]))
    torch.testing.assert_close(batch["offset"], torch.tensor([3, 4, 6]))
    torch.testing.assert_close(batch["gt_labels"], torch.tensor([0, 1, 0]))
    torch.testing.assert_close(batch["gt_num_points"], torch.tensor([1, 1, 2]))
    torch.testing.assert_close(batch["gt_boxes"][2], torch.from_numpy(box(y=3)))
    # Mix3D merges clouds 0+1 and keeps 2: box offsets merge with point offsets.
    import random

    random.seed(0)
    mixed = point_collate_fn([s0, s1, s2, s2], mix_prob=1.0)
    torch.testing.assert_close(mixed["gt_offset"], torch.tensor([2, 4]))
    torch.testing.assert_close(mixed["offset"], torch.tensor([4, 8]))


def test_box_labels_are_positions_in_box_classes_and_minus_one_otherwise():
    labels = box_labels(["car", "tree", "bus", "car"], ["bus", "car"])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [1, -1, 0, 1])
    empty = box_labels(iter(()), ["bus"])
    assert empty.shape == (0,) and empty.dtype == np.int64
