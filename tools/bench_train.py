"""Training-step benchmarks on a real scan, one fresh subprocess per case. Runs on CPU.

Two modes:

* ``--mode backbone`` (default): forward+backward time and peak memory of a PTv3 backbone per
  number of points (a size of 0 means the whole scan after grid sampling).
* ``--mode pretrain``: one full DOS pretraining step (teacher + student forward, backward, gradient
  clipping, optimizer and scheduler step, EMA teacher update) with the fused ``dos_ops`` kernels
  against the pure-torch references, per view size. The model, optimizer (layer-wise lr decay) and
  schedule come from the config (``configs/semantic_kitti/pretrain-dos.py`` by default); the two
  views of each cloud come from the config's own ``data.train.transform`` applied to the scan, with
  the ``DOSViewGenerator`` cutting exactly ``size`` points per view before its view transforms
  (which grid-sample again after augmentation, so a view ends up slightly smaller). "points" counts
  the input points of both views of all clouds; the student sees only the observable ones. Masking,
  ``tau_t`` and the EMA momentum are the config's schedule at mid-training (mask warm-up done).
  The backend is passed to the subprocess through ``DOS_OPS_BACKEND``; the subprocess checks
  ``pointcept.ops.get_backend()`` and counts the ``dos_ops`` kernel calls of its warm-up step
  (non-zero with "fused", zero with "reference"), and the table prints both.

Each case runs in a fresh subprocess, so its peak resident set size (``ru_maxrss``) belongs to that
case alone; the table also shows the RSS before the first step (model + optimizer + data), so the
step's own footprint is the difference. "CPU s" is the process's user+system time per step: on a
shared machine it is a steadier measure than wall time.

    OMP_NUM_THREADS=2 python tools/bench_train.py [--sizes 30000 60000 0] [--config ...] [--scan ...]
    OMP_NUM_THREADS=2 python tools/bench_train.py --mode pretrain [--sizes 20000 60000] [--clouds 1]
"""

import argparse
import collections
import copy
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
DEFAULT_CONFIG = dict(
    backbone=os.path.join(ROOT, "configs/_base_/models/ptv3-base.py"),
    pretrain=os.path.join(ROOT, "configs/semantic_kitti/pretrain-dos.py"),
)
DEFAULT_SIZES = dict(backbone=[30000, 60000, 0], pretrain=[20000, 60000])
PRETRAIN_BACKENDS = ("fused", "reference")


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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def backbone_worker(args) -> None:
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
    rss_before = _peak_rss_mb()
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
        peak_rss_mb=_peak_rss_mb(),
        grid_pool_backend="fused"
        if ops.fused_available() and ops.get_backend() != "reference"
        else "reference",
        threads=torch.get_num_threads(),
    )
    print(json.dumps(result))


def pretrain_batch(cfg, scan_path: str, view_points: int, num_clouds: int) -> dict:
    """Collated two-view batch of ``num_clouds`` crops of one scan through the config's pipeline.

    The pipeline is ``cfg.data.train.transform`` with its ``DOSViewGenerator`` set to cut exactly
    ``view_points`` points per view (0: the whole scan); each cloud gets its own random crops and
    augmentations from the global numpy RNG.
    """
    from pointcept.datasets import Compose, collate_fn
    from pointcept.datasets.semantic_kitti import read_points

    scan = read_points(scan_path)
    transform = copy.deepcopy(list(cfg.data.train.transform))
    generators = [t for t in transform if t.get("type") == "DOSViewGenerator"]
    if len(generators) != 1:
        raise ValueError(
            f"--config: data.train.transform must hold exactly one DOSViewGenerator, found {len(generators)}"
        )
    generators[0].update(crop_scale=(1.0, 1.0), max_points=view_points or len(scan))
    pipeline = Compose(transform)
    name = os.path.splitext(os.path.basename(scan_path))[0]
    samples = [
        pipeline(dict(coord=scan[:, :3].copy(), strength=scan[:, 3:4].copy(), name=name))
        for _ in range(num_clouds)
    ]
    return collate_fn(samples)


def _schedule_hook(cfg):
    """The config's ``DOSScheduleHook``, built (its schedules are pure functions of the step)."""
    from pointcept.engines.hooks import HOOKS
    from pointcept.utils.registry import build_from_cfg

    found = [h for h in cfg.get("hooks") or [] if h.get("type") == "DOSScheduleHook"]
    if len(found) != 1:
        raise ValueError(f"--config: hooks must hold exactly one DOSScheduleHook, found {len(found)}")
    return build_from_cfg(found[0], HOOKS, where="hooks")


