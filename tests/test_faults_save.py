"""A checkpoint write that fails (full disk, read-only location): the previous checkpoint stays
loadable, the error names the file and the reason, and ``save_error`` decides between stopping
and training on (retrying at the next save)."""

import errno
import os

import pytest
import torch
from engine_toys import load_toy_config

from pointcept.engines import Trainer, load_checkpoint
from pointcept.engines import checkpoint as checkpoint_module
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.utils.errors import DiskFullError, SaveError
from pointcept.utils.registry import ConfigError

BASE = dict(max_steps=12, save_interval=4, eval_interval=12, log_interval=4, evaluate=False)


pytestmark = pytest.mark.usefixtures("single_thread")


def toy_cfg(tmp_path, name="run", **overrides):
    return load_toy_config(tmp_path, name, **{**BASE, **overrides})


def last_path(tmp_path, name="run") -> str:
    return str(tmp_path / name / "model" / "model_last.pth")


@HOOKS.register_module()
class CheckpointOnDisk(HookBase):
    """After every step, the step held by model_last.pth (None before the first save)."""

    def __init__(self):
        self.steps = {}

    def after_step(self):
        path = os.path.join(self.trainer.save_path, "model", "model_last.pth")
        self.steps[self.trainer.step] = load_checkpoint(path)["step"] if os.path.exists(path) else None


def fail_saves_at(monkeypatch, steps: set, error: OSError) -> None:
    """torch.save inside checkpoint writes raises ``error`` for the states of ``steps``."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if obj["step"] in steps:
            f.write(b"partial bytes")  # something reached the temporary file
            raise error
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)


def test_disk_full_with_continue_warns_trains_on_and_retries(tmp_path, monkeypatch):
    fail_saves_at(monkeypatch, {8}, OSError(errno.ENOSPC, "No space left on device"))
    cfg = toy_cfg(tmp_path, save_error="continue")
    cfg.hooks.append(dict(type="CheckpointOnDisk"))
    trainer = Trainer(cfg)
    trainer.train()
    on_disk = next(h for h in trainer.hooks if isinstance(h, CheckpointOnDisk)).steps
    assert on_disk[4] == 4 and on_disk[8] == 4 and on_disk[12] == 12  # step 8 failed, 12 retried
    assert (
        f"CHECKPOINT NOT SAVED at step 8: disk full while writing {last_path(tmp_path)} (the previous "
        "checkpoint there is unchanged). save_error='continue': training goes on and the next save "
        "retries; the last good checkpoint is from step 4"
    ) in (tmp_path / "run" / "train.log").read_text()
    assert not [p for p in os.listdir(tmp_path / "run" / "model") if p.endswith(".tmp")]
    # Nothing else changed: the weights equal those of a run whose saves all succeeded.
    monkeypatch.undo()
    reference = Trainer(toy_cfg(tmp_path, "ref"))
    reference.train()
    final = load_checkpoint(last_path(tmp_path))["model"]
    for key, value in reference.model_without_ddp.state_dict().items():
        assert torch.equal(final[key], value), key


def test_disk_full_with_stop_raises_naming_the_file_and_keeps_the_previous(tmp_path, monkeypatch):
    fail_saves_at(monkeypatch, {8}, OSError(errno.ENOSPC, "No space left on device"))
    trainer = Trainer(toy_cfg(tmp_path))
    with pytest.raises(DiskFullError) as info:
        trainer.train()
    assert str(info.value) == (
        f"disk full while writing {last_path(tmp_path)} (the previous checkpoint there is unchanged)"
    )
    assert trainer.step == 8
    assert load_checkpoint(last_path(tmp_path))["step"] == 4


def test_read_only_location_simulated(tmp_path, monkeypatch):
    real_mkstemp = checkpoint_module.tempfile.mkstemp
    calls = []

    def mkstemp(*args, **kwargs):
        calls.append(kwargs.get("dir"))
        if len(calls) == 2:  # the second save (step 8)
            raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", mkstemp)
    trainer = Trainer(toy_cfg(tmp_path))
    with pytest.raises(SaveError) as info:
        trainer.train()
    assert str(info.value) == (
        f"cannot write {last_path(tmp_path)}: Read-only file system (the previous checkpoint there is unchanged)"
    )
    assert load_checkpoint(last_path(tmp_path))["step"] == 4


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_via_chmod(tmp_path):
    cfg = toy_cfg(tmp_path, save_error="continue")
    cfg.hooks.insert(0, dict(type="FaultAtStep", at=5, fault="read_only"))
    trainer = Trainer(cfg)
    try:
        trainer.train()
    finally:
        os.chmod(tmp_path / "run" / "model", 0o700)
    assert trainer.step == 12
    assert load_checkpoint(last_path(tmp_path))["step"] == 4


def test_bad_save_error_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"save_error must be one of \('stop', 'continue'\), got 'ignore'"):
        Trainer(toy_cfg(tmp_path, save_error="ignore"))
