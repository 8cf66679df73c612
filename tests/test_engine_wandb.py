"""Optional Weights & Biases writer: a fake ``wandb`` module records what the trainer sends, so the
test needs neither the package nor a network."""

import sys
import types

import pytest
import torch
from engine_toys import write_toy_config

from pointcept.engines import Trainer
from pointcept.engines.writers import WANDB_ID_FILE, MultiWriter
from pointcept.utils.config import load_config
from pointcept.utils.registry import ConfigError


class FakeRun:
    def __init__(self, calls):
        self.calls = calls

    def log(self, data, step):
        self.calls.append(("log", data, step))

    def finish(self):
        self.calls.append(("finish",))


class FakeHistogram:
    def __init__(self, values):
        self.values = values


@pytest.fixture
def fake_wandb(monkeypatch):
    module = types.ModuleType("wandb")
    module.calls = []
    module.Histogram = FakeHistogram

    def init(**kwargs):
        module.calls.append(("init", kwargs))
        return FakeRun(module.calls)

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def toy(tmp_path, name="run", **overrides):
    base = dict(max_steps=4, log_interval=2, eval_interval=4, save_interval=4, enable_tensorboard=False)
    path = write_toy_config(str(tmp_path / f"{name}.py"), str(tmp_path / name), **{**base, **overrides})
    return load_config(path)


def test_trainer_logs_scalars_histograms_and_metrics(tmp_path, fake_wandb):
    torch.set_num_threads(1)
    trainer = Trainer(toy(tmp_path, enable_wandb=True, wandb_project="dos-test"))
    trainer.train()
    calls = fake_wandb.calls
    assert calls[0][0] == "init"
    init = calls[0][1]
    run_id = (tmp_path / "run" / WANDB_ID_FILE).read_text().strip()
    assert init["project"] == "dos-test" and init["name"] == f"{tmp_path.name}/run"
    assert init["dir"] == str(tmp_path / "run") and init["id"] == run_id and init["resume"] == "allow"
    assert init["config"]["max_steps"] == 4 and init["config"]["model"]["type"] == "ToySegmentor"
    assert calls[-1] == ("finish",)
    logs = [
        (step, tag, value)
        for kind, *rest in calls
        if kind == "log"
        for data, step in [rest]
        for tag, value in data.items()
    ]
    scalars = {(step, tag): value for step, tag, value in logs if isinstance(value, float)}
    assert {s for s, t in scalars if t == "train/loss"} == {2, 4}
    line = [x for x in (tmp_path / "run" / "train.log").read_text().splitlines() if "Train: [4/4]" in x][0]
    assert f"loss: {scalars[(4, 'train/loss')]:.4f}" in line
    assert scalars[(4, "params/lr")] == 0.0  # cosine schedule ends at 0
    assert scalars[(4, "val/mIoU")] == pytest.approx(trainer.best_metric_value)
    hist = [(step, tag, value) for step, tag, value in logs if isinstance(value, FakeHistogram)]
    assert [(s, t) for s, t, _ in hist] == [(2, "train/class_usage"), (4, "train/class_usage")]
    assert hist[-1][2].values.shape == (4,)

    # a resumed run continues the same W&B run
    fake_wandb.calls.clear()
    Trainer(toy(tmp_path, enable_wandb=True, resume=True, max_steps=4))
    assert fake_wandb.calls[0][1]["id"] == run_id


def test_wandb_next_to_tensorboard_and_explicit_name(tmp_path, fake_wandb):
    trainer = Trainer(toy(tmp_path, enable_wandb=True, enable_tensorboard=True, wandb_name="my run"))
    assert isinstance(trainer.writer, MultiWriter) and len(trainer.writer.writers) == 2
    assert fake_wandb.calls[0][1]["name"] == "my run" and fake_wandb.calls[0][1]["project"] == "dos"
    trainer.writer.add_scalar("x", 3, 7)
    assert fake_wandb.calls[-1] == ("log", {"x": 3.0}, 7)
    trainer.writer.close()


def test_enabled_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ConfigError, match=r"enable_wandb=True needs the wandb package.*pip install wandb"):
        Trainer(toy(tmp_path, enable_wandb=True))
    assert Trainer(toy(tmp_path, "off")).writer is None  # off by default: never imported
