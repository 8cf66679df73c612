"""PTv3 backbone forward+backward time and peak memory per number of points, on a real scan, CPU.

The input is the scan grid-sampled at ``--grid-size`` (first point per voxel), cropped to the
``size`` points nearest to the sensor (a size of 0 keeps the whole grid-sampled scan); the loss is
the mean square of the output features. Each size runs in a fresh subprocess (``--case``), so its
peak resident set size belongs to that size alone; the table also shows the RSS before the first
step (model + data), so the step's own footprint is the difference. "CPU s" is the process's
user+system time per step: on a shared machine it is a steadier measure than wall time.

Efficiency: the warm-up step of each case (so "warm-up s" includes the counting) counts the
floating-point operations of the training step by operator (``pointcept.utils.flops``: torch's
FlopCounterMode for dense ops, the submanifold convolutions from their neighbour pairs), and the
case measures the fp32 ``torch.mm`` peak and the copy bandwidth in the same process. A second
table gives per case the points entering each encoder stage, GFLOP (of which sparse conv),
GFLOP/s, that as a percentage of the mm peak, and ms per GFLOP. The fixed-geometry scaling
check (``--copies``) runs k translated, non-interacting copies of one crop in one cloud and says
whether the time per FLOP stays within 15 %. ``--bf16-check`` alternates fp32 and bf16-autocast
steps on the first size in one process and prints their time ratio and the relative output and
gradient differences.

    OMP_NUM_THREADS=2 python tools/bench_backbone.py [--sizes 30000 60000 0] [--copies 1 2 4] [--bf16-check]
        [--config ...] [--scan ...] [--cpe auto|fused|spconv]

``--cpe`` overrides the backbone's ``cpe_impl`` (how the CPE's submanifold conv runs, see
``pointcept.models.point_transformer_v3.CPE``).

The scan is ``--scan`` or, by default, the sample under ``$DOS_REAL_DATA`` (see tools/bench_common.py).
"""

import argparse
import os
import time

import numpy as np
from bench_common import (
    ROOT,
    Table,
    add_common_arguments,
    check_common_arguments,
    copy_bandwidth,
    grid_sampled_scan,
    matmul_peak_gflops,
    peak_rss_mb,
    print_result,
    run_case,
    time_steps,
)

from pointcept.utils.errors import add_debug_argument, run_cli

DEFAULT_CONFIG = os.path.join(ROOT, "configs/_base_/models/ptv3-base.py")
DEFAULT_SIZES = [30000, 60000, 0]
DEFAULT_COPIES = [1, 2, 4]
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
EFFICIENCY = Table(
    [
        ("case", 8, ""),
        ("points", 8, "d"),
        ("points per encoder stage", 34, ""),
        ("GFLOP", 7, ".4g"),
        ("sparse", 7, ".4g"),
        ("step s", 7, ".2f"),
        ("GFLOP/s", 8, ".1f"),
        ("% peak", 7, ".1f"),
        ("ms/GFLOP", 9, ".2f"),
    ]
)


def translated_copies(data: dict, copies: int, grid_size: float) -> dict:
    """``copies`` copies of one cloud in one cloud, each shifted along x by a power of two of voxels
    above the cloud's extent on every axis: no convolution, pooling cell or serialization block is
    shared between copies (the shift is a multiple of every pooling stride and, being a power of
    two beyond all coordinates, a whole block of the space-filling curves)."""
    import torch

    if copies == 1:
        return data
    shift = 1 << int(data["grid_coord"].max()).bit_length()
    out = {k: [] for k in ("coord", "grid_coord", "feat")}
    for c in range(copies):
        grid = data["grid_coord"].clone()
        grid[:, 0] += c * shift
        metres = torch.tensor([c * shift * grid_size, 0.0, 0.0])
        out["grid_coord"].append(grid)
        out["coord"].append(data["coord"] + metres)
        feat = data["feat"].clone()
        feat[:, :3] += metres
        out["feat"].append(feat)
    out = {k: torch.cat(v) for k, v in out.items()}
    return dict(out, offset=torch.tensor([len(out["coord"])]))


