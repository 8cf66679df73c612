"""Multi-dataset DOS pretraining through tools/train.sh: generated SemanticKITTI scans plus the same
kind of scans written in Waymo's preprocessed layout, mixed by configs/multi/pretrain-dos-tiny.py."""

import os
import shutil
import subprocess
import sys

import numpy as np
import torch

from pointcept.utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def waymo_from_kitti(kitti_root, sequence, out):
    """Pointcept's Waymo layout ``<out>/training/<segment>/<timestamp>/{coord,strength}.npy``."""
    velodyne = os.path.join(kitti_root, "dataset", "sequences", sequence, "velodyne")
    for i, name in enumerate(sorted(os.listdir(velodyne))):
        scan = np.fromfile(os.path.join(velodyne, name), dtype=np.float32).reshape(-1, 4)
        frame = os.path.join(out, "training", f"segment-{sequence}", str(1000 + i))
        os.makedirs(frame)
        np.save(os.path.join(frame, "coord.npy"), scan[:, :3])
        np.save(os.path.join(frame, "strength.npy"), np.tanh(scan[:, 3:4]))
    return out


def test_two_step_multi_dataset_pretraining_through_train_sh(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", PYTHON=sys.executable)
    demo = tmp_path / "demo"
    subprocess.run(
        [sys.executable, "tools/generate_demo_data.py", "--out", str(demo), "--sequences", "00,08",
         "--scans-per-seq", "2", "--beams", "16", "--azimuth-steps", "256"],
        cwd=REPO, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    waymo = waymo_from_kitti(str(demo), "08", str(tmp_path / "waymo"))
    tree = tmp_path / "tree"
    os.makedirs(tree / "tools")
    for name in ("train.sh", "train.py", "launch_common.sh"):
        shutil.copy(os.path.join(REPO, "tools", name), tree / "tools" / name)
    shutil.copytree(os.path.join(REPO, "configs"), tree / "configs")
    cmd = [
        "sh", "tools/train.sh", "-d", "multi", "-c", "pretrain-dos-tiny", "-n", "e2e", "--", "--options",
        f"data.train.datasets.0.data_root={demo}", "data.train.datasets.1.type=WaymoDataset",
        f"data.train.datasets.1.data_root={waymo}", "data.train.datasets.1.split=training",
        "data.train.tags=['kitti','waymo']", "max_steps=2", "save_interval=2", "log_interval=1",
        "num_worker=0", "seed=0",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "loss_same" in log and "loss_cross" in log
    # The share of each dataset per step is logged; the two kitti train scans fill 3 of 4 slots.
    assert "mix/kitti" in log and "mix/waymo" in log
    exp = tree / "exp" / "multi" / "e2e"
    ckpt = torch.load(exp / "model" / "model_last.pth", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["sampler"] == {"epoch": 1, "index": 0}
    saved = load_config(str(exp / "config.py"))
    assert saved.data.train.type == "ConcatDataset" and saved.data.train.tags == ["kitti", "waymo"]
    assert [d["type"] for d in saved.data.train.datasets] == ["SemanticKITTIDataset", "WaymoDataset"]
