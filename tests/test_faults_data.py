"""Data loading faults: a sample that raises (in the main process or a DataLoader worker) is
reported with its index and file; a worker that hangs past ``data_timeout`` or dies is reported
with the samples of the batch it was loading."""

import subprocess

import numpy as np
import pytest
import torch
from engine_toys import load_toy_config, train_py_command, train_py_env, write_toy_config

from pointcept.datasets import SemanticKITTIDataset
from pointcept.engines import Trainer
from pointcept.engines.sampler import SeededDataset
from pointcept.utils.errors import DataLoaderError, SampleError, is_user_error, user_error_message
from pointcept.utils.registry import ConfigError

BASE = dict(max_steps=4, save_interval=4, eval_interval=4, log_interval=2, evaluate=False)


pytestmark = pytest.mark.usefixtures("single_thread")


def toy_cfg(tmp_path, train: dict, **overrides):
    data = dict(
        num_classes=4, ignore_index=-1, train=dict(type="ToySegDataset", num_samples=12, seed=1, **train)
    )
    return load_toy_config(tmp_path, data=data, **{**BASE, **overrides})


def first_batch(trainer: Trainer) -> list[int]:
    return trainer.train_sampler.batch_indices(0, 0)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_sample_that_raises_is_named_with_index_and_file(tmp_path, workers):
    trainer = Trainer(toy_cfg(tmp_path, dict(files_dir="/data/toy"), num_worker=workers))
    bad = first_batch(trainer)[2]
    trainer.train_loader.dataset.dataset.fail_at = bad  # before train() forks the workers
    with pytest.raises(SampleError) as info:
        trainer.train()
    expected = (
        f"cannot load sample {bad} of ToySegDataset (/data/toy/scan_{bad:03d}.bin): "
        "ValueError: corrupt sample (simulated)"
    )
    assert is_user_error(info.value) and user_error_message(info.value) == expected
    if workers:
        assert "Caught SampleError in DataLoader worker process 0" in str(info.value)
    else:
        assert str(info.value) == expected and isinstance(info.value.__cause__, ValueError)


def test_a_corrupt_file_through_a_worker_names_index_and_file(tmp_path):
    velodyne = tmp_path / "dataset" / "sequences" / "00" / "velodyne"
    velodyne.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for frame in range(3):
        rng.normal(0, 5, (20, 4)).astype(np.float32).tofile(velodyne / f"{frame:06d}.bin")
    with open(velodyne / "000001.bin", "ab") as f:
        f.write(b"\0" * 6)  # truncated: not a multiple of 16 bytes
    dataset = SeededDataset(SemanticKITTIDataset(str(tmp_path), split="00"))
    loader = torch.utils.data.DataLoader(
        dataset, sampler=[(0, 5), (1, 6)], batch_size=1, num_workers=1, collate_fn=lambda b: b
    )
    with pytest.raises(SampleError) as info:
        list(loader)
    message = user_error_message(info.value)
    assert message.startswith(
        f"cannot load sample 1 of SemanticKITTIDataset ({velodyne / '000001.bin'}): ValueError:"
    )
    assert "truncated scan" in message


def test_train_py_prints_the_sample_error_in_one_line(tmp_path):
    cfg_path = write_toy_config(
        str(tmp_path / "run.py"),
        str(tmp_path / "run"),
        **BASE,
        num_worker=1,
        data=dict(
            num_classes=4,
            ignore_index=-1,
            train=dict(type="ToySegDataset", num_samples=12, seed=1, files_dir="/data/toy", fail_at=3),
        ),
    )
    proc = subprocess.run(
        train_py_command(cfg_path), env=train_py_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.splitlines()[-2:] == [
        "error: cannot load sample 3 of ToySegDataset (/data/toy/scan_003.bin): ValueError: corrupt sample (simulated)",
        "(add --debug for the traceback)",
    ], proc.stderr[-3000:]


def test_a_hanging_worker_times_out_naming_the_batch(tmp_path):
    trainer = Trainer(toy_cfg(tmp_path, dict(delay=0.8), num_worker=1, data_timeout=0.3))
    with pytest.raises(DataLoaderError) as info:
        trainer.train()
    assert str(info.value).startswith(
        "no batch arrived within data_timeout=0.3s at step 1 (epoch 0, batch 0); this rank's samples of "
        f"that batch are data.train indices {first_batch(trainer)}."
    )
    assert "raise data_timeout, or set num_worker=0" in str(info.value)


def test_a_dead_worker_is_reported_with_its_batch(tmp_path):
    trainer = Trainer(toy_cfg(tmp_path, {}, num_worker=1))
    trainer.train_loader.dataset.dataset.crash_at = first_batch(trainer)[0]
    with pytest.raises(DataLoaderError) as info:
        trainer.train()
    message = str(info.value)
    assert message.startswith("DataLoader worker (pid")
    assert "killed by signal" in message or "exited unexpectedly" in message
    assert (
        f"at step 1 (epoch 0, batch 0); this rank's samples of that batch are data.train indices {first_batch(trainer)}"
        in message
    )


def test_data_timeout_reaches_the_loaders_and_is_checked(tmp_path):
    trainer = Trainer(toy_cfg(tmp_path, {}, num_worker=2, data_timeout=7))
    assert trainer.train_loader.timeout == 7.0
    assert Trainer(toy_cfg(tmp_path, {}, num_worker=0, data_timeout=7)).train_loader.timeout == 0
    with pytest.raises(ConfigError, match=r"data_timeout must be >= 0 seconds \(0 = wait forever\), got -1"):
        Trainer(toy_cfg(tmp_path, {}, data_timeout=-1))
