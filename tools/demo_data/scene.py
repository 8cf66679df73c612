"""The world the sensor scans: a ground plane (z = 0) whose class comes from a painting function,
plus primitives with a raw class, an instance id and a remission each.

Primitives are yawed boxes, vertical cylinders (with top cap) and axis-aligned ellipsoids. Each
keeps a bounding sphere (for the sensor's angular culling) and its x-extent (for removing
objects from a corridor). ``Scene.hit`` gives exact ray distances, ``inf`` where a ray misses.
"""

import math

import numpy as np

from .materials import BUILDING, POLE, REMISSION, VEGETATION


class Scene:
    """A street: a painted ground plane (z = 0) plus primitives, each with raw id and instance id."""

    def __init__(self, ground_label_fn, layout=None):
        """``ground_label_fn(x, y)`` -> raw ids (int64) of the ground at world (x, y); ``layout`` is the
        street cross-section the scene was built from (``street.StreetLayout``), if any."""
        self.ground_label_fn = ground_label_fn
        self.layout = layout
        self.kind: list[str] = []
        self.params: list[tuple] = []
        self.sphere: list[tuple] = []
        self.label: list[int] = []
        self.instance: list[int] = []
        self.remission: list[float] = []
        self.xspan: list[tuple[float, float]] = []

    def _add(self, kind, params, center, radius, label, instance, remission, half_x):
        self.xspan.append((center[0] - half_x, center[0] + half_x))
        self.kind.append(kind)
        self.params.append(params)
        self.sphere.append((*center, radius))
        self.label.append(label)
        self.instance.append(instance)
        self.remission.append(REMISSION[label] if remission is None else remission)

    def add_box(self, center, size, yaw=0.0, label=BUILDING, instance=0, remission=None):
        """Box of full ``size`` (dx, dy, dz) centred at ``center``, rotated by ``yaw`` about z."""
        c, h = np.asarray(center, float), np.asarray(size, float) / 2
        half_x = abs(h[0] * math.cos(yaw)) + abs(h[1] * math.sin(yaw))
        self._add("box", (c, h, float(yaw)), c, float(np.linalg.norm(h)), label, instance, remission, half_x)

    def add_cylinder(self, x, y, z0, z1, radius, label=POLE, instance=0, remission=None):
        """Vertical cylinder with axis (x, y), from z0 to z1 (top cap included)."""
        c = np.array([x, y, (z0 + z1) / 2])
        r = math.hypot(radius, (z1 - z0) / 2)
        self._add(
            "cylinder",
            (float(x), float(y), float(z0), float(z1), float(radius)),
            c,
            r,
            label,
            instance,
            remission,
            radius,
        )

    def add_ellipsoid(self, center, radii, label=VEGETATION, instance=0, remission=None):
        c, r = np.asarray(center, float), np.asarray(radii, float)
        self._add("ellipsoid", (c, r), c, float(r.max()), label, instance, remission, r[0])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the primitives where ``mask`` is False."""
        for name in ("kind", "params", "sphere", "label", "instance", "remission", "xspan"):
            setattr(self, name, [v for v, k in zip(getattr(self, name), mask) if k])

    def __len__(self) -> int:
        return len(self.kind)

    def hit(self, i: int, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Distance along each unit ray ``origin + t * dirs[j]`` to primitive ``i``, (R,) float64, inf on a miss."""
        return _HIT[self.kind[i]](origin, dirs, self.params[i])


def _hit_box(o, d, params):
    c, h, yaw = params
    cs, sn = math.cos(yaw), math.sin(yaw)
    rel = o - c
    ol = np.array([cs * rel[0] + sn * rel[1], -sn * rel[0] + cs * rel[1], rel[2]])
    dl = np.stack([cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1], d[:, 2]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dl
        t1 = (-h - ol) * inv
        t2 = (h - ol) * inv
    # NaN (0 * inf: ray parallel to a slab, origin on its plane) must not decide the hit.
    lo = np.minimum(t1, t2)
    hi = np.maximum(t1, t2)
    tmin = np.where(np.isnan(lo), -np.inf, lo).max(axis=1)
    tmax = np.where(np.isnan(hi), np.inf, hi).min(axis=1)
    return np.where((tmax >= tmin) & (tmin > 0), tmin, np.inf)


def _hit_cylinder(o, d, params):
    x, y, z0, z1, r = params
    ox, oy = o[0] - x, o[1] - y
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2 * (ox * d[:, 0] + oy * d[:, 1])
    c = ox * ox + oy * oy - r * r
    disc = b * b - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z = o[2] + t_side * d[:, 2]
        t_side = np.where((disc >= 0) & (t_side > 0) & (z >= z0) & (z <= z1), t_side, np.inf)
        t_cap = (z1 - o[2]) / d[:, 2]
    px, py = ox + t_cap * d[:, 0], oy + t_cap * d[:, 1]
    t_cap = np.where((t_cap > 0) & (px * px + py * py <= r * r), t_cap, np.inf)
    return np.minimum(t_side, t_cap)


def _hit_ellipsoid(o, d, params):
    c, radii = params
    ol = (o - c) / radii
    dl = d / radii
    a = (dl * dl).sum(1)
    b = 2 * (dl @ ol)
    cc = ol @ ol - 1
    disc = b * b - 4 * a * cc
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    return np.where((disc >= 0) & (t > 0), t, np.inf)


_HIT = {"box": _hit_box, "cylinder": _hit_cylinder, "ellipsoid": _hit_ellipsoid}
