import importlib.util
from pathlib import Path

import pytest
import torch
from real_data import real_path, skip_unless_real

from pointcept.models import build_model
from pointcept.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCAN_PARTS = ("semantic_kitti", "dataset", "sequences", "00", "velodyne", "000000.bin")
SCAN = Path(real_path(*SCAN_PARTS))


def bench_common():
    """tools/bench_common.py: the scan loader shared with the benchmarks."""
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "tools" / "bench_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@skip_unless_real(*SCAN_PARTS)
def test_ptv3_base_forward_backward_on_a_real_scan():
    torch.manual_seed(0)
    cfg = load_config(str(ROOT / "configs/_base_/models/ptv3-base.py"))["model"]["backbone"]
    model = build_model(cfg).train()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(46.2e6, rel=0.01)
    data = bench_common().grid_sampled_scan(str(SCAN), grid_size=0.05, num_points=20000)
    point = model(data)
    assert point.feat.shape == (20000, 64)
    assert torch.isfinite(point.feat).all()
    point.feat.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
