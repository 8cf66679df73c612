"""Point cloud transforms: each is a callable ``dict -> dict`` registered in ``TRANSFORMS``.

A sample is a dict of per-point numpy arrays (``coord`` (N,3) float32, ``strength`` (N,1) float32,
``segment`` (N,) int64, ...) plus non-per-point entries (``name``). Which keys are per-point is
declared once, in ``POINT_KEYS``: every transform that subsamples or permutes points goes through
``index_points``, which applies the same row index to all of them (and checks that they all have N
rows). Readers with extra per-point arrays call ``register_point_key`` once at import.

Boxes (``gt_boxes`` (M, 9), ``gt_labels``, ``gt_num_points``; convention in ``boxes.py``) are
per-box arrays, declared in ``BOX_KEYS``: every transform that moves points moves the boxes with
them (rotation about z, flip, isotropic scale, CenterShift/RandomShift; jitter leaves them), crops drop the boxes
whose centre leaves the kept region (``index_boxes``), and ``index_points`` recomputes
``gt_num_points`` from the kept points (``RandomJitter`` recounts too: it moves points across
faces; rigid moves keep the counts). Transforms that boxes cannot follow (tilt about x/y,
anisotropic scale) raise ValueError when a sample has boxes. Without boxes nothing changes.

Transforms before ``ToTensor`` work on numpy arrays. Randomness: every random transform draws from a
fresh ``np.random.Generator`` seeded from the *global* numpy RNG (``_rng``), so a pipeline is
reproducible given ``np.random.seed(...)``; the engine seeds numpy in every DataLoader worker.
"""

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from pointcept.utils.registry import build_from_cfg

from .boxes import count_points_in_boxes, flip_boxes, rotate_boxes, scale_boxes, translate_boxes
from .builder import TRANSFORMS

POINT_KEYS: list[str] = [
    "coord",
    "origin_coord",
    "grid_coord",
    "strength",
    "color",
    "normal",
    "segment",
    "instance",
    "index",
    "mask",
    "feat",
]

BOX_KEYS: list[str] = ["gt_boxes", "gt_labels", "gt_num_points"]

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


def register_point_key(key: str) -> None:
    """Declare ``key`` as a per-point array so that subsampling transforms index it too."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"point key must be a non-empty string, got {key!r}")
    if key not in POINT_KEYS:
        POINT_KEYS.append(key)


def register_box_key(key: str) -> None:
    """Declare ``key`` as a per-box array (one row per ``gt_boxes`` row) so that crops index it too."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"box key must be a non-empty string, got {key!r}")
    if key not in BOX_KEYS:
        BOX_KEYS.append(key)


def index_boxes(data: dict, idx: np.ndarray) -> dict:
    """Return a shallow copy of ``data`` whose per-box arrays (``BOX_KEYS``) are ``array[idx]``.

    data: a sample with ``gt_boxes`` (M, 9); idx (ndarray int64 or bool[M]): boxes to keep. Raises
    ValueError if a per-box array does not have M rows.
    """
    return _index_rows(data, BOX_KEYS, idx, "gt_boxes", "per-box")


def _index_rows(data: dict, keys, idx: np.ndarray, count_key: str, kind: str) -> dict:
    """A shallow copy of ``data`` with ``array[idx]`` for each of ``keys`` present; each must have as
    many rows as ``data[count_key]`` (else ValueError naming the key)."""
    n = len(data[count_key])
    out = dict(data)
    for key in keys:
        if key not in data:
            continue
        value = data[key]
        if len(value) != n:
            raise ValueError(f"{kind} key '{key}' has {len(value)} rows but {count_key} has {n}")
        out[key] = value[torch.as_tensor(idx)] if isinstance(value, torch.Tensor) else value[idx]
    return out


