"""One full DOS pretraining step on a real scan (CPU, or ``--device cuda``): fused ``dos_ops`` kernels vs
pure-torch references.

A step is exactly a training step: ``pointcept.engines.train_step`` (teacher + student forward,
backward through the grad scaler, gradient clipping, optimizer and scheduler step) between the
config's ``DOSScheduleHook`` ``before_step`` (tau_t, mask progress, weight decay) and
``after_step`` (EMA teacher update), the hook running on a minimal stand-in for the trainer whose
``step`` starts at mid-training (mask warm-up done) and advances by one per step. The model,
optimizer (layer-wise lr decay) and scheduler come from the config
(``configs/semantic_kitti/pretrain-dos.py`` by default).

The two views of each cloud come from the config's own ``data.train.transform`` applied to the
scan, with the ``DOSViewGenerator`` cutting exactly ``size`` points per view before its view
transforms (which grid-sample again after augmentation, so a view ends up slightly smaller).
"points" counts the input points of both views of all clouds; the student sees only the
observable ones.

Each (size, backend) case runs in a fresh subprocess (``--case``), so its peak resident set size
belongs to that case alone; the table also shows the RSS before the first step (model + optimizer
+ data), so the step's own footprint is the difference. "CPU s" is the process's user+system time
per step: on a shared machine it is a steadier measure than wall time. A case selects its backend
with ``pointcept.ops.set_backend``, and counts the ``dos_ops`` kernel calls of its warm-up step:
it fails unless they are non-zero with "fused" and zero with "reference"; the table prints them.

After the table, each case's step is broken into phases timed inside the step
(``pointcept.utils.timing.PhaseTimer`` passed to ``train_step`` and ``DOS.forward``; the medians
over the timed steps): data (one worker making the batch: read, view pipeline, collate; plus the
move to the device), teacher forward, student forward, backward, Sinkhorn and loss, optimizer and
EMA (with the schedule hook), other; as shares of data + step time. Beside it, the data
pipeline's rate in view pairs per second per worker against the training rate, and the number of
workers that keeps the step fed.

    OMP_NUM_THREADS=2 python tools/bench_pretrain.py [--sizes 20000 60000] [--clouds 1] [--scan ...] [--device cuda]

On CUDA a case also reports the peak GPU memory and whether attention ran flash-attn or SDPA.

The scan is ``--scan`` or, by default, the sample under ``$DOS_REAL_DATA`` (see tools/bench_common.py).
"""

import argparse
import collections
import copy
import math
import os
import time
from types import SimpleNamespace

import bench_common as bench
import numpy as np
from bench_common import ROOT, STEP_COLUMNS, Table

from pointcept.utils.errors import run_cli

DEFAULT_CONFIG = os.path.join(ROOT, "configs/semantic_kitti/pretrain-dos.py")
DEFAULT_SIZES = [20000, 60000]
BACKENDS = ("fused", "reference")
# Timed phases of a step: the schedule hook, train_step's and DOS.forward's (nested in "forward"), the EMA.
PHASES = (
    "schedule", "to_device", "forward", "teacher_forward", "student_forward", "sinkhorn_loss", "backward",
    "optimizer", "ema",
)  # fmt: skip
TABLE = Table(
    [
        ("size", 6, "d"),
        ("backend", 9, ""),
        ("points", 7, "d"),
        *STEP_COLUMNS,
    ],
    tail="dos_ops calls (warm-up step)",
)


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


def data_pipeline_seconds(cfg, scan_path: str, view_points: int, num_clouds: int, repeats: int) -> float:
    """Median wall seconds for one worker to make a batch (read, ``num_clouds`` two-view pipeline
    runs, collate), over ``repeats`` batches."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pretrain_batch(cfg, scan_path, view_points, num_clouds)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def phase_shares(r: dict) -> dict:
    """Shares of one worker's data time plus the step's wall time, by phase (``PHASE_GROUPS``)."""
    p = r["phase_s"]
    inside_forward = p["teacher_forward"] + p["student_forward"] + p["sinkhorn_loss"]
    seconds = {
        "data": r["data_s"] + p["to_device"],
        "teacher fwd": p["teacher_forward"],
        "student fwd": p["student_forward"],
        "backward": p["backward"],
        "sinkhorn+loss": p["sinkhorn_loss"],
        "optimizer+EMA": p["optimizer"] + p["ema"] + p["schedule"],
    }
    top_level = sum(p[k] for k in ("schedule", "to_device", "forward", "backward", "optimizer", "ema"))
    seconds["other"] = max(r["step_s"] - top_level, 0.0) + max(p["forward"] - inside_forward, 0.0)
    total = r["data_s"] + r["step_s"]
    return {k: v / total for k, v in seconds.items()}


def schedule_hook_cfg(cfg) -> dict:
    """The config's one ``DOSScheduleHook`` entry (ValueError unless there is exactly one)."""
    found = [h for h in cfg.get("hooks") or [] if h.get("type") == "DOSScheduleHook"]
    if len(found) != 1:
        raise ValueError(f"--config: hooks must hold exactly one DOSScheduleHook, found {len(found)}")
    return found[0]


def dos_ops_counter():
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


