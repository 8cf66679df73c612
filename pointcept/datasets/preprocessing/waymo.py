"""Convert Waymo Open Dataset v1 frames (tfrecords) into Pointcept's per-frame ``.npy`` layout.

The geometry is plain numpy (``range_image_to_points``, ``convert_frame``) and follows the Waymo
devkit (``range_image_utils.extract_point_cloud_from_range_image``): row ``i`` of a range image has
inclination ``inclinations[::-1][i]`` (row 0 = highest beam), column ``j`` has azimuth
``((W - j - 0.5) / W * 2 - 1) * pi - atan2(R[1, 0], R[0, 0])`` of the lidar extrinsic ``R``; the point
``r * (cos az cos inc, sin az cos inc, sin inc)`` goes through the extrinsic into the vehicle frame.
Top-lidar pixels are additionally corrected for ego motion during the sweep: each pixel's own vehicle
pose (``range_image_top_pose``: roll, pitch, yaw, x, y, z) takes it to the world, and the inverse frame
pose brings it back to the frame's vehicle frame.

As in Pointcept, the points of a frame are the valid pixels (range > 0) of every lidar (sorted by
laser name: TOP, FRONT, SIDE_LEFT, SIDE_RIGHT, REAR) for the first return, then the same for the
second return; ``strength`` = tanh(intensity); ``segment`` = semantic type - 1 from the top lidar's
labels (the other lidars have none, so their points are -1 like TYPE_UNDEFINED).

Reading tfrecords needs ``tensorflow`` and ``waymo-open-dataset`` (imported lazily, only by
``convert_tfrecord``; install them in a separate environment, e.g. ``waymo-open-dataset-tf-2-12-0``).
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .waymo_labels import LABEL_FILES, LaserLabel, convert_laser_labels, laser_labels_from_proto

logger = logging.getLogger(__name__)

LASER_TOP = 1


@dataclass
class LidarScan:
    """One lidar of one frame, as numpy arrays.

    Attributes:
        name: Waymo ``LaserName`` (1 TOP, 2 FRONT, 3 SIDE_LEFT, 4 SIDE_RIGHT, 5 REAR).
        returns: range images of the first and second return, each (H, W, 4) float32 with channels
            range (m), intensity, elongation, is-in-no-label-zone.
        extrinsic: (4, 4) lidar -> vehicle transform.
        inclinations: (H,) per-beam inclinations (rad) in calibration order (ascending), or, with
            ``uniform_inclinations``, ``[min, max]`` of a lidar calibrated with evenly spaced beams.
        labels: per return (H, W, 2) int32 instance id and semantic type, or None if unlabelled.
    """

    name: int
    returns: Sequence[np.ndarray]
    extrinsic: np.ndarray
    inclinations: np.ndarray
    labels: Sequence[np.ndarray] | None = None
    uniform_inclinations: bool = False


def row_inclinations(inclinations: np.ndarray, height: int, uniform: bool) -> np.ndarray:
    """Inclination of each range-image row (H,), row 0 = highest beam.

    ``uniform``: ``inclinations`` is ``[min, max]`` and rows are spaced evenly at ``(i + 0.5) / H``.
    """
    inc = np.asarray(inclinations, dtype=np.float64)
    if uniform:
        if inc.shape != (2,):
            raise ValueError(f"uniform inclinations must be [min, max], got shape {inc.shape}")
        inc = inc[0] + (np.arange(height) + 0.5) / height * (inc[1] - inc[0])
    elif len(inc) != height:
        raise ValueError(f"{len(inc)} beam inclinations for a range image of height {height}")
    return inc[::-1]


def rotation_from_rpy(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (Waymo's convention)."""
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    return np.stack(
        [
            np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
            np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
            np.stack([-sp, cp * sr, cp * cr], -1),
        ],
        -2,
    )


def pixel_poses(top_pose: np.ndarray) -> np.ndarray:
    """(H, W, 4, 4) vehicle -> world transforms from ``range_image_top_pose`` (H, W, 6)."""
    T = np.zeros(top_pose.shape[:2] + (4, 4))
    T[..., :3, :3] = rotation_from_rpy(top_pose[..., 0], top_pose[..., 1], top_pose[..., 2])
    T[..., :3, 3] = top_pose[..., 3:6]
    T[..., 3, 3] = 1.0
    return T


