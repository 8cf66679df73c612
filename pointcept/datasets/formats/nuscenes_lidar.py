"""nuScenes lidar files and the pose algebra that brings sweeps into a keyframe.

On disk: ``*.pcd.bin`` is float32 (N, 5) = x, y, z, intensity (0..255), ring index; a lidarseg
``*_lidarseg.bin`` is uint8 (N,) with one raw class id (0..31) per point of the keyframe. Poses in the
devkit tables are a translation (metres) and a unit quaternion ``[w, x, y, z]``.
"""

import os
from collections.abc import Sequence

import numpy as np

from ..validation import COORD_LIMIT, check_coord, check_finite, check_regular_file

PCD_BIN_COLUMNS = 5
INTENSITY_MAX = 255.0


def read_pcd_bin(path: str) -> np.ndarray:
    """Read a nuScenes lidar ``.pcd.bin`` (keyframe or sweep) and check it is one.

    A file in another layout (e.g. 4 float32 columns) whose size happens to divide by 20 bytes
    reads without error but with columns shifted: values of x, y and z land in the intensity
    column. So beyond the size, every value must be finite, coordinates within ``COORD_LIMIT``
    and intensities within 0..255; for a shifted real scan the negative coordinates alone break
    the last rule.

    Returns:
        np.ndarray[N, 5] float32: x, y, z, intensity, ring.

    Raises:
        ValueError naming the file: missing, a directory, empty, truncated or another column count
        (size not a multiple of 20 bytes), NaN/Inf values, implausible coordinates, or intensities
        outside 0..255.
    """
    check_regular_file(path, "nuScenes lidar file (.pcd.bin)")
    size = os.path.getsize(path)
    row = 4 * PCD_BIN_COLUMNS
    if size == 0:
        raise ValueError(f"{path}: empty point cloud")
    if size % row:
        fits = [c for c in (3, 4, 6) if size % (4 * c) == 0]
        hint = f"; the size fits rows of {' or '.join(map(str, fits))} float32" if fits else ""
        raise ValueError(
            f"{path}: truncated or not {PCD_BIN_COLUMNS} float32 columns per point (x, y, z, intensity, "
            f"ring): {size} bytes is not a multiple of {row}{hint}"
        )
    points = np.fromfile(path, dtype=np.float32).reshape(-1, PCD_BIN_COLUMNS)
    # Fast path on the contiguous array (NaN fails both comparisons); the column checks run only
    # when some value is non-finite or beyond COORD_LIMIT.
    if not (-COORD_LIMIT <= points.min() and points.max() <= COORD_LIMIT):
        check_coord(points[:, :3], path)
        check_finite(points[:, 3:], path, "intensity/ring")
    intensity = points[:, 3]
    if intensity.min() < 0 or intensity.max() > INTENSITY_MAX:
        bad = (intensity < 0) | (intensity > INTENSITY_MAX)
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path}: {int(bad.sum())} points with intensity outside 0..{INTENSITY_MAX:g} (of {len(points)}, "
            f"first at row {first}: {float(intensity[first]):g}); a nuScenes .pcd.bin has "
            f"{PCD_BIN_COLUMNS} float32 columns (x, y, z, intensity, ring), this file has another column "
            "count or layout"
        )
    return points


def count_pcd_bin_points(path: str) -> int:
    """Number of points of a ``.pcd.bin`` from its size, without reading it."""
    return os.path.getsize(path) // (4 * PCD_BIN_COLUMNS)


