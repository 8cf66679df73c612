"""Resuming with another number of processes, and preemption under DDP.

The rule (docs/long_runs.md): model, optimizer, scheduler, step and the data of every step
continue exactly (the global batch is unchanged); ranks that wrote the checkpoint continue their
RNG streams, new ranks seed theirs from (seed, rank, step). A stop signal that reaches one rank
stops every rank after the same step.
"""

import os
import re
import signal
import subprocess
import time

import pytest
import torch
from engine_toys import train_py_command, train_py_env, write_toy_config

from pointcept.engines import Trainer, load_checkpoint, save_checkpoint
from pointcept.engines.hooks.checkpoint import restore_rank_rng
from pointcept.utils.config import load_config
from pointcept.utils.seed import derive_seed, get_rng_state, set_seed

# No ignored labels: DDP's mean of per-rank mean losses equals the global mean (see test_ddp.py).
TRAIN = dict(type="ToySegDataset", num_samples=12, num_points=64, seed=1, ignore_ratio=0.0)
OVERRIDES = dict(
    max_steps=12,
    save_interval=12,
    eval_interval=12,
    log_interval=1,
    evaluate=False,
    data=dict(num_classes=4, ignore_index=-1, train=TRAIN),
)


pytestmark = pytest.mark.usefixtures("single_thread")


def torchrun(cfg_path: str, *options: str) -> subprocess.Popen:
    cmd = train_py_command(cfg_path, *options, nproc=2)
    return subprocess.Popen(
        cmd, env=train_py_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def rank_pid(launcher_pid: int, rank: int) -> int:
    """The pid of the training process of ``rank`` among the launcher's children."""
    children = []
    for tid in os.listdir(f"/proc/{launcher_pid}/task"):
        with open(f"/proc/{launcher_pid}/task/{tid}/children") as f:
            children += [int(p) for p in f.read().split()]
    for pid in children:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"RANK={rank}".encode() in f.read().split(b"\0"):
                return pid
    raise AssertionError(f"no child of {launcher_pid} has RANK={rank}")


def single_reference(cfg_path: str, tmp_path) -> dict:
    ref = Trainer(load_config(cfg_path, [f"save_path={tmp_path / 'reference'}", "+data.train.delay=0.0"]))
    ref.train()
    return ref.model_without_ddp.state_dict()


def assert_close_states(a: dict, b: dict) -> None:
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-5, atol=1e-6)


def test_rank_rng_rule():
    states = [get_rng_state(include_cuda=False)]
    expected = torch.rand(3)
    torch.rand(5)  # move on
    restore_rank_rng(states, rank=0, seed=7, step=4)
    assert torch.equal(torch.rand(3), expected)  # an existing rank continues its own stream
    restore_rank_rng(states, rank=1, seed=7, step=4)
    new_rank = torch.rand(3)
    set_seed(derive_seed(7, 1, 4))
    assert torch.equal(torch.rand(3), new_rank)  # a new rank: seeded by (seed, rank, step)
    restore_rank_rng(states, rank=2, seed=7, step=4)
    assert not torch.equal(torch.rand(3), new_rank)


def test_resume_keeps_the_state_of_ranks_that_existed(tmp_path):
    """A 1-process resume of a checkpoint written by 2 ranks continues rank 0's stream exactly."""
    cfg_path = write_toy_config(
        str(tmp_path / "run.py"), str(tmp_path / "run"), **dict(OVERRIDES, save_interval=4)
    )
    Trainer(load_config(cfg_path, ["max_steps=4", "scheduler=None"])).train()
    last = str(tmp_path / "run" / "model" / "model_last.pth")
    ckpt = load_checkpoint(last)
    set_seed(123)
    ckpt["rng"] = [ckpt["rng"][0], get_rng_state(include_cuda=False)]  # as if 2 ranks wrote it
    save_checkpoint(last, ckpt)
    resumed = Trainer(load_config(cfg_path, ["resume=True", "scheduler=None"]))
    resumed.train()
    reference = Trainer(load_config(cfg_path, [f"save_path={tmp_path / 'ref'}", "scheduler=None"]))
    reference.train()
    ref_state = reference.model_without_ddp.state_dict()
    for key, value in resumed.model_without_ddp.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
    # the model's own random draws continue rank 0's saved stream (weights alone would not show it)
    assert resumed.storage.latest("dropout_draw") == reference.storage.latest("dropout_draw")
    log = (tmp_path / "run" / "train.log").read_text()
    assert "was written by 2 rank(s), this run has 1: model, optimizer, scheduler, step and data order" in log
    assert "ranks below 1 continue their saved RNG streams" in log


