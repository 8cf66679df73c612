"""Exact resume after SIGKILL: tools/train.py is killed at an arbitrary step after it wrote a
mid-run checkpoint, resumed, and must end with bitwise the same weights as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import torch
from engine_toys import write_toy_config

from pointcept.engines import Trainer, load_checkpoint
from pointcept.utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERRIDES = dict(max_steps=30, save_interval=4, eval_interval=10, log_interval=5)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    killed_dir = tmp_path / "killed"
    # The killed run loads slowly (delay per sample) so it is still running when we kill it.
    slow = dict(
        OVERRIDES,
        data=dict(
            num_classes=4,
            ignore_index=-1,
            train=dict(type="ToySegDataset", num_samples=12, num_points=64, seed=1, delay=0.02),
            val=dict(type="ToySegDataset", num_samples=4, num_points=64, seed=2, jitter=0.0),
        ),
    )
    cfg_path = write_toy_config(str(tmp_path / "killed.py"), str(killed_dir), **slow)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "tools", "train.py"), "--config-file", cfg_path],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = killed_dir / "model" / "model_last.pth"
    deadline = time.monotonic() + 60
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.15)  # let it run on past the checkpoint: the kill lands at an arbitrary step
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    saved_step = load_checkpoint(str(last))["step"]
    assert 0 < saved_step < OVERRIDES["max_steps"]

    # Resume (same data apart from the loading delay, which does not change samples).
    resumed_cfg = load_config(cfg_path, ["resume=True", "data.train.delay=0.0"])
    resumed = Trainer(resumed_cfg)
    resumed.train()
    assert resumed.step == OVERRIDES["max_steps"]

    ref_cfg = load_config(cfg_path, [f"save_path={tmp_path / 'reference'}", "data.train.delay=0.0"])
    reference = Trainer(ref_cfg)
    reference.train()

    ref_state = reference.model_without_ddp.state_dict()
    for key, value in resumed.model_without_ddp.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
    ref_opt = reference.optimizer.state_dict()["state"]
    for idx, state in resumed.optimizer.state_dict()["state"].items():
        assert torch.equal(state["exp_avg_sq"], ref_opt[idx]["exp_avg_sq"])
    log = (killed_dir / "train.log").read_text()
    assert f"resumed at step {saved_step}" in log