def _recount_box_points(data: dict) -> None:
    """Set ``gt_num_points`` to the number of ``coord`` rows inside each box (numpy or tensors)."""
    coord, boxes = data["coord"], data["gt_boxes"]
    if isinstance(boxes, torch.Tensor):
        counts = count_points_in_boxes(torch.as_tensor(coord).cpu().numpy(), boxes.cpu().numpy())
        data["gt_num_points"] = torch.from_numpy(counts).to(boxes.device)
    else:
        data["gt_num_points"] = count_points_in_boxes(np.asarray(coord), boxes)


def index_points(data: dict, idx: np.ndarray) -> dict:
    """Return a shallow copy of ``data`` whose per-point arrays are ``array[idx]``.

    data: a sample with ``coord`` (N,3); idx (ndarray[M] int64 or bool[N]): rows to keep, in order.
    Non-per-point entries are shared with ``data``. Raises ValueError if a per-point array does not
    have N rows (a reader or transform forgot to keep it aligned). With ``gt_boxes`` present, the
    copy's ``gt_num_points`` is recomputed from the kept points (boxes themselves are kept).
    """
    out = _index_rows(data, POINT_KEYS, idx, "coord", "per-point")
    if "gt_boxes" in data:
        _recount_box_points(out)
    return out


def _rng() -> np.random.Generator:
    """A Generator seeded from the global numpy RNG (reproducible under ``np.random.seed``)."""
    return np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))


class _Transform:
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


@TRANSFORMS.register_module()
class Compose(_Transform):
    """Apply transforms in order; each entry is a config dict (``type`` = class name) or a callable.

    If a transform returns a list of samples (``GridSample(mode="test")``), the remaining transforms
    are applied to each of them and a list is returned.
    """

    def __init__(self, transforms: Sequence[dict | Callable] | None = None):
        self.transforms = []
        for i, t in enumerate(transforms or []):
            if isinstance(t, dict):
                t = build_from_cfg(t, TRANSFORMS, where=f"transform[{i}]")
            elif not callable(t):
                raise TypeError(f"transform[{i}] must be a config dict or a callable, got {type(t).__name__}")
            self.transforms.append(t)

    def __call__(self, data: dict) -> dict | list[dict]:
        for i, t in enumerate(self.transforms):
            if isinstance(data, list):
                rest = Compose(self.transforms[i:])
                return [s for d in data for s in _as_list(rest(d))]
            data = t(data)
        return data


def _as_list(x: dict | list[dict]) -> list[dict]:
    return x if isinstance(x, list) else [x]


@TRANSFORMS.register_module()
class Copy(_Transform):
    """Copy entries: ``Copy(keys_dict={"coord": "origin_coord"})`` (the copy owns its memory)."""

    def __init__(self, keys_dict: dict[str, str]):
        if not isinstance(keys_dict, dict) or not keys_dict:
            raise ValueError(f"keys_dict must be a non-empty dict src -> dst, got {keys_dict!r}")
        self.keys_dict = dict(keys_dict)

    def __call__(self, data: dict) -> dict:
        for src, dst in self.keys_dict.items():
            if src not in data:
                raise ValueError(f"Copy: key '{src}' is not in the sample (keys: {sorted(data)})")
            value = data[src]
            data[dst] = value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
        return data


@TRANSFORMS.register_module()
class PointClip(_Transform):
    """Drop (not clamp) points outside ``point_cloud_range = (x_min, y_min, z_min, x_max, y_max, z_max)``.

    Bounds are inclusive. Raises ValueError if no point is left, since that is a configuration error.
    Boxes whose centre is outside the range are dropped.
    """

    def __init__(self, point_cloud_range: Sequence[float] = (-51.2, -51.2, -4.0, 51.2, 51.2, 2.4)):
        rng = np.asarray(point_cloud_range, dtype=np.float64)
        if rng.shape != (6,) or np.any(rng[:3] >= rng[3:]):
            raise ValueError(
                f"point_cloud_range must be (x0, y0, z0, x1, y1, z1) with min < max, got {point_cloud_range}"
            )
        self.point_cloud_range = tuple(float(v) for v in rng)

    def __call__(self, data: dict) -> dict:
        lo, hi = np.array(self.point_cloud_range[:3]), np.array(self.point_cloud_range[3:])
        coord = data["coord"]
        keep = np.all((coord >= lo) & (coord <= hi), axis=1)
        if not keep.any():
            raise ValueError(
                f"PointClip{self.point_cloud_range} removed all {len(coord)} points of {data.get('name', 'the sample')}"
            )
        if "gt_boxes" in data:
            centre = data["gt_boxes"][:, :3]
            data = index_boxes(data, np.flatnonzero(np.all((centre >= lo) & (centre <= hi), axis=1)))
        return index_points(data, np.flatnonzero(keep))