def _dos_ops_counter():
    """A dispatch mode counting the ``dos_ops`` kernels that run under it, by op name."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class DosOpsCounter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.counts = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.namespace == "dos_ops":
                self.counts[func.name().split("::")[-1]] += 1
            return func(*args, **(kwargs or {}))

    return DosOpsCounter()


def pretrain_worker(args) -> None:
    import torch

    sys.path.insert(0, ROOT)
    from pointcept import ops
    from pointcept.engines import build_optimizer, build_scheduler
    from pointcept.engines.amp import autocast, resolve_amp_dtype
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    backend = ops.get_backend()
    if backend != args.backend:
        raise RuntimeError(
            f"DOS_OPS_BACKEND did not reach the worker: backend {backend!r}, wanted {args.backend!r}"
        )
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = load_config(args.config)
    batch = pretrain_batch(cfg, args.scan, args.points, args.clouds)
    views = [batch[k] for k in ("view1", "view2")]
    model = build_model(cfg.model).train()
    optimizer = build_optimizer(
        cfg.optimizer,
        model,
        param_dicts=cfg.get("param_dicts"),
        layer_decay=cfg.get("layer_decay"),
        no_decay_keywords=tuple(cfg.get("no_decay_keywords") or ()),
    )
    max_steps = int(cfg.max_steps)
    scheduler = build_scheduler(cfg.get("scheduler"), optimizer, max_steps)
    hook = _schedule_hook(cfg)
    values = hook.values(max_steps // 2, max_steps)
    forward_kwargs = {k: values[k] for k in ("tau_t", "mask_size", "mask_ratio")}
    momentum = hook.momentum(max_steps // 2, max_steps)
    amp_dtype = resolve_amp_dtype(cfg.get("amp_dtype"), torch.device("cpu")) if args.amp else None
    clip_grad = cfg.get("clip_grad")

    def step() -> float:
        with autocast(torch.device("cpu"), amp_dtype):
            loss = model(batch, **forward_kwargs)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip_grad))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        model.update_teacher(momentum)
        return float(loss.detach())

    rss_before = _peak_rss_mb()
    counter = _dos_ops_counter()
    start = time.perf_counter()
    with counter:
        losses = [step()]
    first_s = time.perf_counter() - start
    num_calls = sum(counter.counts.values())
    if (backend == "reference") != (num_calls == 0):
        raise RuntimeError(
            f"backend {backend!r} but the warm-up step ran dos_ops kernels {dict(counter.counts)}"
        )
    times, cpu_times = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        losses.append(step())
        times.append(time.perf_counter() - start)
        cpu_times.append(_cpu_seconds() - cpu_start)
    if not np.isfinite(losses).all():
        raise FloatingPointError(f"non-finite loss in the benchmark steps: {losses}")
    result = dict(
        points=sum(len(v["coord"]) for v in views),
        view_points=[len(v["coord"]) for v in views],
        first_s=first_s,
        step_s=float(np.median(times)) if times else first_s,
        step_cpu_s=float(np.median(cpu_times)) if cpu_times else None,
        rss_before_mb=rss_before,
        peak_rss_mb=_peak_rss_mb(),
        backend=backend,
        dos_ops_calls=dict(sorted(counter.counts.items())),
        losses=losses,
        amp=str(amp_dtype),
        threads=torch.get_num_threads(),
    )
    print(json.dumps(result))


def _run_worker(cmd: list[str], env: dict | None = None) -> dict | str:
    """Run one worker subprocess: its JSON result, or the failure message."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_backbone(args) -> None:
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
        r = _run_worker(cmd)
        if isinstance(r, str):
            print(f"{size:>8} {r}", flush=True)
            continue
        print(
            f"{r['points']:>8} {r['first_s']:>10.2f} {r['step_s']:>10.2f} {r['step_cpu_s']:>8.1f} {r['rss_before_mb']:>14.0f} "
            f"{r['peak_rss_mb']:>12.0f} {r['points'] / r['step_s']:>8.0f}",
            flush=True,
        )
        backends.add(f"grid_pool {r['grid_pool_backend']}, torch threads {r['threads']}")
    print("; ".join(sorted(backends)))


