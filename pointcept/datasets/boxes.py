"""3D bounding boxes in the data pipeline: one convention, numpy helpers.

Convention (the only one in this codebase; readers convert to it):

* A sample carries its boxes as ``gt_boxes`` (M, 9) float32, one row per object:
  ``[x, y, z, l, w, h, yaw, vx, vy]``

  - ``x, y, z``: the geometric centre of the box (not the bottom centre), in the same frame and
    units (metres) as the sample's ``coord`` (the LiDAR frame for outdoor data);
  - ``l, w, h``: full extents (> 0). ``l`` is measured along the heading, ``w`` across it (in the
    ground plane), ``h`` along +z. nuScenes stores ``wlh`` and must be reordered to ``lwh``;
  - ``yaw``: heading in radians, counter-clockwise about +z, measured from +x; the heading
    direction is ``(cos yaw, sin yaw, 0)``. Helpers normalise it to ``[-pi, pi)``;
  - ``vx, vy``: velocity in m/s in the same frame (0 where unknown; NaN is not allowed).

  Boxes are upright: they have no roll or pitch, so a tilt of the scene about x or y cannot be
  applied to them (``RandomRotate`` refuses it when boxes are present).
* ``gt_labels`` (M,) int64: class index, ``-1`` = ignore (kept through the pipeline, never a target).
* ``gt_num_points`` (M,) int64: number of the sample's points inside the box (``points_in_boxes``).
  Every transform that subsamples points (``index_points``) or jitters them recomputes it from
  the sample's points, so after any crop/voxelisation it counts the points actually present (rigid
  moves and scaling keep it); a reader may fill it with the dataset's own count (e.g. nuScenes
  ``num_lidar_pts``), which stands until the first recount.
* Point-in-box is inclusive on every face: a point ``p`` is inside box ``b`` when its coordinates
  in the box frame, ``R(-yaw) (p - centre)``, satisfy ``|u| <= l/2``, ``|v| <= w/2``, ``|dz| <= h/2``.
* Batches (``collate_fn``) concatenate the boxes of all clouds and add ``gt_offset`` (B,) int64,
  the cumulative box counts (no leading zero), like ``offset`` for points.

Corner order of ``boxes_to_corners`` (box frame, u forward, v left, z up): indices 0-3 are the
bottom face and 4-7 the top face, each counter-clockwise seen from above starting at the
front-left corner: (+l/2, +w/2), (-l/2, +w/2), (-l/2, -w/2), (+l/2, -w/2).
"""

import math
from collections.abc import Iterable, Sequence

import numpy as np

BOX_DIM = 9
"""Columns of ``gt_boxes``: x, y, z, l, w, h, yaw, vx, vy."""

_CORNER_SIGNS = np.array(
    [[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1], [1, 1, 1], [-1, 1, 1], [-1, -1, 1], [1, -1, 1]],
    dtype=np.float64,
)


def check_boxes(boxes: np.ndarray, name: str = "gt_boxes") -> np.ndarray:
    """Return ``boxes`` if it is a finite (M, 9) float array with positive sizes; else raise ValueError."""
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != BOX_DIM or not np.issubdtype(boxes.dtype, np.floating):
        raise ValueError(
            f"{name} must be a float array of shape (M, {BOX_DIM}) = x, y, z, l, w, h, yaw, vx, vy; "
            f"got {boxes.dtype} {boxes.shape}"
        )
    if not np.isfinite(boxes).all():
        raise ValueError(
            f"{name} has NaN or Inf entries (rows {np.flatnonzero(~np.isfinite(boxes).all(1))[:5]})"
        )
    if (boxes[:, 3:6] <= 0).any():
        raise ValueError(
            f"{name} has non-positive sizes l, w, h (rows {np.flatnonzero((boxes[:, 3:6] <= 0).any(1))[:5]})"
        )
    return boxes


def limit_yaw(yaw: np.ndarray) -> np.ndarray:
    """Wrap angles to ``[-pi, pi)``."""
    return (yaw + np.pi) % (2 * np.pi) - np.pi


def boxes_to_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners (M, 8, 3) float64 of ``boxes`` (M, 9), in the order of the module docstring."""
    boxes = check_boxes(boxes).astype(np.float64)
    local = _CORNER_SIGNS[None] * boxes[:, None, 3:6] / 2
    c, s = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + boxes[:, None, :3]


def points_to_box_frame(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Coordinates (N, 3) of ``points`` in the frame of one ``box`` (9,): (forward, left, up) from its centre."""
    d = np.asarray(points, dtype=np.float64) - np.asarray(box[:3], dtype=np.float64)
    c, s = math.cos(float(box[6])), math.sin(float(box[6]))
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)


