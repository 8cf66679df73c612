"""Synthetic LiDAR scans of procedural streets, in SemanticKITTI's raw label space (numpy only).

A simulated spinning sensor (64 beams by default, elevations +2 .. -24.8 deg in two blocks like a
Velodyne HDL-64E, mounted ``height`` = 1.73 m above the ground) is ray-cast analytically into a
street scene built from a ground plane painted with regions (road, lane markings, parking, terrain,
driveways) and primitives: yawed boxes (sidewalk slabs with their curbs, buildings, vehicles,
fences, signs, bins), vertical cylinders (poles, trunks, people) and axis-aligned ellipsoids (tree
crowns, bushes, heads). Each point carries a raw SemanticKITTI id (low 16 bits) and an instance id
(high 16 bits, objects only), and a remission from its material with incidence falloff and noise;
ranges get Gaussian noise, some returns drop out and a few spurious "outlier" (id 1) returns appear.

One scene is built per sequence; consecutive scans move the sensor forward along the street
(``step`` metres), so they overlap and object instance ids are stable across a sequence.

Ray casting is vectorised per primitive: each primitive is tested only against the rays inside its
angular footprint (azimuth and elevation window of its bounding sphere), and a depth buffer keeps
the nearest hit, which makes occlusion exact.
"""

import math
import os
from dataclasses import dataclass

import numpy as np

# Raw SemanticKITTI ids used by the generator.
OUTLIER, CAR, BICYCLE, TRUCK, OTHER_VEHICLE = 1, 10, 11, 18, 20
PERSON, BICYCLIST, ROAD, PARKING, SIDEWALK, OTHER_GROUND = 30, 31, 40, 44, 48, 49
BUILDING, FENCE, LANE_MARKING, VEGETATION, TRUNK, TERRAIN = 50, 51, 60, 70, 71, 72
POLE, TRAFFIC_SIGN, OTHER_OBJECT, MOVING_CAR = 80, 81, 99, 252

# Mean remission per raw id (retro-reflective signs and lane paint bright, asphalt and tyres dark).
_REMISSION = {
    ROAD: 0.22, LANE_MARKING: 0.65, PARKING: 0.26, SIDEWALK: 0.32, OTHER_GROUND: 0.3, TERRAIN: 0.38,
    BUILDING: 0.3, FENCE: 0.28, VEGETATION: 0.42, TRUNK: 0.3, POLE: 0.35, TRAFFIC_SIGN: 0.85,
    CAR: 0.3, MOVING_CAR: 0.3, TRUCK: 0.35, OTHER_VEHICLE: 0.35, PERSON: 0.28, BICYCLE: 0.25,
    BICYCLIST: 0.27, OTHER_OBJECT: 0.2, OUTLIER: 0.1,
}  # fmt: skip


@dataclass
class SensorConfig:
    """Spinning LiDAR: ``beams`` x ``azimuth_steps`` rays per revolution.

    Elevations follow the HDL-64E's two blocks: the upper half of the beams spans ``fov_up`` ..
    ``split_deg`` (finer spacing), the lower half ``split_deg - gap`` .. ``fov_down``.
    """

    beams: int = 64
    azimuth_steps: int = 1024
    fov_up: float = 2.0
    fov_down: float = -24.8
    split_deg: float = -8.33
    height: float = 1.73
    max_range: float = 80.0
    min_range: float = 2.0
    range_noise: float = 0.02
    dropout: float = 0.03
    outlier_rate: float = 0.001

    def __post_init__(self):
        if self.beams < 2 or self.azimuth_steps < 8:
            raise ValueError(
                f"need beams >= 2 and azimuth_steps >= 8, got {self.beams}, {self.azimuth_steps}"
            )
        if not self.fov_down < self.split_deg < self.fov_up:
            raise ValueError(
                f"need fov_down < split_deg < fov_up, got {self.fov_down}, {self.split_deg}, {self.fov_up}"
            )
        if not 0 < self.min_range < self.max_range:
            raise ValueError(f"need 0 < min_range < max_range, got {self.min_range}, {self.max_range}")

    def elevations(self) -> np.ndarray:
        """Beam elevations in radians, (beams,) float64, from top to bottom."""
        upper = self.beams // 2
        lower = self.beams - upper
        lower_top = self.split_deg - (self.split_deg - self.fov_down) / (2 * lower)
        deg = np.concatenate(
            [np.linspace(self.fov_up, self.split_deg, upper), np.linspace(lower_top, self.fov_down, lower)]
        )
        return np.deg2rad(deg)

    def azimuths(self) -> np.ndarray:
        """Azimuth of every step in radians, (azimuth_steps,) float64, counter-clockwise from +x."""
        return np.arange(self.azimuth_steps) * (2 * np.pi / self.azimuth_steps) - np.pi

    def directions(self) -> np.ndarray:
        """Unit ray directions in the sensor frame, (beams * azimuth_steps, 3), beam-major."""
        el = self.elevations()[:, None]
        az = self.azimuths()[None, :]
        d = np.stack(
            [
                np.cos(el) * np.cos(az),
                np.cos(el) * np.sin(az),
                np.broadcast_to(np.sin(el), (len(el), az.shape[1])),
            ],
            axis=-1,
        )
        return d.reshape(-1, 3)


