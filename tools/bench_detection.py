"""One detection training step (CenterPoint on the PTv3 encoder) on a real nuScenes sweep (CPU, or ``--device cuda``).

A step is exactly a training step, ``pointcept.engines.train_step``: forward (encoder, BEV scatter,
neck, head, heatmap/regression targets and losses), backward through the grad scaler, gradient
clipping, optimizer and scheduler step, with the model, optimizer (layer-wise lr decay) and
scheduler of the config (``configs/nuscenes/det-centerpoint.py`` by default).

Input: the sweep (``.pcd.bin``, float32 x 5), cropped to the ``size`` points nearest to the sensor
in x-y (0: all), as a sample of ``NuScenesDataset`` (``coord``, ``strength`` = intensity / 255) with
``--boxes`` ground-truth boxes. The sweeps in the real-data folder carry no annotations, so the boxes
are synthetic: centred on random points of the cloud inside the model's ``point_cloud_range``, with
nuScenes mean sizes of the classes taken in turn, random yaw. They only set the cost of target
encoding and the loss (small next to the network). Every cloud then goes through the config's
``data.train.transform`` (a ``GTSample`` in it is skipped: its database belongs to a dataset) and
``--clouds`` of them are collated into one batch; "points" counts the batch's input points.

Each size runs in a fresh subprocess (``--case``), so its peak resident set size belongs to it
alone; the table also shows the RSS before the first step (model + optimizer + data). "CPU s" is the
process's user+system time per step.

    OMP_NUM_THREADS=2 python tools/bench_detection.py [--sizes 20000 0] [--clouds 1] [--boxes 40] [--scan ...] [--device cuda]

The scan is ``--scan`` or, by default, the nuScenes sweep under ``$DOS_REAL_DATA`` (tools/bench_common.py).
"""

import argparse
import copy
import os

import bench_common as bench
from bench_common import NUSCENES_SWEEP_IN_REAL_DATA, ROOT, STEP_COLUMNS, Table

from pointcept.utils.errors import run_cli

DEFAULT_CONFIG = os.path.join(ROOT, "configs/nuscenes/det-centerpoint.py")
DEFAULT_SIZES = [20000, 0]
SCAN_EXAMPLE = "PATH/TO/LIDAR_TOP/NAME.pcd.bin"
# l, w, h (m): nuScenes mean box sizes of the ten detection classes, in their usual order.
MEAN_SIZES = (
    (4.63, 1.97, 1.74),
    (6.94, 2.51, 2.84),
    (6.37, 2.85, 3.19),
    (11.0, 2.94, 3.47),
    (12.3, 2.90, 3.87),
    (0.50, 2.53, 0.98),
    (2.11, 0.77, 1.47),
    (1.70, 0.60, 1.28),
    (0.73, 0.67, 1.77),
    (0.41, 0.41, 1.07),
)
TABLE = Table(
    [
        ("size", 6, "d"),
        ("points", 7, "d"),
        ("boxes", 5, "d"),
        *STEP_COLUMNS,
    ],
    tail="loss (warm-up -> last)",
)


def synthetic_boxes(coord, num_boxes: int, num_classes: int, point_cloud_range, rng):
    """``num_boxes`` boxes (M, 9) float32 centred on random points of ``coord`` inside the range, and labels."""
    import numpy as np

    lo, hi = np.asarray(point_cloud_range[:3]), np.asarray(point_cloud_range[3:])
    inside = np.flatnonzero(np.all((coord >= lo) & (coord <= hi), axis=1))
    if len(inside) == 0:
        raise ValueError(f"no point of the scan lies inside point_cloud_range {tuple(point_cloud_range)}")
    centres = coord[rng.choice(inside, size=num_boxes, replace=len(inside) < num_boxes)]
    labels = np.arange(num_boxes) % num_classes
    sizes = np.array([MEAN_SIZES[c % len(MEAN_SIZES)] for c in labels])
    yaw = rng.uniform(-np.pi, np.pi, num_boxes)
    boxes = np.concatenate([centres, sizes, yaw[:, None], np.zeros((num_boxes, 2))], axis=1)
    return boxes.astype(np.float32), labels.astype(np.int64)


