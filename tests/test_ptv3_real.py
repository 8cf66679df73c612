from pathlib import Path

import numpy as np
import pytest
import torch
from real_data import real_path, skip_unless_real

from pointcept.models import build_model
from pointcept.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCAN_PARTS = ("semantic_kitti", "dataset", "sequences", "00", "velodyne", "000000.bin")
SCAN = Path(real_path(*SCAN_PARTS))


def grid_sampled_scan(path: Path, grid_size: float = 0.05, num_points: int = 20000) -> dict:
    """One point per 5 cm voxel, the ``num_points`` nearest to the sensor."""
    scan = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    grid = np.floor(scan[:, :3] / grid_size).astype(np.int64)
    _, keep = np.unique(grid, axis=0, return_index=True)
    scan, grid = scan[keep], grid[keep]
    nearest = np.argsort(np.linalg.norm(scan[:, :2], axis=1), kind="stable")[:num_points]
    scan, grid = scan[nearest], grid[nearest]
    return dict(
        coord=torch.from_numpy(scan[:, :3]),
        grid_coord=torch.from_numpy(grid - grid.min(0)),
        feat=torch.from_numpy(scan),
        offset=torch.tensor([len(scan)]),
    )


@skip_unless_real(*SCAN_PARTS)
def test_ptv3_base_forward_backward_on_a_real_scan():
    torch.manual_seed(0)
    cfg = load_config(str(ROOT / "configs/_base_/models/ptv3-base.py"))["model"]["backbone"]
    model = build_model(cfg).train()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(46.2e6, rel=0.01)
    data = grid_sampled_scan(SCAN)
    point = model(data)
    assert point.feat.shape == (20000, 64)
    assert torch.isfinite(point.feat).all()
    point.feat.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
