"""Drives of the simulated sensor down generated streets, written in SemanticKITTI's raw layout.

One street is built per sequence; consecutive scans move the sensor ``step`` metres forward along
it, so scans overlap and object instance ids are stable across a sequence. Files are exactly what
the real dataset ships: ``dataset/sequences/SS/velodyne/NNNNNN.bin`` (float32 x, y, z, remission
in the sensor frame) and ``labels/NNNNNN.label`` (uint32 ``instance << 16 | raw semantic id``).
"""

import os

import numpy as np

from .sensor import SensorConfig, raycast
from .skew import thin_objects
from .street import make_street


def generate_sequence(seed: int, num_scans: int, sensor: SensorConfig, step: float = 2.5, skew: float = 0.0):
    """Scans of one drive down a random street.

    Returns a list of ``num_scans`` (points (N,4) float32, labels (N,) uint32) pairs in the sensor
    frame; scan i is taken ``i * step`` metres further along the street. ``skew`` > 0 thins the
    street's objects by a power law over their classes (``skew.thin_objects``, own generator
    seeded from ``seed``); ``skew == 0`` is the unskewed street, bit for bit.
    """
    if num_scans < 1:
        raise ValueError(f"num_scans must be >= 1, got {num_scans}")
    rng = np.random.default_rng(seed)
    travel = (num_scans - 1) * step
    margin = sensor.max_range + 15
    scene = make_street(rng, -margin, travel + margin, keep_clear=(-1.0, travel + 1.0))
    thin_objects(scene, skew, np.random.default_rng([seed, 1]))
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
    skew: float = 0.0,
) -> dict[str, int]:
    """Write ``{sequence id: number of scans}`` under ``out_dir/dataset/sequences`` in KITTI format.

    Returns ``{"scans": ..., "points": ...}`` totals. Sequence ``SS`` uses seed ``(seed, SS)``, so a
    sequence does not change when others are added. ``skew``: see ``generate_sequence``.
    """
    sensor = sensor or SensorConfig()
    total_scans = total_points = 0
    for seq, num_scans in sequences.items():
        seq = f"{int(seq):02d}"
        scans = generate_sequence(
            int(np.random.SeedSequence([seed, int(seq)]).generate_state(1)[0]), num_scans, sensor, step, skew
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
