"""NaN/Inf loss terms or gradients: policy "stop" names the step and the term and leaves the last
checkpoint and the weights of the previous step; policy "skip" drops the update (optimizer,
scheduler, EMA, buffers), counts it in the log and the checkpoint, and stops after too many in a
row; a checkpoint is never written from non-finite weights."""

import copy
from types import SimpleNamespace

import pytest
import torch
from engine_toys import load_toy_config

from pointcept.engines import Trainer, load_checkpoint
from pointcept.engines.amp import build_grad_scaler
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.engines.hooks.dos import DOSScheduleHook
from pointcept.engines.nonfinite import NonFiniteGuard
from pointcept.engines.step import train_step
from pointcept.utils.config import load_config
from pointcept.utils.errors import NonFiniteError
from pointcept.utils.registry import ConfigError

BASE = dict(max_steps=8, save_interval=4, eval_interval=8, log_interval=2, evaluate=False)


pytestmark = pytest.mark.usefixtures("single_thread")


def toy_cfg(tmp_path, name="run", nan_at=(), nan_mode="loss", **overrides):
    model = dict(type="ToySegmentor", in_channels=3, num_classes=4, hidden=16, nan_at=list(nan_at))
    model["nan_mode"] = nan_mode
    return load_toy_config(tmp_path, name, model=model, **{**BASE, **overrides})


@HOOKS.register_module()
class WeightsPerStep(HookBase):
    """Records a copy of the model weights after every step."""

    def __init__(self):
        self.states = {}

    def after_step(self):
        self.states[self.trainer.step] = copy.deepcopy(self.trainer.model_without_ddp.state_dict())


def weights_hook(trainer) -> WeightsPerStep:
    return next(h for h in trainer.hooks if isinstance(h, WeightsPerStep))


def assert_equal_states(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    "mode, named",
    [
        ("loss", "step 6: non-finite loss term(s) loss = nan, loss_aux = nan"),
        ("grad", "step 6: non-finite gradient norm nan"),
    ],
)
def test_stop_names_step_and_term_and_keeps_the_last_checkpoint(tmp_path, mode, named):
    trainer = Trainer(toy_cfg(tmp_path, nan_at=(6,), nan_mode=mode))
    with pytest.raises(NonFiniteError) as info:
        trainer.train()
    message = str(info.value)
    assert message.startswith(named) and "the last checkpoint is intact" in message
    assert "nonfinite=dict(policy='skip')" in message
    # The weights in memory are those of step 5: the optimizer never saw the bad gradients.
    ref_cfg = toy_cfg(tmp_path, "ref")
    ref_cfg.hooks.append(dict(type="WeightsPerStep"))
    reference = Trainer(ref_cfg)
    reference.train()
    assert trainer.step == 5
    assert_equal_states(trainer.model_without_ddp.state_dict(), weights_hook(reference).states[5])
    ckpt = load_checkpoint(str(tmp_path / "run" / "model" / "model_last.pth"))
    assert ckpt["step"] == 4
    assert_equal_states(ckpt["model"], weights_hook(reference).states[4])


@pytest.mark.parametrize("mode", ["loss", "grad"])
def test_skip_drops_the_update_counts_it_and_trains_on(tmp_path, mode):
    cfg = toy_cfg(tmp_path, nan_at=(6,), nan_mode=mode, nonfinite=dict(policy="skip", max_skips=1))
    cfg.hooks.append(dict(type="WeightsPerStep"))
    trainer = Trainer(cfg)
    trainer.train()
    states = weights_hook(trainer).states
    assert trainer.step == 8 and trainer.nonfinite.skipped_total == 1
    assert_equal_states(states[6], states[5])  # the skipped step changed nothing
    assert not torch.equal(states[7]["head.weight"], states[6]["head.weight"])  # training went on
    assert all(torch.isfinite(v).all() for v in states[8].values())
    # AdamW made 7 steps and the scheduler 7, not 8
    steps = {float(s["step"]) for s in trainer.optimizer.state_dict()["state"].values()}
    assert steps == {7.0}
    assert trainer.scheduler.state_dict()["last_epoch"] == 7
    log = (tmp_path / "run" / "train.log").read_text()
    assert "step 6: non-finite" in log and "step skipped" in log
    assert "1 in a row, 1 in total, max_skips=1" in log
    ckpt = load_checkpoint(str(tmp_path / "run" / "model" / "model_last.pth"))
    assert ckpt["step"] == 8 and ckpt["nonfinite"] == dict(skipped_total=1, skipped_in_a_row=0)
    # the counters come back on resume
    resumed = Trainer(load_config(str(tmp_path / "run.py"), ["resume=True"]))
    resumed.train()
    assert resumed.nonfinite.skipped_total == 1