class Scene:
    """A street: a painted ground plane (z = 0) plus primitives, each with raw id and instance id."""

    def __init__(self, ground_label_fn, layout: "StreetLayout"):
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
        self.remission.append(_REMISSION[label] if remission is None else remission)

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


def raycast(scene: Scene, position, yaw: float, sensor: SensorConfig, rng: np.random.Generator):
    """Cast one revolution from ``position`` (sensor origin, world frame) with heading ``yaw``.

    Returns:
        points (np.ndarray[N, 4] float32): x, y, z in the sensor frame and remission in [0, 1).
        labels (np.ndarray[N] uint32): ``instance << 16 | raw semantic id``.
    """
    o = np.asarray(position, dtype=np.float64)
    dirs_s = sensor.directions()
    cs, sn = math.cos(yaw), math.sin(yaw)
    dirs = np.stack(
        [cs * dirs_s[:, 0] - sn * dirs_s[:, 1], sn * dirs_s[:, 0] + cs * dirs_s[:, 1], dirs_s[:, 2]], 1
    )
    n_rays = len(dirs)
    depth = np.full(n_rays, np.inf)
    prim = np.full(n_rays, -1, dtype=np.int64)

    with np.errstate(divide="ignore"):
        t_ground = np.where(dirs[:, 2] < 0, -o[2] / dirs[:, 2], np.inf)
    depth = np.minimum(depth, t_ground)

    elevations = sensor.elevations()
    n_az = sensor.azimuth_steps
    az_step = 2 * np.pi / n_az
    spheres = np.asarray(scene.sphere, dtype=np.float64).reshape(-1, 4)
    rel = spheres[:, :3] - o
    dist = np.linalg.norm(rel, axis=1)
    dxy = np.hypot(rel[:, 0], rel[:, 1])
    for i in np.flatnonzero(dist - spheres[:, 3] < sensor.max_range):
        radius = spheres[i, 3]
        if dxy[i] > radius:
            center_az = math.atan2(rel[i, 1], rel[i, 0]) - yaw
            half = math.asin(radius / dxy[i]) + az_step
            a0 = math.floor((center_az - half + np.pi) / az_step)
            a1 = math.ceil((center_az + half + np.pi) / az_step)
            az_idx = np.arange(a0, a1 + 1) % n_az
            center_el = math.atan2(rel[i, 2], dxy[i])
            half_el = math.asin(min(1.0, radius / dist[i])) + 0.01
            beam_idx = np.flatnonzero(np.abs(elevations - center_el) <= half_el)
        else:
            az_idx = np.arange(n_az)
            beam_idx = np.arange(len(elevations))
        if len(beam_idx) == 0:
            continue
        rays = (beam_idx[:, None] * n_az + az_idx[None, :]).ravel()
        t = _HIT[scene.kind[i]](o, dirs[rays], scene.params[i])
        closer = t < depth[rays]
        depth[rays[closer]] = t[closer]
        prim[rays[closer]] = i

    valid = (depth >= sensor.min_range) & (depth <= sensor.max_range)
    # dropouts grow with range (weaker returns); depth is inf for rays that hit nothing
    far = np.minimum(depth, sensor.max_range) / sensor.max_range
    valid &= rng.random(n_rays) >= sensor.dropout * (1 + 3 * far**2)
    rays = np.flatnonzero(valid)
    t = depth[rays]
    hit_prim = prim[rays]
    on_ground = hit_prim < 0
    semantic = np.empty(len(rays), dtype=np.int64)
    instance = np.zeros(len(rays), dtype=np.int64)
    remission = np.empty(len(rays), dtype=np.float64)
    labels_arr = np.asarray(scene.label, dtype=np.int64)
    inst_arr = np.asarray(scene.instance, dtype=np.int64)
    rem_arr = np.asarray(scene.remission, dtype=np.float64)
    obj = ~on_ground
    semantic[obj] = labels_arr[hit_prim[obj]]
    instance[obj] = inst_arr[hit_prim[obj]]
    remission[obj] = rem_arr[hit_prim[obj]]
    hit = o + dirs[rays] * t[:, None]
    ground_sem = scene.ground_label_fn(hit[on_ground, 0], hit[on_ground, 1])
    semantic[on_ground] = ground_sem
    # Lambertian falloff on the ground: grazing rays return less energy.
    incidence = np.abs(dirs[rays[on_ground], 2])
    base = np.array([_REMISSION[int(s)] for s in np.unique(ground_sem)])
    remission[on_ground] = base[np.searchsorted(np.unique(ground_sem), ground_sem)] * (
        0.55 + 0.45 * np.sqrt(incidence)
    )
    remission = np.clip(remission + rng.normal(0, 0.04, len(rays)), 0.0, 0.99)

    t_noisy = t + rng.normal(0, sensor.range_noise, len(rays))
    outlier = rng.random(len(rays)) < sensor.outlier_rate
    t_noisy[outlier] = rng.uniform(sensor.min_range, t[outlier])
    semantic[outlier] = OUTLIER
    instance[outlier] = 0
    xyz = dirs_s[rays] * t_noisy[:, None]
    points = np.concatenate([xyz, remission[:, None]], axis=1).astype(np.float32)
    labels = ((instance << 16) | semantic).astype(np.uint32)
    return points, labels


