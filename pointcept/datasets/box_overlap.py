"""Exact overlap of upright 3D boxes in numpy: rotated BEV intersection / IoU and 3D IoU, pairwise.

Boxes follow ``pointcept.datasets.boxes`` (``x, y, z, l, w, h, yaw`` in the first seven columns;
further columns such as velocity are ignored, so (M, 7) predictions work as well as (M, 9) boxes).

Method (exact up to float64 rounding): the BEV footprints are convex quadrilaterals, so their
intersection is a convex polygon whose vertices are among (a) corners of one box inside or on the
other, (b) crossing points of an edge of one with an edge of the other. All these candidates lie on
the boundary of the intersection, so ordering them by angle about their mean and applying the
shoelace formula gives its area; duplicate candidates (shared corners, touching edges) add zero.
Pairs whose circumscribed circles are disjoint are skipped (their overlap is exactly 0).

3D intersection = BEV intersection area x overlap of the z-extents (boxes are upright).
"""

import numpy as np

# Pairs processed per vectorised chunk: bounds the temporary (pairs, 24, 2) arrays to a few MB.
_CHUNK = 16384


def _check(boxes: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(boxes)
    if b.ndim != 2 or b.shape[1] < 7 or not np.issubdtype(b.dtype, np.number):
        raise ValueError(
            f"{name} must be a numeric array (M, >=7) = x, y, z, l, w, h, yaw, ...; got {b.dtype} {b.shape}"
        )
    b = b[:, :7].astype(np.float64)
    if not np.isfinite(b).all():
        raise ValueError(f"{name} has NaN or Inf entries")
    if (b[:, 3:6] <= 0).any():
        raise ValueError(
            f"{name} has non-positive sizes l, w, h (rows {np.flatnonzero((b[:, 3:6] <= 0).any(1))[:5]})"
        )
    return b


def bev_corners(boxes: np.ndarray) -> np.ndarray:
    """BEV footprints (M, 4, 2) float64, counter-clockwise from the front-left corner."""
    b = _check(boxes, "boxes")
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)
    local = signs[None] * b[:, None, 3:5] / 2
    c, s = np.cos(b[:, 6])[:, None], np.sin(b[:, 6])[:, None]
    x = c * local[..., 0] - s * local[..., 1] + b[:, None, 0]
    y = s * local[..., 0] + c * local[..., 1] + b[:, None, 1]
    return np.stack([x, y], axis=-1)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: np.ndarray, poly: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """points (P, K, 2) inside-or-on convex CCW ``poly`` (P, 4, 2) -> (P, K) bool."""
    edges = np.roll(poly, -1, axis=1) - poly  # (P, 4, 2)
    rel = points[:, :, None, :] - poly[:, None, :, :]  # (P, K, 4, 2)
    return (_cross(edges[:, None], rel) >= -tol[:, None, None]).all(-1)


def _edge_crossings(pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossing points (P, 16, 2) of every edge of ``pa`` with every edge of ``pb`` and their validity."""
    r = np.roll(pa, -1, axis=1) - pa  # (P, 4, 2)
    s = np.roll(pb, -1, axis=1) - pb
    p, q = pa[:, :, None], pb[:, None]  # (P, 4, 1, 2), (P, 1, 4, 2)
    r4, s4 = r[:, :, None], s[:, None]
    denom = _cross(r4, s4)  # (P, 4, 4)
    qp = q - p
    parallel = np.abs(denom) < 1e-12 * (np.linalg.norm(r4, axis=-1) * np.linalg.norm(s4, axis=-1))
    safe = np.where(parallel, 1.0, denom)
    t = _cross(qp, s4) / safe
    u = _cross(qp, r4) / safe
    eps = 1e-12
    valid = ~parallel & (t >= -eps) & (t <= 1 + eps) & (u >= -eps) & (u <= 1 + eps)
    pts = p + t[..., None] * r4
    return pts.reshape(len(pa), 16, 2), valid.reshape(len(pa), 16)


def _polygon_area(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Area (P,) of the convex polygon through the valid points (P, K, 2) of each row (0 if < 3)."""
    n = valid.sum(1)
    w = valid[..., None].astype(np.float64)
    centre = (points * w).sum(1) / np.maximum(n, 1)[:, None]
    rel = points - centre[:, None]
    angle = np.where(valid, np.arctan2(rel[..., 1], rel[..., 0]), np.inf)
    order = np.argsort(angle, axis=1, kind="stable")
    rel = np.take_along_axis(rel, order[..., None], axis=1)
    ok = np.take_along_axis(valid, order, axis=1)
    # Invalid slots (sorted last) repeat the first point: their shoelace terms vanish.
    rel = np.where(ok[..., None], rel, rel[:, :1])
    area = 0.5 * _cross(rel, np.roll(rel, -1, axis=1)).sum(1)
    return np.where(n >= 3, np.abs(area), 0.0)


def _pair_intersection(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Intersection areas (P,) of paired convex quads pa[i], pb[i] (P, 4, 2)."""
    scale = np.maximum(np.abs(pa).max((1, 2)), np.abs(pb).max((1, 2))) + 1.0
    tol = 1e-10 * scale**2
    a_in_b = _inside(pa, pb, tol)
    b_in_a = _inside(pb, pa, tol)
    cross_pts, cross_ok = _edge_crossings(pa, pb)
    points = np.concatenate([pa, pb, cross_pts], axis=1)
    valid = np.concatenate([a_in_b, b_in_a, cross_ok], axis=1)
    return _polygon_area(points, valid)


def bev_intersection(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise BEV (x-y footprint) intersection areas (N, M) float64 of rotated boxes."""
    a, b = _check(boxes_a, "boxes_a"), _check(boxes_b, "boxes_b")
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return out
    ra = np.hypot(a[:, 3], a[:, 4]) / 2
    rb = np.hypot(b[:, 3], b[:, 4]) / 2
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    ii, jj = np.nonzero(dist < ra[:, None] + rb[None, :])
    if len(ii) == 0:
        return out
    ca, cb = bev_corners(a), bev_corners(b)
    for start in range(0, len(ii), _CHUNK):
        i, j = ii[start : start + _CHUNK], jj[start : start + _CHUNK]
        out[i, j] = _pair_intersection(ca[i], cb[j])
    return out


def bev_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise rotated BEV IoU (N, M) float64 in [0, 1]."""
    a, b = _check(boxes_a, "boxes_a"), _check(boxes_b, "boxes_b")
    inter = bev_intersection(a, b)
    union = (a[:, 3] * a[:, 4])[:, None] + (b[:, 3] * b[:, 4])[None, :] - inter
    return np.clip(inter / union, 0.0, 1.0)


def iou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise 3D IoU (N, M) float64 of upright rotated boxes: BEV intersection x z-overlap over union."""
    a, b = _check(boxes_a, "boxes_a"), _check(boxes_b, "boxes_b")
    inter_bev = bev_intersection(a, b)
    top = np.minimum((a[:, 2] + a[:, 5] / 2)[:, None], (b[:, 2] + b[:, 5] / 2)[None, :])
    bottom = np.maximum((a[:, 2] - a[:, 5] / 2)[:, None], (b[:, 2] - b[:, 5] / 2)[None, :])
    inter = inter_bev * np.clip(top - bottom, 0.0, None)
    vol_a, vol_b = a[:, 3] * a[:, 4] * a[:, 5], b[:, 3] * b[:, 4] * b[:, 5]
    union = vol_a[:, None] + vol_b[None, :] - inter
    return np.clip(inter / union, 0.0, 1.0)