def _inside_one(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    local = points_to_box_frame(points, box)
    return np.all(np.abs(local) <= np.asarray(box[3:6], dtype=np.float64) / 2, axis=1)


def _x_sorted_candidates(points: np.ndarray, boxes: np.ndarray):
    """Yield (box index, candidate point indices): points whose x lies within the box's BEV x-extent."""
    order = np.argsort(points[:, 0], kind="stable")
    xs = points[order, 0].astype(np.float64)
    b = boxes.astype(np.float64)
    half_x = np.abs(b[:, 3] * np.cos(b[:, 6])) / 2 + np.abs(b[:, 4] * np.sin(b[:, 6])) / 2
    # A small slack so that points exactly on a face are not lost to rounding of half_x.
    slack = 1e-6 * (1.0 + np.abs(b[:, 0]) + half_x)
    lo = np.searchsorted(xs, b[:, 0] - half_x - slack, side="left")
    hi = np.searchsorted(xs, b[:, 0] + half_x + slack, side="right")
    for i in range(len(boxes)):
        yield i, order[lo[i] : hi[i]]


def points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Inclusion matrix (N, M) bool: ``[p, b]`` is True when point p lies in box b (see module docstring).

    points: (N, 3+) (only x, y, z are used); boxes: (M, 9). Cost: one sort of the points plus, per
    box, an exact test of the points in its BEV x-extent.
    """
    points = np.asarray(points)
    boxes = check_boxes(boxes)
    out = np.zeros((len(points), len(boxes)), dtype=bool)
    if len(points) == 0 or len(boxes) == 0:
        return out
    pts = points[:, :3]
    for i, cand in _x_sorted_candidates(pts, boxes):
        out[cand[_inside_one(pts[cand], boxes[i])], i] = True
    return out


def count_points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Points per box (M,) int64 = ``points_in_boxes(points, boxes).sum(0)`` without the (N, M) matrix."""
    points = np.asarray(points)
    boxes = check_boxes(boxes)
    counts = np.zeros(len(boxes), dtype=np.int64)
    if len(points) == 0 or len(boxes) == 0:
        return counts
    pts = points[:, :3]
    for i, cand in _x_sorted_candidates(pts, boxes):
        counts[i] = int(_inside_one(pts[cand], boxes[i]).sum())
    return counts


def rotate_boxes(boxes: np.ndarray, angle: float, center: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Rotate boxes by ``angle`` (rad, counter-clockwise about +z) around ``center`` (3,).

    Centres rotate like points, ``yaw`` gains ``angle`` (wrapped), velocities rotate with the heading.
    Returns a new float32 array.
    """
    b = check_boxes(boxes).astype(np.float64)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    ctr = np.asarray(center, dtype=np.float64)
    b[:, :2] = (b[:, :2] - ctr[:2]) @ rot.T + ctr[:2]
    b[:, 6] = limit_yaw(b[:, 6] + angle)
    b[:, 7:9] = b[:, 7:9] @ rot.T
    return b.astype(np.float32)


def flip_boxes(boxes: np.ndarray, axis: int) -> np.ndarray:
    """Mirror boxes as points are mirrored by ``coord[:, axis] *= -1`` (axis 0 = x, 1 = y).

    Mirroring x maps yaw to ``pi - yaw`` and negates vx; mirroring y maps yaw to ``-yaw`` and
    negates vy. Returns a new float32 array.
    """
    if axis not in (0, 1):
        raise ValueError(f"flip axis must be 0 (x) or 1 (y), got {axis!r}")
    b = check_boxes(boxes).astype(np.float64)
    b[:, axis] = -b[:, axis]
    b[:, 7 + axis] = -b[:, 7 + axis]
    b[:, 6] = limit_yaw(np.pi - b[:, 6] if axis == 0 else -b[:, 6])
    return b.astype(np.float32)


def scale_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """Scale boxes as points are scaled by ``coord * factor`` (isotropic, factor > 0).

    Centres, sizes and velocities are multiplied by ``factor``; yaw is unchanged.
    """
    if not factor > 0:
        raise ValueError(f"scale factor must be > 0, got {factor}")
    b = check_boxes(boxes).astype(np.float64)
    b[:, :6] *= factor
    b[:, 7:9] *= factor
    return b.astype(np.float32)


def translate_boxes(boxes: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """Move box centres by ``shift`` (3,), as points are moved by ``coord + shift``."""
    b = check_boxes(boxes).astype(np.float64)
    b[:, :3] += np.asarray(shift, dtype=np.float64).reshape(3)
    return b.astype(np.float32)


def check_box_classes(box_classes: Sequence[str] | None) -> list[str] | None:
    """A reader's ``box_classes`` argument: None (no boxes) or a non-empty list of class names."""
    if box_classes is None:
        return None
    if isinstance(box_classes, str) or not len(box_classes):
        raise ValueError(f"box_classes must be a non-empty list of class names, got {box_classes!r}")
    return [str(c) for c in box_classes]


def box_labels(names: Iterable[str], box_classes: Sequence[str]) -> np.ndarray:
    """``gt_labels`` (M,) int64 of boxes of the classes ``names``: each one's position in
    ``box_classes``, -1 (ignore) for a class not in it."""
    index = {name: i for i, name in enumerate(box_classes)}
    return np.array([index.get(name, -1) for name in names], dtype=np.int64)
