"""Pointcept's preprocessed per-scene layout: one folder per scan holding ``<asset>.npy`` arrays."""

import os
from collections.abc import Sequence

import numpy as np

from ..validation import check_coord


def load_scene_npy(
    folder: str,
    assets: Sequence[str],
    required: Sequence[str] = ("coord",),
    widths: dict[str, int | None] | None = None,
) -> dict[str, np.ndarray]:
    """Load and check the ``.npy`` files of one scan folder.

    Args:
        folder: the scan folder.
        assets: stems to load when present (e.g. ``("coord", "color", "normal", "segment20")``).
        required: stems that must exist.
        widths: per 2-D asset its column count (e.g. ``{"coord": 3}``), or None for any count;
            assets not listed are 1-D (labels), stored (N,) or (N, 1) and returned flat.

    Returns:
        dict stem -> array, every per-point array with the same first dimension N > 0.

    Raises:
        ValueError: naming the file for a missing required asset, a directory in place of an
        asset, an unreadable/corrupt file, a wrong shape, a length different from ``coord``, an
        empty scan, or NaN/Inf or implausibly large (``COORD_LIMIT``) coordinates. Other float
        assets are checked by ``validate_points``.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: scan folder not found")
    widths = widths or {}
    out = {}
    for stem in assets:
        path = os.path.join(folder, f"{stem}.npy")
        if os.path.isdir(path):
            raise ValueError(f"{path} is a directory, not a .npy file")
        if not os.path.isfile(path):
            if stem in required:
                raise ValueError(f"{path}: required file missing")
            continue
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"{path}: cannot read .npy ({e})") from e
        if stem not in widths:
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                raise ValueError(f"{path}: expected shape (N,), got {arr.shape}")
        elif arr.ndim != 2 or (widths[stem] is not None and arr.shape[1] != widths[stem]):
            raise ValueError(f"{path}: expected shape (N, {widths[stem] or 'C'}), got {arr.shape}")
        out[stem] = arr
    n = len(out["coord"]) if "coord" in out else None
    if n == 0:
        raise ValueError(f"{os.path.join(folder, 'coord.npy')}: empty point cloud")
    for stem, arr in out.items():
        if n is not None and len(arr) != n:
            raise ValueError(
                f"{os.path.join(folder, stem + '.npy')}: {len(arr)} rows for a scan of {n} points"
            )
    if "coord" in out:
        check_coord(out["coord"], os.path.join(folder, "coord.npy"))
    return out


def check_label_range(segment: np.ndarray, num_classes: int, path: str) -> np.ndarray:
    """Return ``segment`` as int64 after checking every value is -1 or a class in ``0..num_classes-1``."""
    segment = segment.astype(np.int64, copy=False)
    bad = (segment < -1) | (segment >= num_classes)
    if bad.any():
        raise ValueError(
            f"{path}: label {int(segment[bad][0])} outside -1..{num_classes - 1} ({int(bad.sum())} points)"
        )
    return segment
