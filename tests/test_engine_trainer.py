"""Trainer with the default hooks on a toy dataset/model: hook order, logging, checkpoints,
weight loading with key maps, config errors, bf16 autocast, exact in-process resume with workers."""

import math
import os

import pytest
import torch
from engine_toys import write_toy_config

from pointcept.engines import Trainer, load_checkpoint
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.utils.config import load_config
from pointcept.utils.registry import ConfigError


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_cfg(tmp_path, name="run", **overrides):
    save_path = str(tmp_path / name)
    path = write_toy_config(str(tmp_path / f"{name}.py"), save_path, **overrides)
    return load_config(path)


@HOOKS.register_module()
class RecordingHook(HookBase):
    def __init__(self, fail_at: int | None = None):
        self.events, self.fail_at = [], fail_at

    def before_train(self):
        self.events.append("before_train")

    def before_epoch(self):
        self.events.append(f"before_epoch{self.trainer.epoch}")

    def before_step(self):
        self.trainer.forward_kwargs["momentum"] = 0.5
        self.events.append("before_step")

    def after_step(self):
        self.events.append(f"after_step{self.trainer.step}")
        if self.trainer.step == self.fail_at:
            raise RuntimeError(f"simulated crash at step {self.fail_at}")

    def after_epoch(self):
        self.events.append(f"after_epoch{self.trainer.epoch}")

    def after_train(self):
        self.events.append("after_train")


class RecordingWriter:
    def __init__(self):
        self.scalars, self.histograms = {}, {}

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((step, value))

    def add_histogram(self, tag, values, step):
        self.histograms.setdefault(tag, []).append(step)

    def close(self):
        pass


def test_training_hooks_logging_and_checkpoints(tmp_path, monkeypatch):
    writer = RecordingWriter()
    monkeypatch.setattr(Trainer, "build_writer", lambda self: writer)
    cfg = toy_cfg(tmp_path)
    cfg.hooks.append(dict(type="RecordingHook"))
    trainer = Trainer(cfg)
    recorder = trainer.hooks[-1]
    trainer.train()

    ev = recorder.events
    assert ev[:3] == ["before_train", "before_epoch0", "before_step"]
    assert ev[-2:] == ["after_epoch3", "after_train"]
    assert ev.count("before_step") == 12 and ev.count("before_epoch1") == 1
    assert ev.index("after_epoch0") == ev.index("after_step3") + 1  # 12 samples / batch 4 = 3 steps per epoch
    assert trainer.step == 12 and trainer.forward_kwargs == {"momentum": 0.5}

    losses = [v for _, v in writer.scalars["train/loss"]]
    assert [s for s, _ in writer.scalars["train/loss"]] == [3, 6, 9, 12]
    assert losses[-1] < losses[0]
    assert [s for s, _ in writer.scalars["val/mIoU"]] == [6, 12]
    assert "params/lr" in writer.scalars and writer.histograms["train/class_usage"] == [3, 6, 9, 12]
    assert writer.scalars["val/mIoU"][-1][1] > 0.3

    log = open(os.path.join(cfg.save_path, "train.log")).read()
    assert "Train: [12/12]" in log and "ETA" in log and "loss:" in log and "lr:" in log
    assert "pole" in log and "mIoU" in log  # per-class table with names

    last = torch.load(os.path.join(cfg.save_path, "model", "model_last.pth"), weights_only=True)
    assert last["step"] == 12 and last["sampler"] == dict(epoch=4, index=0)
    assert "teacher.0.weight" in last["model"]  # EMA/teacher submodules are part of the model
    assert set(last) >= {"optimizer", "scheduler", "scaler", "rng", "config", "best_metric_value"}
    best = load_checkpoint(os.path.join(cfg.save_path, "model", "model_best.pth"))
    assert best["best_metric_value"] == pytest.approx(max(v for _, v in writer.scalars["val/mIoU"]))
    assert torch.equal(last["model"]["head.weight"], trainer.model_without_ddp.head.weight)


