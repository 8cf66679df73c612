"""Checks that turn unusable input into a ValueError naming the file and the problem.

Used by ``DefaultDataset.load`` on every sample (``validate_points``) and by the format readers on
each file they read. Every check is one vectorised pass over an array; the slower diagnosis (how
many rows, which row first) runs only once a check has failed.

Invariants of a sample that passed ``validate_points``: ``coord`` is (N, 3) with N > 0, every
coordinate is finite with ``|value| <= COORD_LIMIT``, every floating-point array of the sample is
finite, and every per-point key (``POINT_KEYS``) has N rows.
"""

import os
from collections.abc import Callable

import numpy as np

from .transform import POINT_KEYS

# Largest plausible |coordinate| in metres. LiDAR returns end within a few hundred metres of the
# sensor and indoor scans within tens; Waymo/nuScenes/ScanNet frames are sensor- or scene-centred,
# so a value beyond 100 km is a corrupt or misread file (or one not in metres), not a scan.
COORD_LIMIT = 1e5


def check_regular_file(path: str, what: str) -> None:
    """Raise ValueError unless ``path`` is an existing regular file; ``what`` names its role."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a {what}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: {what} not found")


def check_finite(array: np.ndarray, source: str, column: str) -> None:
    """Raise ValueError naming ``source`` and ``column`` if ``array`` holds NaN or Inf.

    Integer and boolean arrays are always finite and return at once.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1) if array.ndim else np.array([True])
    raise ValueError(
        f"{source}: {int(bad.sum())} points with NaN/Inf {column} (of {len(bad)}, first at row "
        f"{int(np.flatnonzero(bad)[0])})"
    )


def check_coord(coord: np.ndarray, source: str) -> None:
    """Raise ValueError naming ``source`` unless every coordinate is finite and within ``COORD_LIMIT``."""
    if len(coord) == 0 or (-COORD_LIMIT <= coord.min() and coord.max() <= COORD_LIMIT):
        return  # min/max propagate NaN, which fails both comparisons: two reductions check all
    check_finite(coord, source, "coordinates")
    bad = ~(np.abs(coord) <= COORD_LIMIT).all(axis=1)
    first = int(np.flatnonzero(bad)[0])
    raise ValueError(
        f"{source}: {int(bad.sum())} points with a coordinate beyond +-{COORD_LIMIT:g} m (of {len(coord)}, "
        f"first at row {first}: ({', '.join(f'{v:.6g}' for v in coord[first])})); no scan reaches that far, so the "
        "file is corrupt, misread or not in metres"
    )


def validate_points(data: dict, source: str, column_source: Callable[[str], str] | None = None) -> None:
    """Raise ValueError if a loaded sample is unusable (see the module docstring for what passes).

    Args:
        data: the sample dict of numpy arrays.
        source: the sample's file, named in messages.
        column_source: ``key -> file (and column)`` that array ``key`` came from, for messages about
            one array; default ``source`` for every key.
    """
    where = column_source or (lambda key: source)
    coord = data.get("coord")
    if coord is None:
        raise ValueError(f"{source}: sample has no 'coord'")
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"{where('coord')}: coord must have shape (N, 3), got {tuple(coord.shape)}")
    if len(coord) == 0:
        raise ValueError(f"{where('coord')}: empty point cloud (0 points)")
    check_coord(coord, where("coord"))
    for key, value in data.items():
        if key != "coord" and isinstance(value, np.ndarray):
            check_finite(value, where(key), f"'{key}'")
    for key in POINT_KEYS:
        if key in data and len(data[key]) != len(coord):
            raise ValueError(f"{source}: '{key}' has {len(data[key])} rows but there are {len(coord)} points")