@dataclass
class StreetLayout:
    """Cross-section of a street along +x (metres, y > 0 is the left side)."""

    lane_half: float  # half width of the two driving lanes
    park_width: float  # parking strip beyond each lane
    sidewalk_width: float
    x0: float
    x1: float

    @property
    def curb(self) -> float:
        return self.lane_half + self.park_width


class _StreetBuilder:
    """Fills a ``Scene`` with a random street between x0 and x1."""

    def __init__(self, rng: np.random.Generator, layout: StreetLayout, keep_clear: tuple[float, float]):
        self.rng = rng
        self.lay = layout
        self.keep_clear = keep_clear  # ego lane x-interval the sensor drives through
        self.next_instance = 1
        self.parking: list[tuple[float, float, int]] = []  # (x0, x1, side)
        self.paint: list[tuple[float, float, float, float, int]] = []  # x0, x1, y0, y1, label
        self.scene = Scene(self.ground_label, layout)
        self.cross: tuple[float, float] | None = None  # (x centre, half width) of a cross street

    def instance(self) -> int:
        self.next_instance += 1
        return self.next_instance - 1

    def ground_label(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        lay = self.lay
        ay = np.abs(y)
        label = np.full(len(x), TERRAIN, dtype=np.int64)
        label[ay < lay.curb + lay.sidewalk_width] = OTHER_GROUND  # only visible in driveway gaps
        label[ay < lay.curb] = ROAD
        for x0, x1, side in self.parking:
            m = (x >= x0) & (x < x1) & (ay >= lay.lane_half) & (ay < lay.curb) & (np.sign(y) == side)
            label[m] = PARKING
        dash = (np.abs(y) < 0.08) & (np.mod(x, 9.0) < 3.0)
        edge = np.abs(ay - (lay.lane_half - 0.1)) < 0.07
        label[dash | edge] = LANE_MARKING
        for x0, x1, y0, y1, lab in self.paint:
            label[(x >= x0) & (x < x1) & (y >= y0) & (y < y1)] = lab
        if self.cross is not None:  # last: the cross street replaces whatever was painted there
            label[(np.abs(x - self.cross[0]) < self.cross[1]) & (ay >= lay.curb)] = ROAD
        return label

    def build(self, cross_range: tuple[float, float] | None = None) -> Scene:
        """Fill the scene; with ``cross_range`` a cross street is placed with its centre in it."""
        if cross_range is not None:
            self.cross = (self.rng.uniform(*cross_range), self.rng.uniform(4.0, 6.5))
        park_side = self.rng.choice([0, 1, -1], p=[0.6, 0.2, 0.2])
        for side in (1, -1):
            self._sidewalk(side)
            self._frontage(side, park=side == park_side)
            self._street_furniture(side)
            self._parked_vehicles(side)
        self._traffic()
        if self.cross is not None:
            self._clear_crossing()
            self._cross_street()
        return self.scene

    def _cross_zone(self) -> tuple[float, float]:
        xc, half = self.cross
        return xc - half - self.lay.sidewalk_width, xc + half + self.lay.sidewalk_width

    def _clear_crossing(self) -> None:
        """Remove roadside objects (whole instances) standing in the cross street's corridor."""
        z0, z1 = self._cross_zone()
        span = np.asarray(self.scene.xspan)
        center_y = np.abs(np.asarray(self.scene.sphere)[:, 1])
        inst = np.asarray(self.scene.instance)
        drop = (center_y > self.lay.lane_half) & (span[:, 1] > z0) & (span[:, 0] < z1)
        drop |= np.isin(inst, inst[drop & (inst > 0)]) & (inst > 0)
        self.scene.keep(~drop)

    def _cross_street(self) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        xc, half = self.cross
        sw = lay.sidewalk_width
        far = lay.x1 - lay.x0
        for sx in (-1, 1):
            x_walk = xc + sx * (half + sw / 2)
            for side in (-1, 1):
                scene.add_box((x_walk, side * (lay.curb + far / 2), 0.075), (sw, far, 0.15), label=SIDEWALK)
                corner_y = side * (lay.curb + 0.5)
                scene.add_cylinder(xc + sx * (half + 0.5), corner_y, 0.0, 2.3, 0.04, label=POLE)
                scene.add_box((xc + sx * (half + 0.5), corner_y, 2.65), (0.7, 0.04, 0.7), label=TRAFFIC_SIGN)
                y = lay.curb + sw + rng.uniform(0.5, 3.0)
                while y < far:
                    length, depth, height = rng.uniform(10, 25), rng.uniform(9, 16), rng.uniform(5, 20)
                    if rng.random() < 0.75:
                        x_face = xc + sx * (half + sw + rng.uniform(0.0, 4.0))
                        center = (x_face + sx * depth / 2, side * (y + length / 2), height / 2)
                        scene.add_box(
                            center,
                            (depth, length, height),
                            rng.normal(0, 0.03),
                            BUILDING,
                            0,
                            rng.uniform(0.15, 0.5),
                        )
                    elif rng.random() < 0.8:
                        self._tree(xc + sx * (half + sw + rng.uniform(2, 6)), side * (y + length / 2))
                    y += length + rng.uniform(0, 5)
                for k in range(int(rng.integers(1, 5))):
                    self._tree(
                        xc + sx * (half + sw - 0.9), side * (lay.curb + sw + 4 + 9 * k + rng.uniform(0, 3))
                    )
                if rng.random() < 0.5:
                    y_car = side * (lay.curb + sw + rng.uniform(3, 25))
                    self._vehicle(
                        xc + sx * (half - 1.2), y_car, math.pi / 2 + rng.normal(0, 0.03), CAR, "car"
                    )

    def _sidewalk(self, side: int) -> None:
        lay, rng = self.lay, self.rng
        y_mid = side * (lay.curb + lay.sidewalk_width / 2)
        x = lay.x0
        while x < lay.x1:
            length = rng.uniform(25, 70)
            end = min(x + length, lay.x1)
            pieces = [(x, end)]
            if self.cross is not None:
                z0, z1 = self._cross_zone()
                pieces = [(a, b) for a, b in ((x, min(end, z0)), (max(x, z1), end)) if b - a > 0.5]
            for a, b in pieces:
                self.scene.add_box(
                    ((a + b) / 2, y_mid, 0.075), (b - a, lay.sidewalk_width, 0.15), label=SIDEWALK
                )
            gap = rng.uniform(3, 6) if rng.random() < 0.5 else 0.0
            x = end + gap

    def _frontage(self, side: int, park: bool) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        front = lay.curb + lay.sidewalk_width
        x = lay.x0 + rng.uniform(-10, 0)
        while x < lay.x1:
            if park or rng.random() < 0.3:  # a gap: lawn with trees and bushes behind a fence
                length = rng.uniform(10, 30)
                fence_y = side * (front + rng.uniform(0.3, 1.5))
                if rng.random() < 0.7:
                    h = rng.uniform(1.0, 1.8)
                    scene.add_box((x + length / 2, fence_y, h / 2), (length, 0.06, h), label=FENCE)
                for _ in range(rng.poisson(length / 5)):
                    self._tree(x + rng.uniform(0, length), side * (front + rng.uniform(3, 18)))
                for _ in range(rng.poisson(length / 6)):
                    r = rng.uniform(0.6, 1.5)
                    scene.add_ellipsoid(
                        (x + rng.uniform(0, length), side * (front + rng.uniform(2, 8)), r * 0.5),
                        (r, r, r * 0.8),
                    )
                x += length
                continue
            length = rng.uniform(10, 32)
            setback = rng.uniform(0.0, 9.0)
            depth = rng.uniform(9, 18)
            height = rng.uniform(5, 22)
            yaw = rng.normal(0, 0.03)
            y_face = side * (front + setback)
            rem = rng.uniform(0.15, 0.5)
            scene.add_box(
                (x + length / 2, y_face + side * depth / 2, height / 2),
                (length, depth, height),
                yaw,
                BUILDING,
                0,
                rem,
            )
            if rng.random() < 0.4:  # lower annex / shop front sticking out
                ah = rng.uniform(2.5, 4.5)
                al = length * rng.uniform(0.3, 0.8)
                scene.add_box(
                    (x + length / 2, y_face - side * 0.75, ah / 2), (al, 1.5, ah), yaw, BUILDING, 0, rem * 0.8
                )
            if setback > 2.0 and rng.random() < 0.3:  # paved forecourt
                y0, y1 = sorted((side * front, y_face))
                self.paint.append((x, x + length, y0, y1, OTHER_GROUND))
            elif setback > 1.5 and rng.random() < 0.6:  # hedge along the property line, a front-yard tree
                if setback > 4.0:
                    self._tree(x + rng.uniform(0.2, 0.8) * length, side * (front + setback / 2))
                h = rng.uniform(0.8, 2.0)
                scene.add_box(
                    (x + length / 2, side * (front + 0.6), h / 2), (length * 0.9, 0.9, h), label=VEGETATION
                )
            elif setback > 1.5:
                self.scene.add_ellipsoid(
                    (x + length / 2, side * (front + setback / 2), 0.5), (length / 2.2, setback / 2.5, 0.9)
                )
            x += length + (rng.uniform(1, 6) if rng.random() < 0.6 else 0.0)

    def _tree(self, x: float, y: float) -> None:
        rng, scene = self.rng, self.scene
        trunk_h = rng.uniform(1.8, 3.5)
        scene.add_cylinder(x, y, 0.0, trunk_h + 0.5, rng.uniform(0.12, 0.3), label=TRUNK)
        rh, rv = rng.uniform(2.0, 4.0), rng.uniform(2.0, 3.8)
        scene.add_ellipsoid((x, y, trunk_h + rv * 0.6), (rh, rh * rng.uniform(0.8, 1.2), rv))

    def _street_furniture(self, side: int) -> None:
        lay, rng, scene = self.lay, self.rng, self.scene
        edge = side * (lay.curb + 0.5)
        x = lay.x0 + rng.uniform(0, 10)
        while x < lay.x1:
            r = rng.random()
            if r < 0.65:
                self._tree(x, side * (lay.curb + lay.sidewalk_width - 0.9))
            elif r < 0.75:  # street light
                h = rng.uniform(6, 9)
                scene.add_cylinder(x, edge, 0.0, h, 0.1, label=POLE)
                scene.add_box((x, edge - side * 0.9, h - 0.1), (0.3, 1.8, 0.15), label=POLE)
            elif r < 0.84:  # traffic sign facing the traffic
                scene.add_cylinder(x, edge, 0.0, 2.3, 0.04, label=POLE)
                scene.add_box((x, edge, 2.65), (0.04, 0.7, 0.7), label=TRAFFIC_SIGN)
            elif r < 0.9:
                scene.add_box(
                    (x, side * (lay.curb + lay.sidewalk_width - 0.5), 0.55),
                    (0.6, 0.6, 1.1),
                    label=OTHER_OBJECT,
                )
            x += rng.uniform(5, 13)
        for _ in range(rng.poisson(2.5)):
            px = rng.uniform(lay.x0, lay.x1)
            py = side * (lay.curb + rng.uniform(0.5, lay.sidewalk_width - 0.3))
            self._person(px, py, 0.15)
        for _ in range(rng.poisson(1.5)):
            px = rng.uniform(lay.x0, lay.x1)
            py = side * (lay.curb + lay.sidewalk_width - 0.4)
            self._bicycle(px, py, 0.15, BICYCLE, self.instance())

    def _person(self, x: float, y: float, z: float, label: int = PERSON, instance: int | None = None) -> None:
        inst = self.instance() if instance is None else instance
        h = self.rng.uniform(1.55, 1.9)
        self.scene.add_cylinder(
            x, y, z, z + h - 0.25, self.rng.uniform(0.17, 0.24), label=label, instance=inst
        )
        self.scene.add_ellipsoid((x, y, z + h - 0.12), (0.11, 0.11, 0.13), label=label, instance=inst)

    def _bicycle(self, x: float, y: float, z: float, label: int, instance: int) -> None:
        scene = self.scene
        for dx in (-0.52, 0.52):
            scene.add_box((x + dx, y, z + 0.34), (0.66, 0.05, 0.66), label=label, instance=instance)
        scene.add_box((x, y, z + 0.7), (1.1, 0.06, 0.12), label=label, instance=instance)

    def _vehicle(self, x: float, y: float, yaw: float, label: int, kind: str) -> None:
        rng, scene = self.rng, self.scene
        inst = self.instance()
        cs, sn = math.cos(yaw), math.sin(yaw)

        def at(dx, dy, z):
            return (x + cs * dx - sn * dy, y + sn * dx + cs * dy, z)

        rem = rng.uniform(0.08, 0.6)
        if kind == "car":
            length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
            scene.add_box(at(0, 0, 0.75), (length, width, 0.8), yaw, label, inst, rem)
            scene.add_box(at(-0.2, 0, 1.38), (length * 0.55, width * 0.9, 0.5), yaw, label, inst, rem * 0.7)
            wheel_x = length / 2 - 0.75
        elif kind == "truck":
            length, width = rng.uniform(7, 10), 2.5
            scene.add_box(at(length / 2 - 1.1, 0, 1.6), (2.2, width, 2.4), yaw, label, inst, rem)
            scene.add_box(at(-1.1, 0, 2.0), (length - 2.4, width, 3.1), yaw, label, inst, rem)
            wheel_x = length / 2 - 1.0
        else:
            length, width = rng.uniform(9, 12), 2.55
            scene.add_box(at(0, 0, 1.85), (length, width, 3.0), yaw, label, inst, rem)
            wheel_x = length / 2 - 1.8
        for sx in (-1, 1):
            for sy in (-1, 1):
                scene.add_box(
                    at(sx * wheel_x, sy * (width / 2 - 0.12), 0.33),
                    (0.66, 0.24, 0.66),
                    yaw,
                    label,
                    inst,
                    0.05,
                )

    def _clear(self, x: float, y: float, length: float) -> bool:
        """False if a vehicle at (x, y) would sit in the sensor's own lane along its path."""
        lo, hi = self.keep_clear
        in_ego_lane = -self.lay.lane_half < y < 0
        return not (in_ego_lane and lo - length - 8 < x < hi + length + 8)

    def _parked_vehicles(self, side: int) -> None:
        lay, rng = self.lay, self.rng
        y = side * (lay.lane_half + 0.3 + lay.park_width / 2)
        x = lay.x0
        while x < lay.x1:
            seg = rng.uniform(15, 45)
            if rng.random() < 0.35:
                self.parking.append((x, x + seg, side))
                cx = x + rng.uniform(0.5, 3)
                while cx < x + seg - 4:
                    r = rng.random()
                    kind, label, length = ("car", CAR, 5.0) if r < 0.96 else ("truck", TRUCK, 9.0)
                    if rng.random() < 0.5:
                        yaw = (0.0 if side < 0 else math.pi) + rng.normal(0, 0.04)
                        self._vehicle(cx + length / 2, y + rng.normal(0, 0.1), yaw, label, kind)
                    cx += length + rng.uniform(0.6, 3.0)
            x += seg + rng.uniform(0, 10)

    def _traffic(self) -> None:
        lay, rng = self.lay, self.rng
        for lane_y, heading in ((-lay.lane_half / 2, 0.0), (lay.lane_half / 2, math.pi)):
            x = lay.x0 + rng.uniform(0, 20)
            while x < lay.x1:
                r = rng.random()
                if r < 0.88:
                    kind, label, length = "car", (MOVING_CAR if rng.random() < 0.6 else CAR), 5.0
                elif r < 0.94:
                    kind, label, length = "truck", TRUCK, 9.0
                else:
                    kind, label, length = "bus", OTHER_VEHICLE, 11.0
                if self._clear(x, lane_y, length):
                    self._vehicle(x, lane_y + rng.normal(0, 0.2), heading + rng.normal(0, 0.02), label, kind)
                x += length + rng.uniform(20, 80)
        for _ in range(rng.poisson(1.2)):
            side = rng.choice([-1, 1])
            y = side * (lay.lane_half - 0.6)
            x = rng.uniform(lay.x0, lay.x1)
            if self._clear(x, y, 2.0):
                inst = self.instance()
                self._bicycle(x, y, 0.0, BICYCLIST, inst)
                self._person(x - 0.1, y, 0.75, BICYCLIST, inst)


def make_street(
    rng: np.random.Generator,
    x0: float,
    x1: float,
    keep_clear: tuple[float, float],
    cross_prob: float = 0.6,
) -> Scene:
    """A random street scene along x in [x0, x1]; vehicles avoid the ego lane over ``keep_clear``.

    With probability ``cross_prob`` a perpendicular street crosses within 30 m of the ego path.
    """
    layout = StreetLayout(
        lane_half=rng.uniform(3.3, 4.5),
        park_width=rng.uniform(2.4, 3.0),
        sidewalk_width=rng.uniform(2.0, 4.0),
        x0=x0,
        x1=x1,
    )
    cross = (keep_clear[0] - 30, keep_clear[1] + 30) if rng.random() < cross_prob else None
    return _StreetBuilder(rng, layout, keep_clear).build(cross)


def generate_sequence(seed: int, num_scans: int, sensor: SensorConfig, step: float = 2.5):
    """Scans of one drive down a random street.

    Returns a list of ``num_scans`` (points (N,4) float32, labels (N,) uint32) pairs in the sensor
    frame; scan i is taken ``i * step`` metres further along the street.
    """
    if num_scans < 1:
        raise ValueError(f"num_scans must be >= 1, got {num_scans}")
    rng = np.random.default_rng(seed)
    travel = (num_scans - 1) * step
    margin = sensor.max_range + 15
    scene = make_street(rng, -margin, travel + margin, keep_clear=(-1.0, travel + 1.0))
    lane_y = -scene.layout.lane_half / 2
    scans = []
    for i in range(num_scans):
        position = (i * step + rng.normal(0, 0.1), lane_y + rng.normal(0, 0.15), sensor.height)
        scans.append(raycast(scene, position, rng.normal(0, 0.02), sensor, rng))
    return scans


def write_semantic_kitti(
    out_dir: str,
    sequences: dict[str, int],
    sensor: SensorConfig | None = None,
    seed: int = 0,
    step: float = 2.5,
    with_labels: bool = True,
) -> dict[str, int]:
    """Write ``{sequence id: number of scans}`` under ``out_dir/dataset/sequences`` in KITTI format.

    Returns ``{"scans": ..., "points": ...}`` totals. Sequence ``SS`` uses seed ``(seed, SS)``, so a
    sequence does not change when others are added.
    """
    sensor = sensor or SensorConfig()
    total_scans = total_points = 0
    for seq, num_scans in sequences.items():
        seq = f"{int(seq):02d}"
        scans = generate_sequence(
            int(np.random.SeedSequence([seed, int(seq)]).generate_state(1)[0]), num_scans, sensor, step
        )
        seq_dir = os.path.join(out_dir, "dataset", "sequences", seq)
        os.makedirs(os.path.join(seq_dir, "velodyne"), exist_ok=True)
        if with_labels:
            os.makedirs(os.path.join(seq_dir, "labels"), exist_ok=True)
        for i, (points, labels) in enumerate(scans):
            points.tofile(os.path.join(seq_dir, "velodyne", f"{i:06d}.bin"))
            if with_labels:
                labels.tofile(os.path.join(seq_dir, "labels", f"{i:06d}.label"))
            total_scans += 1
            total_points += len(points)
    return {"scans": total_scans, "points": total_points}