def sparse_conv_modules(model) -> tuple[list, object]:
    """The model's submanifold convolutions and their kernel-size getter, for ``StepFlopCounter``."""
    from pointcept.models.modules import SubMConv3d

    return [m for m in model.modules() if isinstance(m, SubMConv3d)], lambda m: m.conv.kernel_size[0]


def stage_points(model, data: dict) -> list[int]:
    """Points entering each encoder stage in one forward (no gradient)."""
    import torch

    counts, handles = [], []
    for stage in model.enc:
        hook = stage.blocks[0].register_forward_pre_hook(lambda m, a: counts.append(len(a[0].feat)))
        handles.append(hook)
    with torch.no_grad():
        model(data)
    for handle in handles:
        handle.remove()
    return counts


def run_one_case(args: argparse.Namespace) -> dict:
    """Build ``model.backbone`` of the config and time forward+backward on ``args.sizes[0]`` points
    (times ``args.copies`` translated copies); the warm-up step counts the FLOPs."""
    import torch

    from pointcept import ops
    from pointcept.utils.flops import StepFlopCounter

    torch.manual_seed(0)
    data = translated_copies(
        grid_sampled_scan(args.scan, args.grid_size, args.sizes[0]), args.copies, args.grid_size
    )
    model = build_backbone(args)
    rss_before = peak_rss_mb()
    stages = stage_points(model, data)
    amp = torch.bfloat16 if args.precision == "bf16" else None

    def step(net=model) -> None:
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            out = net(data).feat
        out.float().square().mean().backward()
        net.zero_grad(set_to_none=True)

    fused_cpe = model.enc[0].blocks[0].cpe.uses_fused(torch.device("cpu"))
    if fused_cpe:
        # The counter sees convolutions through spconv's modules: count one step of a spconv-CPE
        # twin (same weights, same neighbour pairs, same arithmetic), then time the fused model.
        twin = build_backbone(args, cpe="spconv")
        twin.load_state_dict(model.state_dict())
        counter = StepFlopCounter(*sparse_conv_modules(twin))
        torch.manual_seed(0)
        with counter:
            step(twin)
        del twin
        _, timing = time_steps(step, args.repeats)
    else:
        counter = StepFlopCounter(*sparse_conv_modules(model))
        _, timing = time_steps(step, args.repeats, warmup_context=counter)
    fused = ops.fused_available() and ops.get_backend() != "reference"
    top = counter.dense.most_common(6)
    return dict(
        points=len(data["coord"]),
        **timing,
        rss_before_mb=rss_before,
        peak_rss_mb=peak_rss_mb(),
        grid_pool_backend="fused" if fused else "reference",
        threads=torch.get_num_threads(),
        cpe="fused" if fused_cpe else "spconv",
        copies=args.copies,
        precision=args.precision,
        stage_points=stages,
        flops=counter.total,
        dense_flops=sum(counter.dense.values()),
        dense_flops_by_op=dict(top),
        sparse_conv_flops=counter.sparse_flops,
        sparse_conv_pairs=counter.sparse_pairs,
        sparse_conv_flops_seen_by_torch=counter.sparse_torch_flops,
        matmul_peak_gflops=matmul_peak_gflops(),
        copy_gbs=copy_bandwidth(3)[1],
    )