def run_one_case(args: argparse.Namespace) -> dict:
    """Time ``args.repeats`` pretraining steps after one warm-up, on ``args.backends[0]``."""
    import torch

    from pointcept import ops
    from pointcept.engines.hooks.base import build_hooks
    from pointcept.engines.storage import ScalarStorage
    from pointcept.models import build_model
    from pointcept.utils.config import load_config
    from pointcept.utils.timing import PhaseTimer

    ops.set_backend(args.backends[0])
    backend = ops.get_backend()
    torch.manual_seed(0)
    np.random.seed(0)
    device = torch.device(args.device)
    cfg = load_config(args.config)
    batch = pretrain_batch(cfg, args.scan, args.sizes[0], args.clouds)
    views = [batch[k] for k in ("view1", "view2")]
    model = build_model(cfg.model).to(device).train()
    training = bench.build_training(cfg, model, device, args.amp)
    optimizer, max_steps, amp_dtype = training.optimizer, training.max_steps, training.amp_dtype
    # The attributes DOSScheduleHook reads from its trainer; ``step`` = completed steps.
    trainer = SimpleNamespace(
        model=model,
        model_without_ddp=model,
        optimizer=optimizer,
        scheduler=training.scheduler,
        scaler=training.scaler,
        storage=ScalarStorage(),
        forward_kwargs={},
        step=max_steps // 2,
        max_steps=max_steps,
    )
    (hook,) = build_hooks([schedule_hook_cfg(cfg)], trainer)
    hook.before_train()

    timers = []

    def step() -> float:
        timers.append(PhaseTimer(torch.cuda.synchronize if device.type == "cuda" else None))
        timer = timers[-1]
        trainer.forward_kwargs["timer"] = timer
        with timer.phase("schedule"):
            hook.before_step()
        loss = bench.step_loss(
            model,
            batch,
            training,
            forward_kwargs=trainer.forward_kwargs,
            storage=trainer.storage,
            step_number=trainer.step + 1,
            timer=timer,
        )
        trainer.step += 1
        with timer.phase("ema"):
            hook.after_step()
        return loss

    counter = dos_ops_counter()
    losses, timing = bench.measure_steps(step, args.repeats, warmup_context=counter)
    timed = timers[1:] or timers
    phases = {name: float(np.median([t.seconds.get(name, 0.0) for t in timed])) for name in PHASES}
    num_calls = sum(counter.counts.values())
    if (backend == "reference") != (num_calls == 0):
        raise RuntimeError(
            f"backend {backend!r} but the warm-up step ran dos_ops kernels {dict(counter.counts)}"
        )
    return dict(
        points=sum(len(v["coord"]) for v in views),
        view_points=[len(v["coord"]) for v in views],
        **timing,
        backend=backend,
        dos_ops_calls=dict(sorted(counter.counts.items())),
        losses=losses,
        phase_s=phases,
        data_s=data_pipeline_seconds(cfg, args.scan, args.sizes[0], args.clouds, max(args.repeats, 1)),
        # What the hook applied at the last step (tau_t, mask size and ratio, weight decay, momentum).
        schedule={k: trainer.storage.latest(k) for k in trainer.storage.names() if k.startswith("sched/")},
        **bench.device_report(device, amp_dtype),
    )


def run_table(args: argparse.Namespace) -> None:
    bench.print_step_table_title(args, "DOS pretraining step", f"{args.clouds} cloud(s) x 2 views")
    print(TABLE.header(), flush=True)
    step_s, points, extras, results = {}, {}, set(), {}
    for size in args.sizes:
        for backend in args.backends:
            r = bench.run_case(__file__, bench.training_case_argv(args, size, "--backends", backend))
            if isinstance(r, str):
                print(TABLE.row(size, backend, tail=r), flush=True)
                continue
            step_s[size, backend], points[size, backend] = r["step_s"], r["points"]
            results[size, backend] = r
            calls = ", ".join(f"{k} {v}" for k, v in r["dos_ops_calls"].items()) or "none"
            print(TABLE.row(size, r["backend"], r["points"], *bench.step_cells(r), tail=calls), flush=True)
            extras.add(f"autocast {r['amp']}, torch threads {r['threads']}")
            schedule = ", ".join(f"{k.removeprefix('sched/')} {v:.4g}" for k, v in r["schedule"].items())
            extras.add(f"schedule at the last step: {schedule}")
    print("; ".join(sorted(extras)) + f"; load average at the end {os.getloadavg()[0]:.2f}")
    print(
        "phase shares of (one worker's data time + step time); data = pipeline (read, views, collate) + "
        "to device, other = forward outside the model's phases (dispatch, stats) and the remainder:"
    )
    for (size, backend), r in results.items():
        shares = " | ".join(f"{k} {100 * v:.0f}%" for k, v in phase_shares(r).items())
        pairs_per_s = args.clouds / r["data_s"]
        print(f"  phases {size} {backend}: {shares}")
        print(
            f"  data {size} {backend}: pipeline {pairs_per_s:.2f} view pairs/s per worker vs training "
            f"{args.clouds / r['step_s']:.2f} view pairs/s ({1 / r['step_s']:.2f} steps/s): "
            f"{math.ceil(r['data_s'] / r['step_s'])} worker(s) keep this step fed"
        )
    for size in args.sizes:
        if (size, "fused") in step_s and (size, "reference") in step_s:
            same = points[size, "fused"] == points[size, "reference"]
            note = "" if same else " (different inputs: point counts differ)"
            speedup = step_s[size, "reference"] / step_s[size, "fused"]
            print(f"pretrain step {size}: {speedup:.2f}x fused vs reference{note}")


def main(argv: list[str] | None = None) -> None:
    parser = bench.training_step_parser(
        __doc__,
        DEFAULT_CONFIG,
        f"points per view, 0 = whole scan (default {DEFAULT_SIZES})",
        "clouds (scenes) per step",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="dos_ops backends (exactly one with --case)",
    )
    args = parser.parse_args(argv)
    bench.check_training_step_arguments(args, DEFAULT_SIZES)
    if args.case and len(args.backends) != 1:
        raise SystemExit(f"--case runs one case: give exactly one --backends value, got {args.backends}")
    bench.run_case_or_table(args, run_one_case, run_table)


if __name__ == "__main__":
    run_cli(main)