def detection_batch(cfg, scan_path: str, size: int, num_clouds: int, num_boxes: int) -> dict:
    """Collated batch of ``num_clouds`` copies of the scan (own boxes and augmentations) through the config's pipeline."""
    import numpy as np

    from pointcept.datasets import Compose, collate_fn
    from pointcept.datasets.boxes import count_points_in_boxes
    from pointcept.datasets.formats.nuscenes_lidar import read_pcd_bin

    points = read_pcd_bin(scan_path)
    if 0 < size < len(points):
        points = points[np.argsort(np.linalg.norm(points[:, :2], axis=1), kind="stable")[:size]]
    transform = (cfg.get("data") or {}).get("train", {}).get("transform")
    if transform is None:
        raise ValueError("--config: needs data.train.transform (the detection training pipeline)")
    pipeline = Compose([t for t in copy.deepcopy(list(transform)) if t.get("type") != "GTSample"])
    rng = np.random.default_rng(0)
    name = os.path.basename(scan_path).split(".")[0]
    samples = []
    for _ in range(num_clouds):
        coord = points[:, :3].copy()
        boxes, labels = synthetic_boxes(
            coord, num_boxes, cfg.model.num_classes, cfg.model.point_cloud_range, rng
        )
        sample = dict(
            coord=coord,
            strength=(points[:, 3:4] / 255.0).astype(np.float32),
            gt_boxes=boxes,
            gt_labels=labels,
            gt_num_points=count_points_in_boxes(coord, boxes),
            name=name,
        )
        samples.append(pipeline(sample))
    return collate_fn(samples)


def run_one_case(args: argparse.Namespace) -> dict:
    """Time ``args.repeats`` detection training steps after one warm-up."""
    import numpy as np
    import torch

    from pointcept.engines.storage import ScalarStorage
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    torch.manual_seed(0)
    np.random.seed(0)
    device = torch.device(args.device)
    cfg = load_config(args.config)
    batch = detection_batch(cfg, args.scan, args.sizes[0], args.clouds, args.boxes)
    model = build_model(cfg.model).to(device).train()
    training = bench.build_training(cfg, model, device, args.amp)
    storage = ScalarStorage()
    step_number = [0]

    def step() -> float:
        step_number[0] += 1
        return bench.step_loss(model, batch, training, storage=storage, step_number=step_number[0])

    losses, timing = bench.measure_steps(step, args.repeats)
    return dict(
        points=len(batch["coord"]),
        boxes=len(batch["gt_boxes"]),
        **timing,
        losses=losses,
        parameters=sum(p.numel() for p in model.parameters()),
        **bench.device_report(device, training.amp_dtype),
    )


def run_table(args: argparse.Namespace) -> None:
    bench.print_step_table_title(
        args, "Detection training step", f"{args.clouds} cloud(s) x {args.boxes} synthetic boxes"
    )
    print(TABLE.header(), flush=True)
    extras = set()
    for size in args.sizes:
        r = bench.run_case(__file__, bench.training_case_argv(args, size, "--boxes", str(args.boxes)))
        if isinstance(r, str):
            print(TABLE.row(size, tail=r), flush=True)
            continue
        losses = f"{r['losses'][0]:.3f} -> {r['losses'][-1]:.3f}"
        print(TABLE.row(size, r["points"], r["boxes"], *bench.step_cells(r), tail=losses), flush=True)
        extra = f"{r['parameters'] / 1e6:.1f} M parameters, autocast {r['amp']}, torch threads {r['threads']}, {r['attention']}"
        if "cuda_peak_mb" in r:
            extra += f", CUDA peak {r['cuda_peak_mb']:.0f} MB"
        extras.add(extra)
    print("; ".join(sorted(extras)) + f"; load average at the end {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = bench.training_step_parser(
        __doc__,
        DEFAULT_CONFIG,
        f"points per cloud, the nearest to the sensor; 0 = whole sweep (default {DEFAULT_SIZES})",
        "clouds per step",
        in_real_data=NUSCENES_SWEEP_IN_REAL_DATA,
        scan_kind="nuScenes LIDAR_TOP .pcd.bin",
    )
    parser.add_argument("--boxes", type=int, default=40, help="synthetic boxes per cloud (default 40)")
    args = parser.parse_args(argv)
    bench.check_training_step_arguments(args, DEFAULT_SIZES, NUSCENES_SWEEP_IN_REAL_DATA, SCAN_EXAMPLE)
    if args.boxes < 0:
        raise SystemExit("--boxes must be >= 0")
    bench.run_case_or_table(args, run_one_case, run_table)


if __name__ == "__main__":
    run_cli(main)
