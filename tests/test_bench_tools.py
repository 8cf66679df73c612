"""tools/bench_backbone.py, tools/bench_pretrain.py and tools/bench_common.py on a generated scan
with the tiny presets: the entry points run, the table rows hold what the cases measured, the
pretraining case runs the training step and the DOS schedule hook. No timing is asserted."""

import glob
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pointcept import ops
from pointcept.engines.hooks.dos import DOSScheduleHook
from pointcept.utils.config import load_config
from tools.demo_data import SensorConfig, write_semantic_kitti

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKBONE_TINY = os.path.join(ROOT, "configs/_base_/models/ptv3-tiny.py")
PRETRAIN_TINY = os.path.join(ROOT, "configs/semantic_kitti/pretrain-dos-tiny.py")


def load_bench_common():
    spec = importlib.util.spec_from_file_location(
        "bench_common", os.path.join(ROOT, "tools", "bench_common.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name, *args, env=None):
    env = dict(os.environ if env is None else env, PYTHONPATH=ROOT, OMP_NUM_THREADS="2")
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("kitti")
    write_semantic_kitti(
        str(out), {"00": 1}, SensorConfig(beams=32, azimuth_steps=512), seed=1, with_labels=False
    )
    return str(out / "dataset/sequences/00/velodyne/000000.bin")


def test_grid_sampled_scan_keeps_the_first_point_per_voxel_then_the_nearest(tmp_path):
    points = np.array(
        [
            [0.31, 0.0, 0.0, 0.1],  # voxel (3, 0, 0), first
            [0.39, 0.0, 0.0, 0.2],  # voxel (3, 0, 0), dropped
            [-0.25, 0.0, 0.0, 0.3],  # voxel (-3, 0, 0)
            [0.05, 0.15, 0.0, 0.4],  # voxel (0, 1, 0)
            [2.0, 2.0, 0.5, 0.5],  # voxel (20, 20, 5), farthest
        ],
        dtype=np.float32,
    )
    path = str(tmp_path / "scan.bin")
    points.tofile(path)
    bench = load_bench_common()
    full = bench.grid_sampled_scan(path, grid_size=0.1)
    # Voxels in lexicographic order: (-3,0,0), (0,1,0), (3,0,0), (20,20,5).
    np.testing.assert_array_equal(full["feat"].numpy(), points[[2, 3, 0, 4]])
    np.testing.assert_array_equal(full["coord"].numpy(), points[[2, 3, 0, 4], :3])
    np.testing.assert_array_equal(full["grid_coord"].numpy(), [[0, 0, 0], [3, 1, 0], [6, 0, 0], [23, 20, 5]])
    assert full["offset"].tolist() == [4]
    near = bench.grid_sampled_scan(path, grid_size=0.1, num_points=2)
    # Nearest to the sensor in x-y: the points at 0.158 m and 0.25 m; grid re-based to minimum 0.
    np.testing.assert_array_equal(near["feat"].numpy(), points[[3, 2]])
    np.testing.assert_array_equal(near["grid_coord"].numpy(), [[3, 1, 0], [0, 0, 0]])
    assert near["offset"].tolist() == [2]


@pytest.mark.parametrize("tool", ["bench_backbone.py", "bench_pretrain.py"])
def test_benchmarks_need_a_scan_or_dos_real_data(tool, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DOS_REAL_DATA"}
    proc = run_tool(tool, "--sizes", "100", env=env)
    assert proc.returncode != 0
    assert "no scan given: pass --scan" in proc.stderr and "DOS_REAL_DATA" in proc.stderr
    proc = run_tool(tool, "--sizes", "100", env=dict(env, DOS_REAL_DATA=str(tmp_path)))
    assert proc.returncode != 0
    assert (
        f"scan not found: {tmp_path}/semantic_kitti/dataset/sequences/00/velodyne/000000.bin" in proc.stderr
    )


def test_bench_backbone_table_on_a_generated_scan(scan):
    proc = run_tool(
        "bench_backbone.py", "--config", BACKBONE_TINY, "--scan", scan, "--sizes", "600", "--repeats", "0"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[1].split() == "points warm-up s fwd+bwd s CPU s RSS before MB peak RSS MB pts/s".split()
    cells = lines[2].split()
    assert len(cells) == 7 and cells[0] == "600", lines[2]
    first_s, step_s, cpu_s, rss_before, peak_rss, pts_per_s = map(float, cells[1:])
    assert peak_rss >= rss_before > 0 and first_s > 0 and step_s > 0 and cpu_s >= 0
    # step_s is printed rounded, pts/s from the unrounded time: within the rounding's bounds
    step_lo, step_hi = printed_bounds(cells[2])
    assert 600 / step_hi - 1 <= pts_per_s <= 600 / step_lo + 1, lines[2]
    backend = "fused" if ops.fused_available() else "reference"
    assert lines[3].startswith(f"grid_pool {backend}, torch threads 2"), lines[3]


def test_bench_pretrain_case_runs_train_step_and_the_schedule_hook(scan):
    repeats = 1
    proc = run_tool(
        "bench_pretrain.py", "--case", "--backends", "reference", "--config", PRETRAIN_TINY, "--scan", scan,
        "--sizes", "600", "--repeats", str(repeats),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["backend"] == "reference" and r["dos_ops_calls"] == {}
    assert len(r["losses"]) == repeats + 1 and all(math.isfinite(x) for x in r["losses"])
    assert r["points"] == sum(r["view_points"]) and 0 < max(r["view_points"]) <= 600
    cfg = load_config(PRETRAIN_TINY)
    (hook_cfg,) = [h for h in cfg.hooks if h["type"] == "DOSScheduleHook"]
    hook = DOSScheduleHook(**{k: v for k, v in hook_cfg.items() if k != "type"})
    # The last step starts after max_steps // 2 + repeats completed steps; the EMA update follows it.
    last = cfg.max_steps // 2 + repeats
    values = hook.values(last, cfg.max_steps)
    assert r["schedule"]["sched/momentum"] == pytest.approx(hook.momentum(last + 1, cfg.max_steps))
    assert r["schedule"]["sched/tau_t"] == pytest.approx(values["tau_t"])
    # Mid-training: the mask warm-up is over, so the final cube size and ratio apply.
    assert r["schedule"]["sched/mask_size"] == hook.mask_size == values["mask_size"]
    assert r["schedule"]["sched/mask_ratio"] == hook.mask_ratio == values["mask_ratio"]
    assert r["schedule"]["sched/weight_decay"] == pytest.approx(values["weight_decay"])


@pytest.mark.skipif(not ops.fused_available(), reason="dos_ops extension not built")
def test_bench_pretrain_table_counts_fused_kernels_only_with_fused(scan):
    proc = run_tool(
        "bench_pretrain.py", "--config", PRETRAIN_TINY, "--scan", scan, "--sizes", "600", "--repeats", "0"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[1]: line for line in proc.stdout.splitlines() if line.split()[:1] == ["600"]}
    assert set(rows) == {"fused", "reference"}, proc.stdout
    assert rows["reference"].endswith("  none")
    fused_calls = rows["fused"].split("  ")[-1]
    assert "masked_gather" in fused_calls and "grid_pool" in fused_calls, rows["fused"]
    assert "schedule at the last step: mask_ratio " in proc.stdout and " mask_size " in proc.stdout
    assert "pretrain step 600: " in proc.stdout and "x fused vs reference" in proc.stdout


def printed_bounds(cell: str) -> tuple[float, float]:
    """The interval of values that print as ``cell`` (a fixed-point number), its lower end kept positive."""
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    half = 0.5 * 10.0**-decimals
    return max(float(cell) - half, 1e-12), float(cell) + half


def load_tool(name, monkeypatch):
    """tools/<name>.py as a module (its ``from bench_common import ...`` needs tools/ on the path)."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "tools"))
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_translated_copies_do_not_interact(monkeypatch):
    import torch

    from pointcept.ops import reference
    from pointcept.utils.flops import submanifold_pairs

    bench = load_tool("bench_backbone", monkeypatch)
    g = torch.Generator().manual_seed(0)
    grid = torch.unique(torch.randint(0, 9, (200, 3), generator=g), dim=0)
    coord = grid.float() * 0.05 + 0.01
    data = dict(coord=coord, grid_coord=grid, feat=torch.cat([coord, torch.rand(len(grid), 1)], 1))
    data["offset"] = torch.tensor([len(grid)])
    three = bench.translated_copies(data, 3, 0.05)
    n = len(grid)
    assert three["offset"].tolist() == [3 * n]
    # 9 voxels wide -> shifted by 16 voxels (0.8 m) per copy, along x only, features included.
    for c in range(3):
        part = slice(c * n, (c + 1) * n)
        torch.testing.assert_close(three["grid_coord"][part], grid + torch.tensor([16 * c, 0, 0]))
        torch.testing.assert_close(three["coord"][part], coord + torch.tensor([0.8 * c, 0.0, 0.0]))
        torch.testing.assert_close(three["feat"][part, :3], three["coord"][part])
    batch0 = torch.zeros(3 * n, 1, dtype=torch.long)
    pairs_three = submanifold_pairs(torch.cat([batch0, three["grid_coord"]], 1), 3)
    assert pairs_three == 3 * submanifold_pairs(torch.cat([batch0[:n], grid], 1), 3)
    for stride in (2, 4, 8, 16):
        cells = len(
            reference.grid_pool(
                three["grid_coord"], three["offset"], three["feat"], three["coord"], stride
            ).feat
        )
        single = len(reference.grid_pool(grid, data["offset"], data["feat"], coord, stride).feat)
        assert cells == 3 * single
    assert bench.translated_copies(data, 1, 0.05) is data


def test_bench_backbone_efficiency_scaling_and_bf16_lines(scan):
    proc = run_tool(
        "bench_backbone.py", "--config", BACKBONE_TINY, "--scan", scan, "--sizes", "600", "--repeats", "0",
        "--copies", "1", "2", "--bf16-check",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    peak_line = next(line for line in lines if line.startswith("fp32 torch.mm 2048^3 peak "))
    peak = float(peak_line.split()[4])
    assert peak > 0 and " GB/s" in peak_line
    header = "case points points per encoder stage GFLOP sparse step s GFLOP/s % peak ms/GFLOP".split()
    assert [line.split() for line in lines].count(header) == 2, proc.stdout
    rows = {
        line.split()[0]: line.split() for line in lines if line.split()[:1] in (["600"], ["k=1"], ["k=2"])
    }
    assert set(rows) == {"600", "k=1", "k=2"}, proc.stdout
    assert rows["k=1"][1:] == rows["600"][1:]  # k = 1 is the 600-point row, reused
    for case, cells in rows.items():
        assert len(cells) == 9, cells
        points, stages = int(cells[1]), [int(n) for n in cells[2].split("/")]
        gflop, sparse, step_s, rate, share, ms_per_gflop = map(float, cells[3:])
        # Tiny config: 4 encoder stages, the first holding every input point, pooling shrinks.
        assert stages[0] == points and len(stages) == 4 and stages == sorted(stages, reverse=True)
        # Derived columns come from unrounded values: compare within the printed cells' rounding.
        (gflop_lo, gflop_hi), (step_lo, step_hi) = printed_bounds(cells[3]), printed_bounds(cells[5])
        assert 0 < sparse < gflop and gflop_lo / step_hi - 0.05 <= rate <= gflop_hi / step_lo + 0.05, cells
        if case != "k=2":  # each case measures its own peak; the first case's is printed
            # rate printed to 0.1 GFLOP/s, the peak to 1 GFLOP/s, the share to 0.1 %
            assert (
                100 * (rate - 0.05) / (peak + 0.5) - 0.05
                <= share
                <= 100 * (rate + 0.05) / (peak - 0.5) + 0.05
            )
        assert 0 < share < 100
        assert step_lo / gflop_hi * 1e3 - 0.005 <= ms_per_gflop <= step_hi / gflop_lo * 1e3 + 0.005, cells
    assert int(rows["k=2"][1]) == 1200
    stages_1, stages_2 = (np.array(rows[k][2].split("/"), dtype=int) for k in ("k=1", "k=2"))
    np.testing.assert_array_equal(stages_2, 2 * stages_1)
    assert any(line.startswith("time per FLOP varies by ") and "over k = [1, 2]" in line for line in lines)
    assert any(
        line.startswith("  600: dense GFLOP by op: ") and "sparse conv pairs " in line for line in lines
    )
    bf16 = next(line for line in lines if line.startswith("bf16 autocast vs fp32 at 600 points"))
    assert "ratio bf16/fp32 " in bf16 and "output rel. diff " in bf16 and "gradient rel. diff " in bf16


def test_phase_shares_by_hand(monkeypatch):
    bench = load_tool("bench_pretrain", monkeypatch)
    phases = dict(
        schedule=0.1, to_device=0.2, forward=3.0, teacher_forward=1.0, student_forward=1.5, sinkhorn_loss=0.25,
        backward=4.0, optimizer=0.5, ema=0.2,
    )  # fmt: skip
    # Step 8.5 s: 0.5 s outside the top-level phases; 0.25 s of forward outside DOS's phases.
    shares = bench.phase_shares(dict(phase_s=phases, step_s=8.5, data_s=1.5))
    expected = {
        "data": 1.7, "teacher fwd": 1.0, "student fwd": 1.5, "backward": 4.0, "sinkhorn+loss": 0.25,
        "optimizer+EMA": 0.8, "other": 0.75,
    }  # fmt: skip
    assert shares == pytest.approx({k: v / 10.0 for k, v in expected.items()})
    assert sum(shares.values()) == pytest.approx(1.0)


def test_bench_pretrain_prints_phase_shares_and_data_rate(scan):
    proc = run_tool(
        "bench_pretrain.py", "--config", PRETRAIN_TINY, "--scan", scan, "--sizes", "600", "--repeats", "1",
        "--backends", "reference",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    shares = next(line for line in lines if line.startswith("  phases 600 reference: data "))
    values = dict(part.strip().rsplit(" ", 1) for part in shares.split(": ", 1)[1].split("|"))
    assert list(values) == [
        "data",
        "teacher fwd",
        "student fwd",
        "backward",
        "sinkhorn+loss",
        "optimizer+EMA",
        "other",
    ]
    percent = [float(v.rstrip("%")) for v in values.values()]
    assert all(p >= 0 for p in percent) and sum(percent) == pytest.approx(100, abs=4)
    assert percent[1] > 0 and percent[2] > 0 and percent[3] > 0
    rate = next(line for line in lines if line.startswith("  data 600 reference: pipeline "))
    assert " view pairs/s per worker vs training " in rate and "worker(s) keep this step fed" in rate


def test_grid_pool_packed_key_baseline_matches_the_reference(monkeypatch):
    import torch

    from pointcept.ops import reference

    bench = load_tool("bench_ops", monkeypatch)
    torch.manual_seed(0)
    grid_coord, offset = bench.lidar_like_grid(3, 500)
    feat = torch.randn(len(grid_coord), 5)
    coord = grid_coord.float() * 0.05
    pooled, mean_coord, cluster, head = bench.pool_packed_key_native(grid_coord, offset, feat, coord, 2)
    ref = reference.grid_pool(grid_coord, offset, feat, coord, 2)
    assert len(pooled) < len(feat)
    torch.testing.assert_close(pooled, ref.feat, rtol=0, atol=0)
    torch.testing.assert_close(mean_coord, ref.coord)
    torch.testing.assert_close(cluster, ref.cluster, rtol=0, atol=0)
    torch.testing.assert_close(head, ref.head, rtol=0, atol=0)


DET_CONFIG = """
_base_ = [{runtime!r}, {tiny!r}]
model = dict(
    type="CenterPoint",
    backbone=dict(enc_mode=True),
    num_classes=10,
    point_cloud_range=(-25.6, -25.6, -5.0, 25.6, 25.6, 3.0),
    bev_cell_size=0.8,
    upcast_level=2,
    neck=dict(channels=(32, 32), num_blocks=(1, 1)),
    head_channels=32,
)
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.01)
data = dict(train=dict(transform=[
    dict(type="GTSample", db_path="nowhere.npz", class_names=["car"], sample_groups=dict(car=1)),
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="PointClip", point_cloud_range=(-25.6, -25.6, -5.0, 25.6, 25.6, 3.0)),
    dict(type="GridSample", grid_size=0.1, mode="train", return_grid_coord=True),
    dict(type="ToTensor"),
    dict(type="Collect", keys=("coord", "grid_coord", "gt_boxes", "gt_labels"), feat_keys=("coord", "strength")),
]))
"""


@pytest.fixture(scope="module")
def nuscenes_sweep(tmp_path_factory):
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(-30, 30, (3000, 2)), rng.uniform(-2, 2, 3000), rng.integers(0, 256, (3000, 2))]
    path = tmp_path_factory.mktemp("nusc") / "sweep.pcd.bin"
    points.astype(np.float32).tofile(path)
    return str(path)


def test_bench_detection_case_and_table(nuscenes_sweep, tmp_path):
    config = tmp_path / "det-tiny.py"
    runtime = os.path.join(ROOT, "configs/_base_/default_runtime.py")
    config.write_text(DET_CONFIG.format(runtime=runtime, tiny=BACKBONE_TINY))
    args = ["--config", str(config), "--scan", nuscenes_sweep, "--repeats", "1", "--boxes", "12"]
    proc = run_tool("bench_detection.py", "--case", "--sizes", "1500", *args, "--clouds", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    # 2 clouds of the 1500 nearest points, clipped to the range and grid-sampled: fewer, never more.
    assert 0 < r["points"] <= 3000 and r["boxes"] <= 24
    assert len(r["losses"]) == 2 and all(math.isfinite(x) and x > 0 for x in r["losses"])
    assert r["peak_rss_mb"] >= r["rss_before_mb"] > 0 and r["step_s"] > 0
    table = run_tool("bench_detection.py", "--sizes", "1500", *args)
    assert table.returncode == 0, table.stderr[-3000:]
    lines = table.stdout.strip().splitlines()
    assert lines[1].split()[:3] == ["size", "points", "boxes"]
    cells = lines[2].split()
    assert cells[0] == "1500" and int(cells[2]) <= 12 and "->" in lines[2]
    assert "M parameters" in lines[3]


def test_bench_detection_needs_a_sweep(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DOS_REAL_DATA"}
    proc = run_tool("bench_detection.py", env=env)
    assert proc.returncode != 0 and "no scan given: pass --scan PATH/TO/LIDAR_TOP/NAME.pcd.bin" in proc.stderr
    proc = run_tool("bench_detection.py", env=dict(env, DOS_REAL_DATA=str(tmp_path)))
    assert f"scan not found: {tmp_path}/nuscenes/sweeps/LIDAR_TOP/" in proc.stderr


def test_tool_scripts_import_the_tools_package_only_after_putting_the_repo_on_the_path():
    """``python tools/X.py`` puts only tools/ on sys.path (the tests' PYTHONPATH hides this): a
    ``from tools.… import`` needs the script to insert the repository root first."""
    import ast

    for path in sorted(glob.glob(os.path.join(ROOT, "tools", "*.py"))):
        with open(path) as f:
            source = f.read()
        uses_package = any(
            isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tools"
            for node in ast.walk(ast.parse(source))
        )
        if uses_package:
            assert "sys.path.insert(0, ROOT)" in source, (
                f"{path} imports tools.* without the repo root on sys.path"
            )