def run_pretrain(args) -> None:
    print(
        f"DOS pretraining step: config {os.path.relpath(args.config, ROOT)}, scan {args.scan}, "
        f"{args.clouds} cloud(s) x 2 views, CPU, {args.repeats} timed step(s) after 1 warm-up; "
        f"load average {os.getloadavg()[0]:.2f} (timings are only meaningful on an idle machine)"
    )
    print(
        f"{'size':>6} {'backend':>9} {'points':>7} {'warm-up s':>9} {'s/step':>7} {'CPU s':>6} "
        f"{'points/s':>8} {'RSS before MB':>13} {'peak RSS MB':>11}  dos_ops calls (warm-up step)",
        flush=True,
    )
    step_s, points, extras = {}, {}, set()
    for size in args.sizes:
        for backend in args.backends:
            cmd = [sys.executable, __file__, "--mode", "pretrain", "--worker", "--points", str(size)]
            cmd += ["--config", args.config, "--scan", args.scan, "--repeats", str(args.repeats)]
            cmd += ["--clouds", str(args.clouds), "--backend", backend] + (["--amp"] if args.amp else [])
            r = _run_worker(cmd, env=dict(os.environ, DOS_OPS_BACKEND=backend))
            if isinstance(r, str):
                print(f"{size:>6} {backend:>9} {r}", flush=True)
                continue
            step_s[size, backend], points[size, backend] = r["step_s"], r["points"]
            calls = ", ".join(f"{k} {v}" for k, v in r["dos_ops_calls"].items()) or "none"
            cpu = f"{r['step_cpu_s']:>6.1f}" if r["step_cpu_s"] is not None else f"{'-':>6}"
            print(
                f"{size:>6} {r['backend']:>9} {r['points']:>7} {r['first_s']:>9.2f} {r['step_s']:>7.2f} {cpu} "
                f"{r['points'] / r['step_s']:>8.0f} {r['rss_before_mb']:>13.0f} {r['peak_rss_mb']:>11.0f}  {calls}",
                flush=True,
            )
            extras.add(f"autocast {r['amp']}, torch threads {r['threads']}")
    print("; ".join(sorted(extras)) + f"; load average at the end {os.getloadavg()[0]:.2f}")
    for size in args.sizes:
        if (size, "fused") in step_s and (size, "reference") in step_s:
            same = points[size, "fused"] == points[size, "reference"]
            note = "" if same else " (different inputs: point counts differ)"
            speedup = step_s[size, "reference"] / step_s[size, "fused"]
            print(f"pretrain step {size}: {speedup:.2f}x fused vs reference{note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=sorted(DEFAULT_CONFIG), default="backbone")
    parser.add_argument(
        "--config", default=None, help="default: ptv3-base.py / semantic_kitti/pretrain-dos.py"
    )
    parser.add_argument("--scan", default=DEFAULT_SCAN)
    parser.add_argument(
        "--grid-size", type=float, default=0.05, help="backbone mode (pretrain uses the config's)"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="points (backbone) or points per view (pretrain)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--clouds", type=int, default=1, help="pretrain: clouds (scenes) per step")
    parser.add_argument(
        "--backends", nargs="+", choices=PRETRAIN_BACKENDS, default=list(PRETRAIN_BACKENDS), help="pretrain"
    )
    parser.add_argument(
        "--amp", action="store_true", help="pretrain: use the config's amp_dtype (default fp32)"
    )
    parser.add_argument("--points", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.config = args.config or DEFAULT_CONFIG[args.mode]
    args.sizes = args.sizes if args.sizes is not None else DEFAULT_SIZES[args.mode]
    if args.worker:
        (pretrain_worker if args.mode == "pretrain" else backbone_worker)(args)
        return
    if not os.path.isfile(args.scan):
        raise SystemExit(f"scan not found: {args.scan} (set DOS_REAL_DATA or pass --scan)")
    if not os.path.isfile(args.config):
        raise SystemExit(f"config not found: {args.config}")
    if args.clouds < 1 or args.repeats < 0 or min(args.sizes) < 0:
        raise SystemExit("--clouds must be >= 1, --repeats >= 0 and --sizes >= 0")
    (run_pretrain if args.mode == "pretrain" else run_backbone)(args)


if __name__ == "__main__":
    main()