def read_lidarseg(path: str, num_points: int, points_path: str | None = None) -> np.ndarray:
    """Read a lidarseg label file for a keyframe of ``num_points`` points.

    Args:
        points_path: the keyframe's ``.pcd.bin``, named in a count mismatch (with the column count
            at which its size would match the labels, if there is one).

    Returns:
        np.ndarray[N] uint8 raw class ids.

    Raises:
        ValueError: missing file or a directory, label/point count mismatch, or an id outside 0..31.
    """
    check_regular_file(path, "lidarseg label file")
    labels = np.fromfile(path, dtype=np.uint8)
    if len(labels) != num_points:
        msg = f"{path}: {len(labels)} labels for a scan of {num_points} points"
        if points_path is not None:
            msg += f" ({points_path}, {PCD_BIN_COLUMNS} float32 columns per point)"
            size = os.path.getsize(points_path)
            cols, rest = divmod(size, 4 * len(labels)) if len(labels) else (0, 1)
            if rest == 0 and 3 <= cols <= 8:
                msg += f"; at {cols} columns per point that file would hold {len(labels)} points"
        raise ValueError(msg)
    if len(labels) and labels.max() > 31:
        raise ValueError(f"{path}: raw lidarseg id {int(labels.max())} outside 0..31")
    return labels


def quaternion_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Rotation matrix (3, 3) float64 of a quaternion ``[w, x, y, z]`` (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (4,):
        raise ValueError(f"quaternion must have 4 values [w, x, y, z], got shape {q.shape}")
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-8:
        raise ValueError(f"quaternion {q.tolist()} has no valid rotation (norm {norm})")
    w, x, y, z = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def pose_matrix(rotation: Sequence[float], translation: Sequence[float]) -> np.ndarray:
    """Homogeneous transform (4, 4) float64 from a quaternion ``[w, x, y, z]`` and a translation."""
    t = np.asarray(translation, dtype=np.float64)
    if t.shape != (3,):
        raise ValueError(f"translation must have 3 values, got shape {t.shape}")
    T = np.eye(4)
    T[:3, :3] = quaternion_to_matrix(rotation)
    T[:3, 3] = t
    return T


def invert_rigid(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (4, 4) without a general matrix inverse."""
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


def sweep_to_keyframe(
    sweep_ego_pose: np.ndarray,
    sweep_calib: np.ndarray,
    key_ego_pose: np.ndarray,
    key_calib: np.ndarray,
) -> np.ndarray:
    """Transform (4, 4) taking points from a sweep's lidar frame into the keyframe's lidar frame.

    Each pose is a (4, 4) matrix from ``pose_matrix``: ``*_calib`` = sensor -> ego (calibrated_sensor),
    ``*_ego_pose`` = ego -> global at that sample_data's timestamp. Chain: sweep lidar -> sweep ego ->
    global -> keyframe ego -> keyframe lidar.
    """
    return invert_rigid(key_calib) @ invert_rigid(key_ego_pose) @ sweep_ego_pose @ sweep_calib


def transform_points(xyz: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to (N, 3) points; float64 math, float32 result."""
    T = np.asarray(T, dtype=np.float64)
    return (xyz.astype(np.float64) @ T[:3, :3].T + T[:3, 3]).astype(np.float32)


def aggregate_sweeps(
    key_points: np.ndarray, sweeps: Sequence[tuple[np.ndarray, np.ndarray, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate a keyframe with earlier sweeps expressed in the keyframe's lidar frame.

    Args:
        key_points (np.ndarray[N0, 5] float32): keyframe from ``read_pcd_bin``.
        sweeps: ``(points (Ni, 5), transform (4, 4) sweep lidar -> keyframe lidar, time_lag seconds)``.

    Returns:
        coord (np.ndarray[N, 3] float32): keyframe points first, then each sweep's, in keyframe frame.
        intensity (np.ndarray[N] float32): raw intensity 0..255.
        time_lag (np.ndarray[N] float32): 0 for the keyframe, the sweep's lag (s) for its points.
    """
    coords = [key_points[:, :3]]
    intensity = [key_points[:, 3]]
    lags = [np.zeros(len(key_points), dtype=np.float32)]
    for points, T, lag in sweeps:
        coords.append(transform_points(points[:, :3], T))
        intensity.append(points[:, 3])
        lags.append(np.full(len(points), lag, dtype=np.float32))
    return (
        np.concatenate(coords).astype(np.float32, copy=False),
        np.concatenate(intensity).astype(np.float32, copy=False),
        np.concatenate(lags),
    )
