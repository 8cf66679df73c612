"""Preemption: SIGTERM/SIGUSR1 finish the step, write model_last.pth, exit 3, and `resume=True`
continues bitwise as an uninterrupted run; a second signal during the save changes nothing."""

import os
import re
import signal
import subprocess
import time

import pytest
import torch
from engine_toys import FaultAtStep, train_py_command, train_py_env, write_toy_config

from pointcept.engines import Trainer, load_checkpoint
from pointcept.engines import checkpoint as checkpoint_module
from pointcept.utils.config import load_config
from pointcept.utils.errors import EXIT_PREEMPTED

OVERRIDES = dict(max_steps=30, save_interval=8, eval_interval=10, log_interval=1)


pytestmark = pytest.mark.usefixtures("single_thread")


def assert_same_run(a: Trainer, b: Trainer) -> None:
    b_state = b.model_without_ddp.state_dict()
    for key, value in a.model_without_ddp.state_dict().items():
        assert torch.equal(value, b_state[key]), key
    b_opt = b.optimizer.state_dict()["state"]
    for idx, state in a.optimizer.state_dict()["state"].items():
        assert torch.equal(state["exp_avg_sq"], b_opt[idx]["exp_avg_sq"])


def reference_run(cfg_path: str, tmp_path) -> Trainer:
    ref = Trainer(load_config(cfg_path, [f"save_path={tmp_path / 'reference'}", "+data.train.delay=0.0"]))
    ref.train()
    return ref


def wait_for(path, pattern: str, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and re.search(pattern, path.read_text()):
            return
        time.sleep(0.01)
    raise AssertionError(f"{pattern!r} never appeared in {path} (exit code {proc.poll()})")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_to_train_py_saves_exits_3_and_resumes_exactly(tmp_path, signum):
    run_dir = tmp_path / "run"
    cfg_path = write_toy_config(str(tmp_path / "run.py"), str(run_dir), **OVERRIDES)
    # Slow loading keeps the run alive long enough to be signalled mid-way.
    command = train_py_command(cfg_path, "+data.train.delay=0.02")
    proc = subprocess.Popen(command, env=train_py_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(run_dir / "train.log", r"Train: \[5/30\]", proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PREEMPTED == 3, err.decode()[-3000:]
    log = (run_dir / "train.log").read_text()
    stopped = re.search(rf"preempted by {signum.name}: stopped after step (\d+) of 30", log)
    assert stopped, log[-2000:]
    step = int(stopped.group(1))
    assert 5 <= step < 30 and "continue with -r true" in log
    assert "Train: [30/30]" not in log
    ckpt = load_checkpoint(str(run_dir / "model" / "model_last.pth"))
    assert ckpt["step"] == step and len(ckpt["rng"]) == 1

    resumed = Trainer(load_config(cfg_path, ["resume=True", "+data.train.delay=0.0"]))
    resumed.train()
    assert resumed.step == 30 and resumed.stopped_by is None
    assert f"resumed at step {step}" in (run_dir / "train.log").read_text()
    assert_same_run(resumed, reference_run(cfg_path, tmp_path))


def test_second_signal_during_the_save_does_not_corrupt_it(tmp_path, monkeypatch):
    cfg_path = write_toy_config(str(tmp_path / "run.py"), str(tmp_path / "run"), **OVERRIDES)
    cfg = load_config(cfg_path)
    # Step 11 is not a save_interval step: the preemption writes the checkpoint itself.
    cfg.hooks.append(dict(type="FaultAtStep", at=11, fault="signal"))
    real_save = torch.save
    during_save = []
    FaultAtStep.fired.clear()

    def save_then_signal(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        if FaultAtStep.fired:  # the preemption save: a second signal before fsync and rename
            os.kill(os.getpid(), signal.SIGUSR1)
            during_save.append(obj["step"])

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_signal)
    trainer = Trainer(cfg)
    trainer.train()
    assert trainer.step == 11 and trainer.stopped_by == "SIGTERM then SIGUSR1"
    assert during_save == [11]
    # The handlers are restored after train(): a signal would again end the process.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.undo()
    last = tmp_path / "run" / "model" / "model_last.pth"
    assert load_checkpoint(str(last))["step"] == 11
    assert not [p for p in os.listdir(last.parent) if p.endswith(".tmp")]

    resumed = Trainer(load_config(cfg_path, ["resume=True"]))
    resumed.train()
    assert_same_run(resumed, reference_run(cfg_path, tmp_path))
