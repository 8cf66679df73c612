"""Forward+backward time and peak memory of a PTv3 backbone on a real scan, per number of points.

Each size runs in a fresh subprocess, so its peak resident set size (``ru_maxrss``) belongs to that
size alone; the table also shows the RSS before the first forward (model + data), so the step's own
footprint is the difference. "CPU s" is the process's user+system time per step: on a shared
machine it is a steadier measure than wall time. Runs on CPU.

    OMP_NUM_THREADS=2 python tools/bench_train.py [--sizes 30000 60000 0] [--config ...] [--scan ...]

A size of 0 means the whole scan after grid sampling.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCAN = os.path.join(
    os.environ.get("DOS_REAL_DATA", "/work/shared/data/real"),
    "semantic_kitti/dataset/sequences/00/velodyne/000000.bin",
)


def load_scan(path: str, grid_size: float, num_points: int) -> dict:
    """SemanticKITTI .bin -> grid-sampled (one point per voxel) dict of numpy arrays, cropped to
    the ``num_points`` points nearest to the sensor (0: keep all)."""
    scan = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    grid = np.floor(scan[:, :3] / grid_size).astype(np.int64)
    grid -= grid.min(0)
    _, keep = np.unique(grid, axis=0, return_index=True)
    scan, grid = scan[keep], grid[keep]
    if 0 < num_points < len(scan):
        nearest = np.argsort(np.linalg.norm(scan[:, :2], axis=1), kind="stable")[:num_points]
        scan, grid = scan[nearest], grid[nearest] - grid[nearest].min(0)
    return dict(coord=scan[:, :3], grid_coord=grid, feat=scan)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(args) -> None:
    import torch

    sys.path.insert(0, ROOT)
    from pointcept import ops
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    torch.manual_seed(0)
    arrays = load_scan(args.scan, args.grid_size, args.points)
    data = {k: torch.from_numpy(v) for k, v in arrays.items()}
    data["offset"] = torch.tensor([len(data["coord"])])
    model = build_model(load_config(args.config)["model"]["backbone"]).train()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, cpu_times = [], []
    for _ in range(args.repeats + 1):
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        point = model(data)
        point.feat.square().mean().backward()
        times.append(time.perf_counter() - start)
        cpu_times.append(_cpu_seconds() - cpu_start)
        model.zero_grad(set_to_none=True)
        del point
    result = dict(
        points=len(data["coord"]),
        first_s=times[0],
        step_s=float(np.median(times[1:])) if args.repeats else times[0],
        step_cpu_s=float(np.median(cpu_times[1:])) if args.repeats else cpu_times[0],
        rss_before_mb=rss_before,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        grid_pool_backend="fused"
        if ops.fused_available() and ops.get_backend() != "reference"
        else "reference",
        threads=torch.get_num_threads(),
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=os.path.join(ROOT, "configs/_base_/models/ptv3-base.py"))
    parser.add_argument("--scan", default=DEFAULT_SCAN)
    parser.add_argument("--grid-size", type=float, default=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30000, 60000, 0])
    parser.add_argument("--repeats", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--points", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not os.path.isfile(args.scan):
        raise SystemExit(f"scan not found: {args.scan} (set DOS_REAL_DATA or pass --scan)")
    print(
        f"config {os.path.relpath(args.config, ROOT)}, scan {args.scan}, grid {args.grid_size} m, CPU, train mode"
    )
    header = (
        f"{'points':>8} {'warm-up s':>10} {'fwd+bwd s':>10} {'CPU s':>8} {'RSS before MB':>14} "
        f"{'peak RSS MB':>12} {'pts/s':>8}"
    )
    print(header, flush=True)
    backends = set()
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--worker", "--points", str(size), "--config", args.config]
        cmd += ["--scan", args.scan, "--grid-size", str(args.grid_size), "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(
                f"{size:>8} failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}",
                flush=True,
            )
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['points']:>8} {r['first_s']:>10.2f} {r['step_s']:>10.2f} {r['step_cpu_s']:>8.1f} {r['rss_before_mb']:>14.0f} "
            f"{r['peak_rss_mb']:>12.0f} {r['points'] / r['step_s']:>8.0f}",
            flush=True,
        )
        backends.add(f"grid_pool {r['grid_pool_backend']}, torch threads {r['threads']}")
    print("; ".join(sorted(backends)))


if __name__ == "__main__":
    main()
