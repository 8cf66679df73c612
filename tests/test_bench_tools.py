"""tools/bench_backbone.py, tools/bench_pretrain.py and tools/bench_common.py on a generated scan
with the tiny presets: the entry points run, the table rows hold what the cases measured, the
pretraining case runs the training step and the DOS schedule hook. No timing is asserted."""

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
    assert pts_per_s == pytest.approx(600 / step_s, rel=0.05, abs=1)
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
