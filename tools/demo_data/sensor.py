"""The simulated spinning LiDAR and its ray casting into a ``Scene``.

Defaults model a Velodyne HDL-64E: 64 beams with elevations +2 .. -24.8 deg in two blocks, mounted
``height`` = 1.73 m above the ground. A revolution is cast analytically; ranges get Gaussian noise,
returns drop out more often with range, and a few spurious returns become "outlier" points.

Casting is vectorised per primitive: each primitive is tested only against the rays inside its
angular footprint (the azimuth and elevation window of its bounding sphere), and a depth buffer
keeps the nearest hit, which makes occlusion exact.
"""

import math
from dataclasses import dataclass

import numpy as np

from .materials import OUTLIER, REMISSION
from .scene import Scene


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
        t = scene.hit(i, o, dirs[rays])
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
    base = np.array([REMISSION[int(s)] for s in np.unique(ground_sem)])
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