def bf16_check(args: argparse.Namespace) -> dict:
    """fp32 and bf16-autocast training steps alternating in one process on the same input and
    weights (same seed, so the same drop-path and curve shuffle): median step times and the
    relative differences of the output and of the gradient (L2 norm of the difference over the
    fp32 norm, output and whole gradient; worst parameter as well)."""
    import torch

    torch.manual_seed(0)
    data = grid_sampled_scan(args.scan, args.grid_size, args.sizes[0])
    model = build_backbone(args)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(dtype):
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = model(data).feat
        out.float().square().mean().backward()
        grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]
        model.zero_grad(set_to_none=True)
        return out.detach().float(), grads

    times = {"fp32": [], "bf16": []}
    results = {}
    for i in range(args.repeats + 1):
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            start = time.perf_counter()
            results[name] = step(dtype)
            if i:
                times[name].append(time.perf_counter() - start)
    (out32, g32), (out16, g16) = results["fp32"], results["bf16"]

    def rel(a, b):
        return float((a - b).norm() / b.norm().clamp_min(1e-30))

    flat32, flat16 = torch.cat([g.flatten() for g in g32]), torch.cat([g.flatten() for g in g16])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    worst = max((rel(b, a), n) for a, b, n in zip(g32, g16, names) if a.norm() > 0)
    return dict(
        points=len(data["coord"]),
        fp32_s=float(np.median(times["fp32"] or [float("nan")])),
        bf16_s=float(np.median(times["bf16"] or [float("nan")])),
        output_rel_diff=rel(out16, out32),
        grad_rel_diff=rel(flat16, flat32),
        grad_cosine=float(torch.nn.functional.cosine_similarity(flat16.double(), flat32.double(), dim=0)),
        worst_param_grad_rel_diff=worst[0],
        worst_param=worst[1],
        cpu_bf16=cpu_has_bf16(),
    )


def cpu_has_bf16() -> str:
    """The bf16 instruction-set flags of this CPU (from /proc/cpuinfo), or ``none``."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    found = sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile"))
    return " ".join(found) or "none"


def build_backbone(args: argparse.Namespace, cpe: str | None = None):
    """The config's backbone in train mode, with ``cpe`` (else ``--cpe``) overriding its ``cpe_impl``."""
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    cfg = load_config(args.config)["model"]["backbone"]
    if cpe or args.cpe:
        cfg["cpe_impl"] = cpe or args.cpe
    return build_model(cfg).train()


def case_argv(args: argparse.Namespace, size: int, *extra: str) -> list[str]:
    argv = ["--sizes", str(size), "--config", args.config, "--scan", args.scan]
    argv += [
        "--grid-size",
        str(args.grid_size),
        "--repeats",
        str(args.repeats),
        "--precision",
        args.precision,
    ]
    argv += ["--cpe", args.cpe] if args.cpe else []
    return argv + list(extra)


def efficiency_row(label: str, r: dict) -> str:
    gflop = r["flops"] / 1e9
    rate = gflop / r["step_s"]
    return EFFICIENCY.row(
        label,
        r["points"],
        "/".join(str(n) for n in r["stage_points"]),
        gflop,
        r["sparse_conv_flops"] / 1e9,
        r["step_s"],
        rate,
        100 * rate / r["matmul_peak_gflops"],
        r["step_s"] / gflop * 1e3,
    )


def run_table(args: argparse.Namespace) -> None:
    print(
        f"config {os.path.relpath(args.config, ROOT)}, scan {args.scan}, grid {args.grid_size} m, CPU, train mode; "
        f"load average {os.getloadavg()[0]:.2f} (timings are only meaningful on an idle machine)"
    )
    print(TABLE.header(), flush=True)
    backends, results, measured = set(), [], {}
    for size in args.sizes:
        r = run_case(__file__, case_argv(args, size))
        if isinstance(r, str):
            print(TABLE.row(size, tail=r), flush=True)
            continue
        results.append((str(size or "full"), r))
        measured[size] = r
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
    print("; ".join(sorted(backends)) + f"; load average {os.getloadavg()[0]:.2f}")
    if not results:
        return
    r = results[0][1]
    print(
        f"fp32 torch.mm 2048^3 peak {r['matmul_peak_gflops']:.0f} GFLOP/s, copy bandwidth {r['copy_gbs']:.1f} GB/s "
        "(measured in each case; the first case's shown)"
    )
    print("FLOPs of one training step (forward + backward; sparse convs from their neighbour pairs):")
    print(EFFICIENCY.header(), flush=True)
    for label, r in results:
        print(efficiency_row(label, r), flush=True)
    for label, r in results:
        ops = ", ".join(f"{op} {f / 1e9:.0f}" for op, f in r["dense_flops_by_op"].items())
        seen = r["sparse_conv_flops_seen_by_torch"] / 1e9
        print(
            f"  {label}: dense GFLOP by op: {ops}; sparse conv pairs {r['sparse_conv_pairs']}, torch saw {seen:.1f} GFLOP of them"
        )
    if args.copies:
        scaling_check(args, measured.get(args.copies_size))
    if args.bf16_check:
        run_bf16_check(args)