def test_skip_stops_after_more_than_max_skips_in_a_row(tmp_path):
    cfg = toy_cfg(tmp_path, nan_at=(3, 4, 5), nonfinite=dict(policy="skip", max_skips=2))
    trainer = Trainer(cfg)
    with pytest.raises(
        NonFiniteError, match=r"^step 5: .*3 non-finite steps in a row, more than nonfinite.max_skips=2"
    ):
        trainer.train()
    assert trainer.nonfinite.skipped_total == 3


def test_a_checkpoint_is_never_written_from_non_finite_weights(tmp_path):
    cfg = toy_cfg(tmp_path, save_interval=2, nonfinite=dict(policy="skip"))
    cfg.hooks.insert(1, dict(type="FaultAtStep", at=4, fault="poison"))  # before the CheckpointSaver
    with pytest.raises(NonFiniteError, match="step 4: model tensor 'head.bias' holds NaN/Inf; refusing"):
        Trainer(cfg).train()
    assert load_checkpoint(str(tmp_path / "run" / "model" / "model_last.pth"))["step"] == 2


def test_skip_restores_buffers_and_leaves_the_optimizer_alone():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, batch):
            return dict(loss=self.net(batch["x"]).square().mean())

    wrapper = Wrapper().train()
    optimizer = torch.optim.AdamW(wrapper.parameters(), lr=0.1)
    scaler = build_grad_scaler(torch.device("cpu"), None)
    guard = NonFiniteGuard("skip", max_skips=3)
    before = copy.deepcopy(wrapper.state_dict())
    x = torch.randn(8, 3)
    x[2, 0] = float("nan")  # poisons the BatchNorm running statistics in the forward pass
    train_step(
        wrapper, dict(x=x), optimizer, scaler, device=torch.device("cpu"), step_number=1, nonfinite=guard
    )
    assert guard.last_skipped and guard.skipped_in_a_row == 1
    assert_equal_states(wrapper.state_dict(), before)
    assert optimizer.state_dict()["state"] == {}
    assert all(p.grad is None for p in wrapper.parameters())
    train_step(
        wrapper, dict(x=torch.randn(8, 3)), optimizer, scaler, device=torch.device("cpu"), nonfinite=guard
    )
    assert not guard.last_skipped and guard.skipped_in_a_row == 0 and guard.skipped_total == 1
    assert not torch.equal(wrapper.state_dict()["net.0.weight"], before["net.0.weight"])


def test_ema_teacher_is_not_updated_after_a_skipped_step():
    momenta = []
    model = SimpleNamespace(update_teacher=momenta.append)
    hook = DOSScheduleHook()
    hook.trainer = SimpleNamespace(
        step=3, max_steps=10, step_skipped=True, model_without_ddp=model, storage=None
    )
    hook.after_step()
    assert momenta == []
    hook.trainer.step_skipped = False
    hook.trainer.storage = SimpleNamespace(put=lambda *a: None)
    hook.after_step()
    assert momenta == [pytest.approx(hook.momentum(3, 10))]


@pytest.mark.parametrize(
    "value, message",
    [
        (dict(policy="ignore"), "nonfinite.policy must be one of ('stop', 'skip'), got 'ignore'"),
        (dict(policy="skip", max_skips=-1), "nonfinite.max_skips must be an integer >= 0, got -1"),
        (dict(policy="skip", limit=3), "nonfinite has unknown key(s) ['limit']"),
    ],
)
def test_bad_nonfinite_config_is_refused(value, message):
    with pytest.raises(ConfigError) as info:
        NonFiniteGuard.from_config(value)
    assert message in str(info.value)
