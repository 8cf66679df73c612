"""Drives of the simulated sensor down generated streets, written in SemanticKITTI's raw layout.

One street is built per sequence; consecutive scans move the sensor ``step`` metres forward along
it, so scans overlap and object instance ids are stable across a sequence. Files are exactly what
the real dataset ships: ``dataset/sequences/SS/velodyne/NNNNNN.bin`` (float32 x, y, z, remission
in the sensor frame) and ``labels/NNNNNN.label`` (uint32 ``instance << 16 | raw semantic id``),
plus, for detection, ``boxes/NNNNNN.txt`` (format in ``boxes.py``): the box of every object
within ``max_range`` of the sensor, seen or not. Boxes are computed from the scene, so the
points and labels of a seed are the same with or without them.
"""

import os

import numpy as np

from .boxes import boxes_to_sensor, object_boxes, write_box_file
from .sensor import SensorConfig, raycast
from .skew import thin_objects
from .street import make_street


def drive_sequence(seed: int, num_scans: int, sensor: SensorConfig, step: float = 2.5, skew: float = 0.0):
    """Scans of one drive down a random street, with the objects' boxes.

    Returns a list of ``num_scans`` dicts: ``points`` (N,4) float32 and ``labels`` (N,) uint32 in the
    sensor frame, ``box_names`` (M,), ``boxes`` (M, 9) float64 (sensor frame) and ``box_instances``
    (M,) int64 of the objects whose centre is within ``sensor.max_range`` (BEV) of the sensor.
    Scan i is taken ``i * step`` metres further along the street.
    ``skew`` > 0 thins the street's objects by a power law over their classes
    (``skew.thin_objects``, own generator seeded from ``seed``); ``skew == 0`` is the unskewed
    street, bit for bit.
    """
    if num_scans < 1:
        raise ValueError(f"num_scans must be >= 1, got {num_scans}")
    rng = np.random.default_rng(seed)
    travel = (num_scans - 1) * step
    margin = sensor.max_range + 15
    scene = make_street(rng, -margin, travel + margin, keep_clear=(-1.0, travel + 1.0))
    thin_objects(scene, skew, np.random.default_rng([seed, 1]))
    names, world_boxes, instances = object_boxes(scene)
    lane_y = -scene.layout.lane_half / 2
    scans = []
    for i in range(num_scans):
        position = (i * step + rng.normal(0, 0.1), lane_y + rng.normal(0, 0.15), sensor.height)
        yaw = rng.normal(0, 0.02)
        points, labels = raycast(scene, position, yaw, sensor, rng)
        boxes = boxes_to_sensor(world_boxes, position, yaw)
        near = np.flatnonzero(np.hypot(boxes[:, 0], boxes[:, 1]) <= sensor.max_range)
        scans.append(
            dict(
                points=points,
                labels=labels,
                box_names=[names[j] for j in near],
                boxes=boxes[near],
                box_instances=instances[near],
            )
        )
    return scans


def generate_sequence(seed: int, num_scans: int, sensor: SensorConfig, step: float = 2.5, skew: float = 0.0):
    """Scans of one drive down a random street: a list of ``num_scans`` (points (N,4) float32,
    labels (N,) uint32) pairs in the sensor frame (``drive_sequence`` without the boxes)."""
    return [(s["points"], s["labels"]) for s in drive_sequence(seed, num_scans, sensor, step, skew)]


def write_semantic_kitti(
    out_dir: str,
    sequences: dict[str, int],
    sensor: SensorConfig | None = None,
    seed: int = 0,
    step: float = 2.5,
    with_labels: bool = True,
    with_boxes: bool | None = None,
    skew: float = 0.0,
) -> dict[str, int]:
    """Write ``{sequence id: number of scans}`` under ``out_dir/dataset/sequences`` in KITTI format.

    ``with_boxes`` (default: ``with_labels``) also writes ``boxes/NNNNNN.txt``.
    Returns ``{"scans": ..., "points": ..., "boxes": ...}`` totals. Sequence ``SS`` uses seed ``(seed, SS)``, so a
    sequence does not change when others are added.
    ``skew``: see ``drive_sequence``.
    """
    sensor = sensor or SensorConfig()
    with_boxes = with_labels if with_boxes is None else with_boxes
    total_scans = total_points = total_boxes = 0
    for seq, num_scans in sequences.items():
        seq = f"{int(seq):02d}"
        scans = drive_sequence(
            int(np.random.SeedSequence([seed, int(seq)]).generate_state(1)[0]), num_scans, sensor, step, skew
        )
        seq_dir = os.path.join(out_dir, "dataset", "sequences", seq)
        os.makedirs(os.path.join(seq_dir, "velodyne"), exist_ok=True)
        if with_labels:
            os.makedirs(os.path.join(seq_dir, "labels"), exist_ok=True)
        for i, scan in enumerate(scans):
            scan["points"].tofile(os.path.join(seq_dir, "velodyne", f"{i:06d}.bin"))
            if with_labels:
                scan["labels"].tofile(os.path.join(seq_dir, "labels", f"{i:06d}.label"))
            if with_boxes:
                write_box_file(
                    os.path.join(seq_dir, "boxes", f"{i:06d}.txt"),
                    scan["box_names"],
                    scan["boxes"],
                    scan["box_instances"],
                )
                total_boxes += len(scan["boxes"])
            total_scans += 1
            total_points += len(scan["points"])
    return {"scans": total_scans, "points": total_points, "boxes": total_boxes}