def test_signal_to_one_ddp_rank_stops_both_then_resume_on_one_process(tmp_path):
    slow = dict(OVERRIDES, data=dict(OVERRIDES["data"], train=dict(TRAIN, delay=0.1)))
    cfg_path = write_toy_config(str(tmp_path / "ddp.py"), str(tmp_path / "ddp"), **slow)
    proc = torchrun(cfg_path)
    log_path = tmp_path / "ddp" / "train.log"
    deadline = time.monotonic() + 180
    while not (log_path.exists() and "Train: [3/12]" in log_path.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.01)
    os.kill(rank_pid(proc.pid, 1), signal.SIGTERM)  # only rank 1 is told
    out, err = proc.communicate(timeout=180)
    assert proc.returncode != 0 and re.search(r"exitcode\s*:\s*3", err), err[-3000:]
    log = log_path.read_text()
    stopped = re.search(
        r"preempted by a stop signal received by another rank: stopped after step (\d+) of 12", log
    )
    assert stopped, log[-3000:]
    step = int(stopped.group(1))
    assert f"preempted by SIGTERM: stopped after step {step} of 12" in out  # rank 1's console, same step
    ckpt = load_checkpoint(str(tmp_path / "ddp" / "model" / "model_last.pth"))
    assert ckpt["step"] == step and 3 <= step < 12 and len(ckpt["rng"]) == 2

    resumed = Trainer(load_config(cfg_path, ["resume=True", "+data.train.delay=0.0"]))
    resumed.train()
    assert resumed.step == 12
    assert "was written by 2 rank(s), this run has 1" in log_path.read_text()
    assert_close_states(resumed.model_without_ddp.state_dict(), single_reference(cfg_path, tmp_path))


def test_single_process_checkpoint_resumes_on_two_processes(tmp_path):
    cfg_path = write_toy_config(
        str(tmp_path / "one.py"), str(tmp_path / "one"), **dict(OVERRIDES, save_interval=5)
    )
    cfg = load_config(cfg_path)
    cfg.hooks.append(dict(type="FaultAtStep", at=5, fault="crash"))
    with pytest.raises(RuntimeError, match="simulated crash after step 5"):
        Trainer(cfg).train()
    proc = torchrun(cfg_path, "resume=True")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    log = (tmp_path / "one" / "train.log").read_text()
    assert "resumed at step 5" in log and "world size 2" in log
    assert "was written by 1 rank(s), this run has 2" in log
    assert out.count("was written by 1 rank(s), this run has 2") == 2  # a warning on every rank's console
    final = load_checkpoint(str(tmp_path / "one" / "model" / "model_last.pth"))
    assert final["step"] == 12 and len(final["rng"]) == 2
    assert_close_states(final["model"], single_reference(cfg_path, tmp_path))


def test_a_different_batch_size_continues_from_the_sample_count(tmp_path):
    cfg_path = write_toy_config(
        str(tmp_path / "run.py"), str(tmp_path / "run"), **dict(OVERRIDES, save_interval=4)
    )
    Trainer(load_config(cfg_path, ["max_steps=4", "scheduler=None"])).train()  # 3 steps per epoch
    assert load_checkpoint(str(tmp_path / "run" / "model" / "model_last.pth"))["sampler"] == dict(
        epoch=1, index=1
    )
    resumed = Trainer(load_config(cfg_path, ["resume=True", "scheduler=None", "batch_size=2"]))
    resumed.call_hooks("before_train")
    # 4 samples into epoch 1 = batch 2 of 6 at batch_size 2; 9 samples would round up to the next epoch
    assert (resumed.epoch, resumed.epoch_index) == (1, 2)
    assert resumed.train_sampler.position_after_samples(1, 9) == (1, 5)
    assert resumed.train_sampler.position_after_samples(1, 11) == (2, 0)
    log = (tmp_path / "run" / "train.log").read_text()
    assert (
        "was trained with batch_size=4, this run uses 2: the sampler continues from the global sample count"
        in log
    )