def _rotation_matrix(theta: float, axis: str) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _rotate(data: dict, theta: float, axis: str, center: Sequence[float] | None) -> dict:
    rot = _rotation_matrix(theta, axis).astype(np.float32)
    coord = data["coord"]
    if center is None:
        c = (coord.min(0) + coord.max(0)) / 2
    else:
        c = np.asarray(center, dtype=np.float32)
    data["coord"] = ((coord - c) @ rot.T + c).astype(np.float32)
    if "normal" in data:
        data["normal"] = (data["normal"] @ rot.T).astype(np.float32)
    if "gt_boxes" in data:
        data["gt_boxes"] = rotate_boxes(data["gt_boxes"], theta, c)
    return data


def _check_axis(axis: str) -> str:
    if axis not in ("x", "y", "z"):
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return axis


def _check_prob(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return float(p)


class _RandomRotation(_Transform):
    """With probability ``p``, rotate by ``self._draw(rng)`` *times pi* about ``axis`` through ``center``.

    ``center=None`` rotates about the bounding-box centre, as Pointcept does; (0, 0, 0) rotates about
    the sensor. ``coord``, ``normal`` and boxes (yaw and velocity) turn together; a rotation about x
    or y of a sample with boxes raises ValueError (boxes have no tilt).
    """

    def __init__(self, axis: str, center, p: float):
        self.axis = _check_axis(axis)
        self.center = center
        self.p = _check_prob(p)

    def _draw(self, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def __call__(self, data: dict) -> dict:
        if self.axis != "z" and "gt_boxes" in data:
            raise ValueError(
                f"{type(self).__name__}(axis={self.axis!r}) cannot move gt_boxes: boxes are upright (yaw "
                "only) and have no tilt; remove rotations about x/y from pipelines with boxes"
            )
        rng = _rng()
        if rng.random() >= self.p:
            return data
        return _rotate(data, self._draw(rng) * math.pi, self.axis, self.center)


@TRANSFORMS.register_module()
class RandomRotate(_RandomRotation):
    """With probability ``p`` rotate by an angle drawn uniformly from ``angle`` (units of pi)."""

    def __init__(self, angle: Sequence[float] = (-1.0, 1.0), axis: str = "z", center=None, p: float = 0.5):
        if len(angle) != 2 or angle[0] > angle[1]:
            raise ValueError(f"angle must be (low, high) in units of pi with low <= high, got {angle}")
        self.angle = (float(angle[0]), float(angle[1]))
        super().__init__(axis, center, p)

    def _draw(self, rng: np.random.Generator) -> float:
        return rng.uniform(*self.angle)


@TRANSFORMS.register_module()
class RandomRotateTargetAngle(_RandomRotation):
    """With probability ``p`` rotate by one angle picked from ``angle`` (units of pi); used for TTA."""

    def __init__(
        self, angle: Sequence[float] = (0.5, 1.0, 1.5), axis: str = "z", center=None, p: float = 1.0
    ):
        if len(angle) == 0:
            raise ValueError("angle must list at least one target angle (units of pi)")
        self.angle = tuple(float(a) for a in angle)
        super().__init__(axis, center, p)

    def _draw(self, rng: np.random.Generator) -> float:
        return self.angle[rng.integers(len(self.angle))]


@TRANSFORMS.register_module()
class RandomScale(_Transform):
    """Multiply ``coord`` by a factor drawn from ``scale`` (one per axis if ``anisotropic``).

    Boxes scale with the points (centres, sizes and velocities); an anisotropic scale of a sample
    with boxes raises ValueError (a yawed box scaled differently along x and y is no longer a box).
    """

    def __init__(self, scale: Sequence[float] = (0.95, 1.05), anisotropic: bool = False, p: float = 1.0):
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.anisotropic = bool(anisotropic)
        self.p = _check_prob(p)

    def __call__(self, data: dict) -> dict:
        if self.anisotropic and "gt_boxes" in data:
            raise ValueError("RandomScale(anisotropic=True) cannot scale gt_boxes; use an isotropic scale")
        rng = _rng()
        if rng.random() >= self.p:
            return data
        factor = rng.uniform(*self.scale, size=3 if self.anisotropic else 1)
        data["coord"] = (data["coord"] * factor).astype(np.float32)
        if "gt_boxes" in data:
            data["gt_boxes"] = scale_boxes(data["gt_boxes"], float(factor[0]))
        return data


@TRANSFORMS.register_module()
class RandomFlip(_Transform):
    """Mirror x and, independently, y, each with probability ``p`` (normals and boxes follow)."""

    def __init__(self, p: float = 0.5):
        self.p = _check_prob(p)

    def __call__(self, data: dict) -> dict:
        rng = _rng()
        for axis in (0, 1):
            if rng.random() < self.p:
                for key in ("coord", "normal"):
                    if key in data:
                        data[key] = data[key].copy()
                        data[key][:, axis] = -data[key][:, axis]
                if "gt_boxes" in data:
                    data["gt_boxes"] = flip_boxes(data["gt_boxes"], axis)
        return data


@TRANSFORMS.register_module()
class RandomJitter(_Transform):
    """Add Gaussian noise N(0, sigma^2), clipped to [-clip, clip], to every coordinate (boxes stay)."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05):
        if sigma <= 0 or clip <= 0:
            raise ValueError(f"sigma and clip must be > 0, got sigma={sigma}, clip={clip}")
        self.sigma = float(sigma)
        self.clip = float(clip)

    def __call__(self, data: dict) -> dict:
        noise = np.clip(self.sigma * _rng().standard_normal(data["coord"].shape), -self.clip, self.clip)
        data["coord"] = (data["coord"] + noise).astype(np.float32)
        if "gt_boxes" in data:
            _recount_box_points(data)  # points near a face may cross it
        return data


def _check_probability(name: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")
    return float(p)


@TRANSFORMS.register_module()
class ChromaticAutoContrast(_Transform):
    """With probability ``p``, blend ``color`` (N,3 in [0, 1]) with its per-channel min-max stretch.

    ``color = (1 - b) * color + b * (color - lo) / (hi - lo)``, ``lo``/``hi`` the per-channel extremes
    of the sample, ``b = blend_factor`` or ``U(0, 1)`` when None; channels with ``hi == lo`` are left
    alone. Samples without ``color`` pass through.
    """

    def __init__(self, p: float = 0.2, blend_factor: float | None = None):
        self.p = _check_probability("ChromaticAutoContrast", p)
        if blend_factor is not None and not 0.0 <= blend_factor <= 1.0:
            raise ValueError(f"ChromaticAutoContrast: blend_factor must be in [0, 1], got {blend_factor}")
        self.blend_factor = blend_factor

    def __call__(self, data: dict) -> dict:
        rng = _rng()
        if "color" not in data or len(data["color"]) == 0 or rng.random() >= self.p:
            return data
        color = data["color"].astype(np.float32)
        lo, hi = color.min(0), color.max(0)
        span = hi - lo
        stretched = np.where(span > 0, (color - lo) / np.where(span > 0, span, 1.0), color)
        blend = rng.random() if self.blend_factor is None else self.blend_factor
        data["color"] = np.clip((1 - blend) * color + blend * stretched, 0.0, 1.0).astype(np.float32)
        return data


class _ColourNoise(_Transform):
    """With probability ``p``, add ``self._noise(rng, shape)`` to ``color`` (in [0, 1]), clipped to [0, 1]."""

    def __init__(self, p: float, scale: float, scale_name: str):
        name = type(self).__name__
        self.p = _check_probability(name, p)
        if scale < 0:
            raise ValueError(f"{name}: {scale_name} must be >= 0, got {scale}")
        self.scale = float(scale)

    def _noise(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, data: dict) -> dict:
        rng = _rng()
        if "color" not in data or rng.random() >= self.p:
            return data
        data["color"] = np.clip(data["color"] + self._noise(rng, data["color"].shape), 0.0, 1.0).astype(
            np.float32
        )
        return data


@TRANSFORMS.register_module()
class ChromaticTranslation(_ColourNoise):
    """With probability ``p``, add one offset ``U(-ratio, ratio)`` per channel to ``color`` (in [0, 1]),
    clipped to [0, 1] (Pointcept's ``ChromaticTranslation`` on 0..1 colours)."""

    def __init__(self, p: float = 0.95, ratio: float = 0.05):
        super().__init__(p, ratio, "ratio")

    def _noise(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        return rng.uniform(-self.scale, self.scale, size=3)


@TRANSFORMS.register_module()
class ChromaticJitter(_ColourNoise):
    """With probability ``p``, add per-point Gaussian noise ``N(0, std^2)`` to every channel of
    ``color`` (in [0, 1]), clipped to [0, 1]."""

    def __init__(self, p: float = 0.95, std: float = 0.05):
        super().__init__(p, std, "std")

    def _noise(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        return rng.standard_normal(shape) * self.scale


@TRANSFORMS.register_module()
class CenterShift(_Transform):
    """Move the bounding-box centre of x, y to 0 and, if ``apply_z``, the lowest z to 0 (boxes follow)."""

    def __init__(self, apply_z: bool = True):
        self.apply_z = bool(apply_z)

    def __call__(self, data: dict) -> dict:
        coord = data["coord"]
        lo, hi = coord.min(0), coord.max(0)
        shift = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2] if self.apply_z else 0.0])
        data["coord"] = (coord - shift).astype(np.float32)
        if "gt_boxes" in data:
            data["gt_boxes"] = translate_boxes(data["gt_boxes"], -shift)
        return data


@TRANSFORMS.register_module()
class RandomShift(_Transform):
    """With probability ``p`` translate ``coord`` (and boxes) by a vector drawn per axis from ``shift``.

    ``shift`` = ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)) in metres, uniform per axis.
    """

    def __init__(
        self, shift: Sequence[Sequence[float]] = ((-0.2, 0.2), (-0.2, 0.2), (0.0, 0.0)), p: float = 1.0
    ):
        bounds = np.asarray(shift, dtype=np.float64)
        if bounds.shape != (3, 2) or np.any(bounds[:, 0] > bounds[:, 1]):
            raise ValueError(f"shift must be three (low, high) pairs with low <= high, got {shift}")
        self.shift = tuple((float(lo), float(hi)) for lo, hi in bounds)
        self.p = _check_prob(p)

    def __call__(self, data: dict) -> dict:
        rng = _rng()
        if rng.random() >= self.p:
            return data
        delta = np.array([rng.uniform(lo, hi) for lo, hi in self.shift])
        data["coord"] = (data["coord"] + delta).astype(np.float32)
        if "gt_boxes" in data:
            data["gt_boxes"] = translate_boxes(data["gt_boxes"], delta)
        return data


@TRANSFORMS.register_module()
class SphereCrop(_Transform):
    """Keep the ``point_max`` points nearest to a centre (all points if there are fewer).

    ``sample_rate`` (if given) replaces ``point_max`` by ceil(sample_rate * N). ``mode="random"``
    centres the crop on a random point, ``"center"`` on the bounding-box centre. Kept points stay
    in their original order. Boxes whose centre is farther from the crop centre than the farthest
    kept point are dropped.
    """

    def __init__(self, point_max: int = 80000, sample_rate: float | None = None, mode: str = "random"):
        if mode not in ("random", "center"):
            raise ValueError(f"mode must be 'random' or 'center', got {mode!r}")
        if sample_rate is None and point_max < 1:
            raise ValueError(f"point_max must be >= 1, got {point_max}")
        if sample_rate is not None and not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        self.point_max = int(point_max)
        self.sample_rate = sample_rate
        self.mode = mode

    def __call__(self, data: dict) -> dict:
        coord = data["coord"]
        n = len(coord)
        limit = math.ceil(self.sample_rate * n) if self.sample_rate is not None else self.point_max
        if n <= limit:
            return data
        if self.mode == "random":
            center = coord[_rng().integers(n)]
        else:
            center = (coord.min(0) + coord.max(0)) / 2
        dist = np.square(coord - center).sum(1)
        idx = np.sort(np.argpartition(dist, limit - 1)[:limit])
        if "gt_boxes" in data:
            box_dist = np.square(data["gt_boxes"][:, :3] - center).sum(1)
            data = index_boxes(data, np.flatnonzero(box_dist <= dist[idx].max()))
        return index_points(data, idx)


def _ravel_key(grid_coord: np.ndarray) -> np.ndarray:
    extent = grid_coord.max(0).astype(np.float64) + 1
    if np.prod(extent) >= 2**62:
        raise ValueError(
            f"GridSample: voxel grid of extent {extent.astype(np.int64).tolist()} is too large for "
            "hash_type='ravel'; use hash_type='fnv' or a larger grid_size"
        )
    ext = extent.astype(np.int64)
    return (grid_coord[:, 0] * ext[1] + grid_coord[:, 1]) * ext[2] + grid_coord[:, 2]


def _fnv_key(grid_coord: np.ndarray) -> np.ndarray:
    # 64-bit FNV-1a over the three components; unsigned overflow wraps by design.
    key = np.full(len(grid_coord), _FNV_OFFSET, dtype=np.uint64)
    for j in range(3):
        key = np.bitwise_xor(key, grid_coord[:, j].astype(np.uint64)) * _FNV_PRIME
    return key


@TRANSFORMS.register_module()
class GridSample(_Transform):
    """Voxelise ``coord`` on a grid of ``grid_size`` metres.

    ``grid_coord`` = floor(coord / grid_size) - its minimum (int64, >= 0). Voxels are identified by
    ``hash_type``: ``"ravel"`` (exact linear index, default) or ``"fnv"`` (64-bit FNV-1a hash, for
    huge extents; collisions are possible in principle).

    * ``mode="train"``: keep one uniformly random point per voxel (output ordered by voxel key).
      ``return_inverse`` adds ``inverse`` (N_in,) int64: the kept row of each input point's voxel.
    * ``mode="test"``: return a *list* of fragments; fragment k takes, from every voxel, its
      (k mod count)-th point, so there are max(count) fragments and together they cover every input
      point. Each fragment carries ``index`` (M,) int64: its rows in the input of this transform,
      or, if the input already had a per-point ``index``, that index composed through (so a dataset
      that seeds ``index = arange(N_full)`` gets full-resolution rows).

    ``coord`` is not moved, so boxes are kept as they are; ``gt_num_points`` is recomputed per
    output (see ``index_points``).
    """

    def __init__(
        self,
        grid_size: float = 0.05,
        hash_type: str = "ravel",
        mode: str = "train",
        return_grid_coord: bool = True,
        return_inverse: bool = False,
    ):
        if not grid_size > 0:
            raise ValueError(f"grid_size must be > 0, got {grid_size}")
        if hash_type not in ("ravel", "fnv"):
            raise ValueError(f"hash_type must be 'ravel' or 'fnv', got {hash_type!r}")
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.grid_size = float(grid_size)
        self.hash_type = hash_type
        self.mode = mode
        self.return_grid_coord = bool(return_grid_coord)
        self.return_inverse = bool(return_inverse)

    def __call__(self, data: dict) -> dict | list[dict]:
        coord = data["coord"]
        n = len(coord)
        if n == 0:
            raise ValueError(f"GridSample: sample {data.get('name', '')!r} has no points")
        grid = np.floor(coord / self.grid_size).astype(np.int64)
        grid_coord = grid - grid.min(0)
        key = _ravel_key(grid_coord) if self.hash_type == "ravel" else _fnv_key(grid_coord)
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        is_first = np.ones(n, dtype=bool)
        is_first[1:] = key_sorted[1:] != key_sorted[:-1]
        start = np.flatnonzero(is_first)
        count = np.diff(np.append(start, n))
        if self.mode == "train":
            pick = start + (_rng().random(len(start)) * count).astype(np.int64)
            out = self._take(data, order[pick], grid_coord)
            if self.return_inverse:
                inverse = np.empty(n, dtype=np.int64)
                inverse[order] = np.cumsum(is_first) - 1
                out["inverse"] = inverse
            return out
        fragments = []
        for k in range(int(count.max())):
            idx = order[start + k % count]
            frag = self._take(data, idx, grid_coord)
            if "index" not in data:
                frag["index"] = idx
            fragments.append(frag)
        return fragments

    def _take(self, data: dict, idx: np.ndarray, grid_coord: np.ndarray) -> dict:
        out = index_points(data, idx)
        if self.return_grid_coord:
            out["grid_coord"] = grid_coord[idx]
        return out


def _to_tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return torch.from_numpy(value.copy())
        if np.issubdtype(value.dtype, np.integer):
            return torch.from_numpy(value.astype(np.int64))
        if np.issubdtype(value.dtype, np.floating):
            return torch.from_numpy(value.astype(np.float32))
        return value
    if isinstance(value, dict):
        return {k: _to_tensor(v) for k, v in value.items()}
    return value


@TRANSFORMS.register_module()
class ToTensor(_Transform):
    """numpy -> torch: integer arrays to int64, floating arrays to float32, bool stays bool.

    Nested dicts are converted recursively; strings, numbers and lists are left as they are.
    """

    def __call__(self, data: dict) -> dict:
        return _to_tensor(data)


@TRANSFORMS.register_module()
class Collect(_Transform):
    """Keep ``keys`` (plus ``name`` when present) and assemble ``feat`` from ``feat_keys``.

    ``feat`` (N, C) float32 is the concatenation along channels of ``feat_keys`` in order (1-D
    arrays count as one channel), e.g. ``("coord", "strength")`` -> (N, 4). ``offset_keys_dict``
    (e.g. ``{"offset": "coord"}``) writes per-sample ``[len(data[src])]`` offsets; without it,
    ``collate_fn`` adds ``offset`` from ``coord``. Works on numpy arrays and tensors.
    """

    def __init__(
        self,
        keys: Sequence[str],
        feat_keys: Sequence[str] | None = None,
        offset_keys_dict: dict[str, str] | None = None,
    ):
        if isinstance(keys, str):
            keys = (keys,)
        self.keys = tuple(keys)
        self.feat_keys = tuple(feat_keys) if feat_keys else ()
        self.offset_keys_dict = dict(offset_keys_dict or {})

    def __call__(self, data: dict) -> dict:
        missing = [k for k in (*self.keys, *self.feat_keys, *self.offset_keys_dict.values()) if k not in data]
        if missing:
            raise ValueError(f"Collect: key(s) {missing} not in the sample (keys: {sorted(data)})")
        out = {k: data[k] for k in self.keys}
        if "name" in data:
            out["name"] = data["name"]
        if self.feat_keys:
            parts = [data[k] for k in self.feat_keys]
            n = len(parts[0])
            if isinstance(parts[0], torch.Tensor):
                out["feat"] = torch.cat([torch.as_tensor(p).reshape(n, -1).float() for p in parts], dim=1)
            else:
                out["feat"] = np.concatenate(
                    [np.asarray(p).reshape(n, -1).astype(np.float32) for p in parts], axis=1
                )
        for dst, src in self.offset_keys_dict.items():
            length = len(data[src])
            out[dst] = torch.tensor([length]) if isinstance(data[src], torch.Tensor) else np.array([length])
        return out
