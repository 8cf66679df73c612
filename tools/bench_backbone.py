"""PTv3 backbone forward+backward time and peak memory per number of points, on a real scan, CPU.

The input is the scan grid-sampled at ``--grid-size`` (first point per voxel), cropped to the
``size`` points nearest to the sensor (a size of 0 keeps the whole grid-sampled scan); the loss is
the mean square of the output features. Each size runs in a fresh subprocess (``--case``), so its
peak resident set size belongs to that size alone; the table also shows the RSS before the first
step (model + data), so the step's own footprint is the difference. "CPU s" is the process's
user+system time per step: on a shared machine it is a steadier measure than wall time.

    OMP_NUM_THREADS=2 python tools/bench_backbone.py [--sizes 30000 60000 0] [--config ...] [--scan ...]
        [--cpe auto|fused|spconv]

``--cpe`` overrides the backbone's ``cpe_impl`` (how the CPE's submanifold conv runs, see
``pointcept.models.point_transformer_v3.CPE``).

The scan is ``--scan`` or, by default, the sample under ``$DOS_REAL_DATA`` (see tools/bench_common.py).
"""

import argparse
import os

from bench_common import (
    ROOT,
    Table,
    add_common_arguments,
    check_common_arguments,
    grid_sampled_scan,
    peak_rss_mb,
    run_case,
    run_case_or_table,
    time_steps,
)

from pointcept.utils.errors import add_debug_argument, run_cli

DEFAULT_CONFIG = os.path.join(ROOT, "configs/_base_/models/ptv3-base.py")
DEFAULT_SIZES = [30000, 60000, 0]
TABLE = Table(
    [
        ("points", 8, "d"),
        ("warm-up s", 10, ".2f"),
        ("fwd+bwd s", 10, ".2f"),
        ("CPU s", 8, ".1f"),
        ("RSS before MB", 14, ".0f"),
        ("peak RSS MB", 12, ".0f"),
        ("pts/s", 8, ".0f"),
    ]
)


def run_one_case(args: argparse.Namespace) -> dict:
    """Build ``model.backbone`` of the config and time forward+backward on ``args.sizes[0]`` points."""
    import torch

    from pointcept import ops
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    torch.manual_seed(0)
    data = grid_sampled_scan(args.scan, args.grid_size, args.sizes[0])
    cfg = load_config(args.config)["model"]["backbone"]
    if args.cpe:
        cfg["cpe_impl"] = args.cpe
    model = build_model(cfg).train()
    rss_before = peak_rss_mb()

    def step() -> None:
        model(data).feat.square().mean().backward()
        model.zero_grad(set_to_none=True)

    _, timing = time_steps(step, args.repeats)
    fused = ops.fused_available() and ops.get_backend() != "reference"
    return dict(
        points=len(data["coord"]),
        **timing,
        rss_before_mb=rss_before,
        peak_rss_mb=peak_rss_mb(),
        grid_pool_backend="fused" if fused else "reference",
        cpe="fused" if model.enc[0].blocks[0].cpe.uses_fused(torch.device("cpu")) else "spconv",
        threads=torch.get_num_threads(),
    )


def run_table(args: argparse.Namespace) -> None:
    print(
        f"config {os.path.relpath(args.config, ROOT)}, scan {args.scan}, grid {args.grid_size} m, CPU, train mode"
    )
    print(TABLE.header(), flush=True)
    backends = set()
    for size in args.sizes:
        argv = ["--sizes", str(size), "--config", args.config, "--scan", args.scan]
        argv += ["--grid-size", str(args.grid_size), "--repeats", str(args.repeats)]
        argv += ["--cpe", args.cpe] if args.cpe else []
        r = run_case(__file__, argv)
        if isinstance(r, str):
            print(TABLE.row(size, tail=r), flush=True)
            continue
        print(
            TABLE.row(
                r["points"],
                r["first_s"],
                r["step_s"],
                r["step_cpu_s"],
                r["rss_before_mb"],
                r["peak_rss_mb"],
                r["points"] / r["step_s"],
            ),
            flush=True,
        )
        backends.add(f"grid_pool {r['grid_pool_backend']}, torch threads {r['threads']}, CPE {r['cpe']}")
    print("; ".join(sorted(backends)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser, DEFAULT_CONFIG, f"points per case, 0 = whole scan (default {DEFAULT_SIZES})")
    parser.add_argument("--grid-size", type=float, default=0.05, help="voxel size in metres (default 0.05)")
    parser.add_argument(
        "--cpe", choices=["auto", "fused", "spconv"], default=None, help="override the backbone's cpe_impl"
    )
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    args.sizes = args.sizes if args.sizes is not None else DEFAULT_SIZES
    check_common_arguments(args)
    run_case_or_table(args, run_one_case, run_table)


if __name__ == "__main__":
    run_cli(main)