def test_weight_loading_with_key_map_and_resume_without_checkpoint(tmp_path, caplog):
    src = toy_cfg(tmp_path, "src", max_steps=3, evaluate=False)
    Trainer(src).train()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(src.save_path))
    weight = os.path.join(src.save_path, "model", "model_last.pth")
    src_model = load_checkpoint(weight)["model"]

    probe = toy_cfg(tmp_path, "probe", weight=weight, key_map={"backbone.": "backbone."})
    trainer = Trainer(probe)
    head_before = trainer.model_without_ddp.head.weight.clone()
    trainer.call_hooks("before_train")
    model = trainer.model_without_ddp
    assert torch.equal(model.backbone[0].weight, src_model["backbone.0.weight"])
    assert torch.equal(model.head.weight, head_before)

    strict = Trainer(toy_cfg(tmp_path, "strict", weight=weight, model=dict(type="ToySegmentor", hidden=16)))
    with pytest.raises(
        ValueError, match=r"strict weight loading failed: 0 missing key\(s\) \[\], 4 unexpected"
    ):
        strict.call_hooks("before_train")

    fresh = Trainer(toy_cfg(tmp_path, "fresh", resume=True, max_steps=1, evaluate=False))
    fresh.train()
    assert fresh.step == 1 and "does not exist; starting from scratch" in caplog.text


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="model: type 'Nope' is not in registry 'models'"):
        Trainer(toy_cfg(tmp_path, model=dict(type="Nope")))
    with pytest.raises(ConfigError, match=r"model: ToySegmentor got unexpected config key\(s\) \['depth'\]"):
        Trainer(toy_cfg(tmp_path, model=dict(type="ToySegmentor", depth=3)))
    with pytest.raises(
        ConfigError, match=r"data.train: ToySegDataset got unexpected config key\(s\) \['root'\]"
    ):
        Trainer(toy_cfg(tmp_path, data=dict(num_classes=4, train=dict(type="ToySegDataset", root="x"))))
    with pytest.raises(
        ConfigError, match=r"hooks\[0\]: CheckpointSaver got unexpected config key\(s\) \['every'\]"
    ):
        Trainer(toy_cfg(tmp_path, hooks=[dict(type="CheckpointSaver", every=1)]))
    cfg = toy_cfg(tmp_path)
    del cfg["max_steps"]
    with pytest.raises(ValueError, match=r"config is missing required key\(s\) \['max_steps'\]"):
        Trainer(cfg)


def test_bf16_autocast_on_cpu(tmp_path):
    trainer = Trainer(toy_cfg(tmp_path, amp_dtype="bf16", max_steps=3, evaluate=False))
    trainer.train()
    assert trainer.amp_dtype is torch.bfloat16 and not trainer.scaler.is_enabled()
    assert math.isfinite(trainer.storage.latest("loss"))


def test_crash_and_resume_is_exact_with_workers(tmp_path):
    common = dict(num_worker=2, max_steps=9, save_interval=3, eval_interval=5)

    def cfg(name, fail_at=None, **extra):
        c = toy_cfg(tmp_path, name, **common, **extra)
        c.hooks.append(dict(type="RecordingHook", fail_at=fail_at))  # sets forward_kwargs every step
        return c

    reference = Trainer(cfg("ref"))
    reference.train()
    # checkpoints at steps 3 and 5 (new best mIoU at the step-5 evaluation); crash right after step 5
    with pytest.raises(RuntimeError, match="simulated crash at step 5"):
        Trainer(cfg("crash", fail_at=5)).train()
    resumed = Trainer(cfg("crash", resume=True))
    resumed.train()
    assert resumed.hooks[-1].events[:2] == ["before_train", "before_epoch1"]
    assert resumed.hooks[-1].events.count("before_step") == 4
    ref_state = reference.model_without_ddp.state_dict()
    for key, value in resumed.model_without_ddp.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
    assert resumed.best_metric_value == reference.best_metric_value