def scaling_check(args: argparse.Namespace, single: dict | None) -> None:
    """The table of ``args.copies`` copies of the ``args.copies_size`` crop; ``single``: that
    crop's result when the size table already measured it (reused for k = 1)."""
    size = args.copies_size
    print(f"fixed-geometry scaling: k translated copies of the {size}-point crop in one cloud", flush=True)
    print(EFFICIENCY.header(), flush=True)
    per_flop = {}
    for k in args.copies:
        if k == 1 and single is not None:
            r = single
        else:
            r = run_case(__file__, case_argv(args, size, "--copies", str(k)))
        if isinstance(r, str):
            print(EFFICIENCY.row(f"k={k}", tail=r), flush=True)
            continue
        per_flop[k] = r["step_s"] / r["flops"]
        print(efficiency_row(f"k={k}", r), flush=True)
    if len(per_flop) > 1:
        spread = max(per_flop.values()) / min(per_flop.values()) - 1
        verdict = "flat" if spread <= 0.15 else "NOT flat"
        print(
            f"time per FLOP varies by {100 * spread:.0f}% over k = {sorted(per_flop)}: {verdict} within 15%"
        )


def run_bf16_check(args: argparse.Namespace) -> None:
    size = args.sizes[0]
    r = run_case(__file__, case_argv(args, size, "--bf16-check"))
    if isinstance(r, str):
        print(f"bf16 check {size}: {r}")
        return
    print(
        f"bf16 autocast vs fp32 at {r['points']} points (CPU flags: {r['cpu_bf16']}): fp32 {r['fp32_s']:.2f} s, "
        f"bf16 {r['bf16_s']:.2f} s, ratio bf16/fp32 {r['bf16_s'] / r['fp32_s']:.2f}; output rel. diff "
        f"{r['output_rel_diff']:.3g}, gradient rel. diff {r['grad_rel_diff']:.3g} (cosine {r['grad_cosine']:.4f}, "
        f"worst parameter {r['worst_param_grad_rel_diff']:.3g}: {r['worst_param']})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser, DEFAULT_CONFIG, f"points per case, 0 = whole scan (default {DEFAULT_SIZES})")
    parser.add_argument("--grid-size", type=float, default=0.05, help="voxel size in metres (default 0.05)")
    parser.add_argument(
        "--copies",
        type=int,
        nargs="*",
        default=DEFAULT_COPIES,
        help=f"k of the fixed-geometry scaling check (default {DEFAULT_COPIES}; none: skip); with --case, one k",
    )
    parser.add_argument(
        "--copies-size",
        type=int,
        default=None,
        help="crop copied by the scaling check (default: the first size)",
    )
    parser.add_argument(
        "--cpe", choices=["auto", "fused", "spconv"], default=None, help="override the backbone's cpe_impl"
    )
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="a case's autocast")
    parser.add_argument(
        "--bf16-check",
        action="store_true",
        help="also compare fp32 with bf16 autocast on the first size (times, output and gradient differences)",
    )
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    args.sizes = args.sizes if args.sizes is not None else DEFAULT_SIZES
    args.copies_size = args.sizes[0] if args.copies_size is None else args.copies_size
    if any(k < 1 for k in args.copies):
        raise SystemExit(f"--copies must be >= 1, got {args.copies}")
    check_common_arguments(args)
    if args.case:
        if args.bf16_check:
            print_result(bf16_check(args))
            return
        args.copies = args.copies[0] if args.copies else 1
        print_result(run_one_case(args))
    else:
        run_table(args)


if __name__ == "__main__":
    run_cli(main)