def range_image_to_points(
    range_image: np.ndarray,
    extrinsic: np.ndarray,
    row_inclination: np.ndarray,
    pixel_pose: np.ndarray | None = None,
    frame_pose: np.ndarray | None = None,
) -> np.ndarray:
    """Cartesian points (H, W, 3) float64 in the (frame's) vehicle frame of every range-image pixel.

    Args:
        range_image (np.ndarray[H, W] or [H, W, C]): range (m) in channel 0.
        extrinsic (np.ndarray[4, 4]): lidar -> vehicle.
        row_inclination (np.ndarray[H]): from ``row_inclinations``.
        pixel_pose (np.ndarray[H, W, 4, 4] | None): per-pixel vehicle -> world (top lidar).
        frame_pose (np.ndarray[4, 4] | None): the frame's vehicle -> world; required with pixel_pose.
    """
    rng = np.asarray(range_image, dtype=np.float64)
    rng = rng[..., 0] if rng.ndim == 3 else rng
    h, w = rng.shape
    E = np.asarray(extrinsic, dtype=np.float64)
    az = ((w - np.arange(w) - 0.5) / w * 2.0 - 1.0) * np.pi - np.arctan2(E[1, 0], E[0, 0])
    inc = np.asarray(row_inclination, dtype=np.float64)[:, None]
    xyz = np.stack([np.cos(az) * np.cos(inc) * rng, np.sin(az) * np.cos(inc) * rng, np.sin(inc) * rng], -1)
    xyz = xyz @ E[:3, :3].T + E[:3, 3]
    if pixel_pose is not None:
        if frame_pose is None:
            raise ValueError("frame_pose is required when pixel_pose is given")
        xyz = np.einsum("hwij,hwj->hwi", pixel_pose[..., :3, :3], xyz) + pixel_pose[..., :3, 3]
        world_to_vehicle = np.linalg.inv(np.asarray(frame_pose, dtype=np.float64))
        xyz = xyz @ world_to_vehicle[:3, :3].T + world_to_vehicle[:3, 3]
    return xyz


def convert_frame(
    lidars: Sequence[LidarScan],
    frame_pose: np.ndarray,
    top_pose: np.ndarray | None = None,
    with_elongation: bool = False,
    laser_labels: Sequence[LaserLabel] | None = None,
) -> dict[str, np.ndarray]:
    """One frame in our layout.

    Args:
        lidars: every lidar of the frame (any order).
        frame_pose (np.ndarray[4, 4]): vehicle -> world of the frame.
        top_pose (np.ndarray[H, W, 6] | None): ``range_image_top_pose`` of the top lidar.
        with_elongation: append elongation as a second ``strength`` column.
        laser_labels: the frame's 3D box labels (``waymo_labels``); None = no box files.

    Returns:
        dict with ``coord`` (N,3) float32, ``strength`` (N,1|2) float32, ``pose`` (4,4) float32,
        ``segment`` (N,) int32 (only when some lidar has labels) and ``valid_mask`` (list of (H, W)
        bool per return and lidar, to map predictions back onto range images); with
        ``laser_labels`` also the ``gt_*`` arrays of ``convert_laser_labels``.
    """
    lidars = sorted(lidars, key=lambda scan: scan.name)
    labelled = any(scan.labels is not None for scan in lidars)
    coords, feats, segs, masks = [], [], [], []
    for ri in (0, 1):
        for scan in lidars:
            image = np.asarray(scan.returns[ri], dtype=np.float32)
            h = image.shape[0]
            inc = row_inclinations(scan.inclinations, h, uniform=scan.uniform_inclinations)
            pose = None
            if scan.name == LASER_TOP and top_pose is not None:
                pose = pixel_poses(np.asarray(top_pose, dtype=np.float64))
            valid = image[..., 0] > 0
            xyz = range_image_to_points(
                image, scan.extrinsic, inc, pose, frame_pose if pose is not None else None
            )
            coords.append(xyz[valid])
            feats.append(image[valid][:, 1:3])
            masks.append(valid)
            if labelled:
                if scan.labels is None:
                    segs.append(np.zeros(int(valid.sum()), dtype=np.int32))
                else:
                    segs.append(np.asarray(scan.labels[ri])[valid][:, 1].astype(np.int32))
    feat = np.concatenate(feats)
    strength = np.tanh(feat[:, :1]) if not with_elongation else np.stack([np.tanh(feat[:, 0]), feat[:, 1]], 1)
    out = dict(
        coord=np.concatenate(coords).astype(np.float32),
        strength=strength.astype(np.float32),
        pose=np.asarray(frame_pose, dtype=np.float32).reshape(4, 4),
        valid_mask=masks,
    )
    if labelled:
        # Segmentation.Type - 1: TYPE_UNDEFINED (0) and unlabelled lidars become -1 (ignore).
        out["segment"] = np.concatenate(segs) - 1
    if laser_labels is not None:
        out.update(convert_laser_labels(laser_labels))
    return out


