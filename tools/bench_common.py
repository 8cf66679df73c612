"""Shared parts of the training benchmarks (``tools/bench_backbone.py``, ``tools/bench_pretrain.py``,
``tools/bench_detection.py``) and of the tests that run on a real scan.

Each benchmark prints a table with one row per case. A case runs in a fresh Python process,
``python tools/bench_<name>.py --case ...`` (documented in each script's ``--help``), which prints
its result as the last line of stdout, one JSON object; so the peak resident set size
(``ru_maxrss``) a case reports belongs to that case alone.

The sample scan is a SemanticKITTI velodyne ``.bin``: ``--scan``, or by default
``$DOS_REAL_DATA/semantic_kitti/dataset/sequences/00/velodyne/000000.bin``; there is no other default.
The detection benchmark reads a nuScenes ``.pcd.bin`` instead (default
``$DOS_REAL_DATA/`` + ``NUSCENES_SWEEP_IN_REAL_DATA``).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import SimpleNamespace

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA_ENV = "DOS_REAL_DATA"
SCAN_IN_REAL_DATA = "semantic_kitti/dataset/sequences/00/velodyne/000000.bin"
NUSCENES_SWEEP_IN_REAL_DATA = (
    "nuscenes/sweeps/LIDAR_TOP/n008-2018-08-01-15-16-36-0400__LIDAR_TOP__1533151603597909.pcd.bin"
)


# ---------------------------------------------------------------------------------- scan loading
def default_scan(in_real_data: str = SCAN_IN_REAL_DATA) -> str | None:
    """The sample scan ``in_real_data`` under ``$DOS_REAL_DATA``, or None when the variable is unset or empty."""
    real_data = os.environ.get(REAL_DATA_ENV)
    return os.path.join(real_data, in_real_data) if real_data else None


def resolve_scan(
    scan: str | None, in_real_data: str = SCAN_IN_REAL_DATA, example: str = "PATH/TO/velodyne/NNNNNN.bin"
) -> str:
    """``scan``, else the default; SystemExit with what to pass (``--scan example``) when neither names a file."""
    path = scan or default_scan(in_real_data)
    if path is None:
        raise SystemExit(
            f"no scan given: pass --scan {example}, or set {REAL_DATA_ENV} to the folder holding {in_real_data}"
        )
    if not os.path.isfile(path):
        where = "--scan" if scan else f"${REAL_DATA_ENV}/{in_real_data}"
        raise SystemExit(f"scan not found: {path} (from {where})")
    return path


def grid_sampled_scan(path: str, grid_size: float = 0.05, num_points: int = 0) -> dict:
    """A PTv3 input from a SemanticKITTI ``.bin``: the first point of each ``grid_size`` voxel
    (voxels in lexicographic order), cropped to the ``num_points`` nearest to the sensor in the
    x-y plane (0: keep all).

    Returns torch tensors ``coord`` (N, 3) float32, ``grid_coord`` (N, 3) int64 with minimum 0 over
    the kept points, ``feat`` (N, 4) = x, y, z, remission, and ``offset`` = [N].
    """
    import torch

    from pointcept.datasets.semantic_kitti import read_points

    scan = read_points(path)
    grid = np.floor(scan[:, :3] / grid_size).astype(np.int64)
    _, keep = np.unique(grid, axis=0, return_index=True)
    scan, grid = scan[keep], grid[keep]
    if 0 < num_points < len(scan):
        nearest = np.argsort(np.linalg.norm(scan[:, :2], axis=1), kind="stable")[:num_points]
        scan, grid = scan[nearest], grid[nearest]
    return dict(
        coord=torch.from_numpy(scan[:, :3].copy()),
        grid_coord=torch.from_numpy(grid - grid.min(0)),
        feat=torch.from_numpy(scan),
        offset=torch.tensor([len(scan)]),
    )


# ---------------------------------------------------------------------------------- measuring
def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(
    step: Callable[[], object], repeats: int, warmup_context: AbstractContextManager | None = None
) -> tuple[list, dict]:
    """Run ``step`` once as a warm-up (inside ``warmup_context``), then ``repeats`` timed times.

    Returns the step results and ``first_s`` (warm-up wall time), ``step_s`` and ``step_cpu_s``
    (medians of the timed steps' wall and CPU seconds; the warm-up's when ``repeats`` is 0).
    """
    results, times, cpu_times = [], [], []
    for i in range(repeats + 1):
        with warmup_context if i == 0 and warmup_context is not None else nullcontext():
            start, cpu_start = time.perf_counter(), cpu_seconds()
            results.append(step())
            times.append(time.perf_counter() - start)
            cpu_times.append(cpu_seconds() - cpu_start)
    timed = slice(1, None) if repeats else slice(0, 1)
    return results, dict(
        first_s=times[0],
        step_s=float(np.median(times[timed])),
        step_cpu_s=float(np.median(cpu_times[timed])),
    )


def synchronize() -> None:
    """Wait for queued GPU work, so wall-clock times cover the kernels (no-op without CUDA)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` after one untimed warm-up call."""
    fn()  # warm-up: allocator, lazy init
    times = []
    for _ in range(repeat):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(repeat: int, device=None) -> tuple[float, float]:
    """GB/s (read + write) of cloning a 256 MB tensor, and of copying it into an existing tensor.

    The clone includes first-touch page faults of the new tensor, which dominate on some VMs.
    """
    import torch

    x = torch.ones(64 * 1024 * 1024, device=device)
    y = torch.empty_like(x)
    nbytes = 2 * x.numel() * x.element_size()
    return nbytes / best_time(lambda: x.clone(), repeat) / 1e9, nbytes / best_time(
        lambda: y.copy_(x), repeat
    ) / 1e9


def matmul_peak_gflops(size: int = 2048, repeat: int = 5) -> float:
    """GFLOP/s of a ``size`` x ``size`` fp32 ``torch.mm`` (best of ``repeat``): the machine's
    practical fp32 peak with the current torch threads, against which a step's rate is given."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_time(lambda: torch.mm(a, b), repeat) / 1e9


# ---------------------------------------------------------------------------------- running cases
def add_common_arguments(
    parser: argparse.ArgumentParser,
    default_config: str,
    sizes_help: str,
    in_real_data: str = SCAN_IN_REAL_DATA,
    scan_kind: str = "SemanticKITTI velodyne .bin",
) -> None:
    """``--config``, ``--scan`` (a ``scan_kind``, default ``$DOS_REAL_DATA/<in_real_data>``), ``--sizes``,
    ``--repeats`` and ``--case``."""
    parser.add_argument(
        "--config", default=default_config, help=f"default: {os.path.relpath(default_config, ROOT)}"
    )
    parser.add_argument(
        "--scan",
        default=None,
        help=f"{scan_kind} (default: ${REAL_DATA_ENV}/{in_real_data})",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help=sizes_help)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument(
        "--case",
        action="store_true",
        help="run one case (a single --sizes value) in this process and print its result as one JSON "
        "line; the table runs each case this way in a fresh subprocess",
    )


def check_common_arguments(
    args: argparse.Namespace,
    in_real_data: str = SCAN_IN_REAL_DATA,
    example: str = "PATH/TO/velodyne/NNNNNN.bin",
) -> None:
    """Resolve ``args.scan`` (see ``resolve_scan``); SystemExit on a missing config or a negative size / repeat count."""
    args.scan = resolve_scan(args.scan, in_real_data, example)
    if not os.path.isfile(args.config):
        raise SystemExit(f"config not found: {args.config}")
    if args.repeats < 0 or min(args.sizes) < 0:
        raise SystemExit("--repeats and --sizes must be >= 0")
    if args.case and len(args.sizes) != 1:
        raise SystemExit(f"--case runs one case: give exactly one --sizes value, got {args.sizes}")


def print_result(result: dict) -> None:
    """A case's result, as the single JSON line :func:`run_case` reads."""
    print(json.dumps(result), flush=True)


def run_case(script: str, argv: list[str], env: dict | None = None) -> dict | str:
    """Run ``python script --case *argv`` in a fresh process with this checkout first on
    ``PYTHONPATH``: the case's JSON result, or a failure message (exit code, and the case's
    one-line ``error: ...`` report of a user error, else its last stderr line)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, script, "--case", *argv], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reported = [line for line in lines if line.startswith("error: ")] or lines
        return f"failed (exit {proc.returncode}): {reported[-1:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


STEP_COLUMNS = [
    ("warm-up s", 9, ".2f"),
    ("s/step", 7, ".2f"),
    ("CPU s", 6, ".1f"),
    ("points/s", 8, ".0f"),
    ("RSS before MB", 13, ".0f"),
    ("peak RSS MB", 11, ".0f"),
]
"""The columns of a training-step table after its case columns (pretraining and detection benchmarks)."""


class Table:
    """Fixed-width rows: ``columns`` is a list of (title, width, format spec for numbers);
    an optional free-text ``tail`` column ends each row. ``None`` prints as ``-``."""

    def __init__(self, columns: list[tuple[str, int, str]], tail: str | None = None):
        self.columns = columns
        self.tail = tail

    def header(self) -> str:
        titles = " ".join(f"{title:>{width}}" for title, width, _ in self.columns)
        return titles + (f"  {self.tail}" if self.tail else "")

    def row(self, *values, tail: str | None = None) -> str:
        """The given leading cells (fewer than the columns for a failed case), then ``tail``."""
        cells = []
        for value, (_, width, spec) in zip(values, self.columns):
            if value is None:
                cells.append(f"{'-':>{width}}")
            elif isinstance(value, str):
                cells.append(f"{value:>{width}}")
            else:
                cells.append(f"{value:>{width}{spec}}")
        return " ".join(cells) + (f"  {tail}" if tail else "")


# ---------------------------------------------------------------------------------- training cases
def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--amp`` (the config's ``amp_dtype``) and ``--device cpu|cuda``."""
    parser.add_argument("--amp", action="store_true", help="use the config's amp_dtype (default fp32)")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where the step runs (default cpu)"
    )


def check_device(args: argparse.Namespace) -> None:
    """SystemExit when ``--device cuda`` is asked for without CUDA."""
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: CUDA is not available (no GPU, driver or CUDA build of torch)")


def build_training(cfg, model, device, amp: bool) -> SimpleNamespace:
    """The config's optimizer (with ``param_dicts``, layer-wise lr decay, no-decay keywords), scheduler
    over ``cfg.max_steps``, grad scaler and autocast dtype (None unless ``amp``), as the trainer builds them.

    Returns a namespace with ``optimizer``, ``scheduler``, ``scaler``, ``amp_dtype``, ``max_steps`` and
    ``step_options``, the keyword arguments of ``train_step`` the trainer sets from the run (``device``,
    ``amp_dtype``, the config's ``clip_grad``).
    """
    from pointcept.engines import build_optimizer, build_scheduler
    from pointcept.engines.amp import build_grad_scaler, resolve_amp_dtype

    optimizer = build_optimizer(
        cfg.optimizer,
        model,
        param_dicts=cfg.get("param_dicts"),
        layer_decay=cfg.get("layer_decay"),
        no_decay_keywords=tuple(cfg.get("no_decay_keywords") or ()),
    )
    max_steps = int(cfg.max_steps)
    amp_dtype = resolve_amp_dtype(cfg.get("amp_dtype"), device) if amp else None
    return SimpleNamespace(
        optimizer=optimizer,
        scheduler=build_scheduler(cfg.get("scheduler"), optimizer, max_steps),
        scaler=build_grad_scaler(device, amp_dtype),
        amp_dtype=amp_dtype,
        max_steps=max_steps,
        step_options=dict(device=device, amp_dtype=amp_dtype, clip_grad=cfg.get("clip_grad")),
    )


def device_report(device, amp_dtype) -> dict:
    """What a case ran on: autocast dtype, torch threads, device type, attention kernel, CUDA peak memory."""
    import torch

    from pointcept.models import attention

    return dict(
        amp=str(amp_dtype),
        threads=torch.get_num_threads(),
        device=device.type,
        attention="flash_attn" if attention._flash_available(device) else "sdpa",
        **(
            {"cuda_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20} if device.type == "cuda" else {}
        ),
    )


def run_case_or_table(
    args: argparse.Namespace, run_one_case: Callable[[argparse.Namespace], dict], run_table: Callable
) -> None:
    """``--case``: print ``run_one_case(args)`` as the JSON line; otherwise ``run_table(args)``."""
    if args.case:
        print_result(run_one_case(args))
    else:
        run_table(args)


def training_step_parser(
    description: str,
    default_config: str,
    sizes_help: str,
    clouds_help: str,
    in_real_data: str = SCAN_IN_REAL_DATA,
    scan_kind: str = "SemanticKITTI velodyne .bin",
) -> argparse.ArgumentParser:
    """The parser of a training-step benchmark: the common arguments (``add_common_arguments``),
    ``--clouds`` (``clouds_help``; default 1), the device arguments and ``--debug``; the script adds its own."""
    from pointcept.utils.errors import add_debug_argument

    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser, default_config, sizes_help, in_real_data=in_real_data, scan_kind=scan_kind)
    parser.add_argument("--clouds", type=int, default=1, help=f"{clouds_help} (default 1)")
    add_device_arguments(parser)
    add_debug_argument(parser)
    return parser


def check_training_step_arguments(
    args: argparse.Namespace,
    default_sizes: list[int],
    in_real_data: str = SCAN_IN_REAL_DATA,
    example: str = "PATH/TO/velodyne/NNNNNN.bin",
) -> None:
    """Check the arguments of :func:`training_step_parser` in place: the device, ``args.sizes``
    (``default_sizes`` when not given), the common arguments and ``--clouds >= 1`` (SystemExit)."""
    check_device(args)
    args.sizes = args.sizes if args.sizes is not None else default_sizes
    check_common_arguments(args, in_real_data, example)
    if args.clouds < 1:
        raise SystemExit("--clouds must be >= 1")


def step_loss(model, batch: dict, training: SimpleNamespace, **kwargs) -> float:
    """One ``pointcept.engines.train_step`` with the optimizer, grad scaler, scheduler and
    ``step_options`` of ``training`` (:func:`build_training`); ``kwargs`` go to ``train_step``
    (``step_number``, ``storage``, ...). Returns the step's loss."""
    from pointcept.engines import train_step

    optimizing = (training.optimizer, training.scaler, training.scheduler)
    return float(train_step(model, batch, *optimizing, **training.step_options, **kwargs)["loss"])


def measure_steps(
    step: Callable[[], object], repeats: int, warmup_context: AbstractContextManager | None = None
) -> tuple[list, dict]:
    """:func:`time_steps`, with ``rss_before_mb`` (the peak RSS before the warm-up: model, optimizer,
    data) and ``peak_rss_mb`` (after the timed steps) added to the timing dict."""
    rss_before = peak_rss_mb()
    results, timing = time_steps(step, repeats, warmup_context)
    return results, dict(timing, rss_before_mb=rss_before, peak_rss_mb=peak_rss_mb())


def print_step_table_title(args: argparse.Namespace, what: str, inputs: str) -> None:
    """The line above a training-step table: ``what``, the config, the scan, ``inputs`` (clouds per
    step and what each carries), the device, the step counts and the load average."""
    print(
        f"{what}: config {os.path.relpath(args.config, ROOT)}, scan {args.scan}, {inputs}, {args.device}, "
        f"{args.repeats} timed step(s) after 1 warm-up; load average {os.getloadavg()[0]:.2f} "
        "(timings are only meaningful on an idle machine)"
    )


def training_case_argv(args: argparse.Namespace, size: int, *extra: str) -> list[str]:
    """The ``--case`` arguments of one ``size`` of a training-step table (arguments of
    :func:`training_step_parser`), then ``extra``."""
    argv = [
        "--sizes",
        str(size),
        "--config",
        args.config,
        "--scan",
        args.scan,
        "--repeats",
        str(args.repeats),
    ]
    argv += ["--clouds", str(args.clouds), "--device", args.device]
    return argv + (["--amp"] if args.amp else []) + list(extra)


def step_cells(r: dict) -> tuple:
    """The cells of :data:`STEP_COLUMNS` from a training-step case's result."""
    return (
        r["first_s"],
        r["step_s"],
        r["step_cpu_s"],
        r["points"] / r["step_s"],
        r["rss_before_mb"],
        r["peak_rss_mb"],
    )