def save_frame(frame: dict[str, np.ndarray], folder: str) -> None:
    """Write a ``convert_frame`` result as ``coord/strength/pose[/segment][/gt_*].npy`` (+ ``mask.npz``)."""
    os.makedirs(folder, exist_ok=True)
    for key in ("coord", "strength", "pose", "segment", *LABEL_FILES):
        if key in frame:
            np.save(os.path.join(folder, f"{key}.npy"), frame[key])
    np.savez_compressed(os.path.join(folder, "mask.npz"), *frame["valid_mask"])


def _matrix(proto) -> np.ndarray:
    return np.asarray(proto.data).reshape(tuple(proto.shape.dims))


def convert_tfrecord(
    path: str,
    out_root: str,
    split: str,
    test_frames: set[str] | None = None,
    with_elongation: bool = False,
    all_frames: bool = False,
) -> int:
    """Convert the labelled frames of one tfrecord (or, for ``testing``, those in ``test_frames``
    given as ``"<context>,<timestamp>"``) to ``<out_root>/<split>/<context>/<timestamp>/``.

    Frames of training/validation keep their 3D box labels (``gt_*.npy``). ``all_frames`` keeps
    every frame of those splits, also those without segmentation labels (detection labels every
    frame; segmentation only some).

    Returns the number of frames written.
    """
    try:
        import tensorflow as tf
        from waymo_open_dataset import dataset_pb2
        from waymo_open_dataset.utils import frame_utils
    except ImportError as e:
        raise ValueError(
            "reading Waymo tfrecords needs tensorflow and waymo-open-dataset "
            "(e.g. `pip install waymo-open-dataset-tf-2-12-0` in a separate environment)"
        ) from e
    written = 0
    for record in tf.data.TFRecordDataset(path, compression_type=""):
        frame = dataset_pb2.Frame()
        frame.ParseFromString(bytes(record.numpy()))
        context, timestamp = frame.context.name, str(frame.timestamp_micros)
        if split == "testing":
            if test_frames is None or f"{context},{timestamp}" not in test_frames:
                continue
        elif not all_frames and not frame.lasers[0].ri_return1.segmentation_label_compressed:
            continue
        range_images, _, seg_labels, top_pose = frame_utils.parse_range_image_and_camera_projection(frame)
        lidars = []
        for calib in frame.context.laser_calibrations:
            labels = None
            if calib.name in seg_labels and split != "testing":
                labels = [_matrix(seg_labels[calib.name][r]) for r in (0, 1)]
            uniform = len(calib.beam_inclinations) == 0
            incl = (
                np.asarray([calib.beam_inclination_min, calib.beam_inclination_max])
                if uniform
                else np.asarray(calib.beam_inclinations)
            )
            lidars.append(
                LidarScan(
                    name=int(calib.name),
                    returns=[_matrix(range_images[calib.name][r]) for r in (0, 1)],
                    extrinsic=np.asarray(calib.extrinsic.transform).reshape(4, 4),
                    inclinations=incl,
                    labels=labels,
                    uniform_inclinations=uniform,
                )
            )
        result = convert_frame(
            lidars,
            np.asarray(frame.pose.transform).reshape(4, 4),
            _matrix(top_pose),
            with_elongation,
            laser_labels_from_proto(frame) if split != "testing" else None,
        )
        save_frame(result, os.path.join(out_root, split, os.path.basename(path).split(".")[0], timestamp))
        written += 1
    logger.info("%s: %d frames", path, written)
    return written
