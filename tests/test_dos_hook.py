"""DOSScheduleHook: schedule values, weight-decay groups, EMA calls and forward kwargs."""

import math
from types import SimpleNamespace

import pytest
import torch

from pointcept.engines.hooks.dos import DOSScheduleHook
from pointcept.engines.storage import ScalarStorage


class RecordingModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3, 3))
        self.bias = torch.nn.Parameter(torch.zeros(3))
        self.momenta = []

    def update_teacher(self, momentum):
        self.momenta.append(momentum)


def make_trainer(max_steps=100):
    model = RecordingModel()
    optimizer = torch.optim.AdamW(
        [dict(params=[model.weight], weight_decay=0.05), dict(params=[model.bias], weight_decay=0.0)], lr=0.1
    )
    return SimpleNamespace(
        model_without_ddp=model,
        optimizer=optimizer,
        storage=ScalarStorage(),
        forward_kwargs={},
        step=0,
        max_steps=max_steps,
    )


def run_step(hook, trainer):
    hook.before_step()
    trainer.step += 1
    hook.after_step()


def test_schedules_follow_their_formulas():
    trainer = make_trainer(max_steps=100)
    hook = DOSScheduleHook(
        tau_t_warmup_ratio=0.1,
        mask_size_start=0.25,
        mask_size=1.0,
        mask_ratio_start=0.3,
        mask_ratio=0.7,
        mask_warmup_ratio=0.2,
    )
    hook.trainer = trainer
    hook.before_train()
    seen = []
    for _ in range(100):
        run_step(hook, trainer)
        seen.append(
            (dict(trainer.forward_kwargs), [g["weight_decay"] for g in trainer.optimizer.param_groups])
        )
    kwargs0, wd0 = seen[0]
    assert set(kwargs0) == {"tau_t", "mask_size", "mask_ratio"}
    assert kwargs0["tau_t"] == pytest.approx(0.04)
    assert (kwargs0["mask_size"], kwargs0["mask_ratio"]) == (0.25, 0.3)
    assert wd0 == [pytest.approx(0.04), 0.0]
    kwargs5, _ = seen[5]
    assert kwargs5["tau_t"] == pytest.approx(0.04 + 0.03 * 5 / 10)
    # Warm-up over 0.2 * 100 = 20 steps: start + (final - start) * step / 20, to the last bit.
    assert kwargs5["mask_size"] == 0.25 + (1.0 - 0.25) * (5 / 20) == 0.4375
    assert kwargs5["mask_ratio"] == 0.3 + (0.7 - 0.3) * (5 / 20)
    assert kwargs5["mask_ratio"] == pytest.approx(0.4)
    kwargs7, _ = seen[7]
    assert kwargs7["mask_size"] == 0.25 + (1.0 - 0.25) * (7 / 20)
    assert kwargs7["mask_ratio"] == 0.3 + (0.7 - 0.3) * (7 / 20)
    kwargs50, wd50 = seen[50]
    assert kwargs50["tau_t"] == pytest.approx(0.07)
    assert (kwargs50["mask_size"], kwargs50["mask_ratio"]) == (1.0, 0.3 + (0.7 - 0.3))
    assert trainer.storage.latest("sched/mask_ratio") == kwargs50["mask_ratio"]
    assert wd50[0] == pytest.approx(0.2 - 0.16 * (1 + math.cos(math.pi * 0.5)) / 2)
    assert wd50[1] == 0.0
    momenta = trainer.model_without_ddp.momenta
    assert len(momenta) == 100
    # The momentum after step s is the cosine at s / max_steps; it reaches 1 at the end.
    assert momenta[0] == pytest.approx(1.0 - 0.006 * (1 + math.cos(math.pi * 0.01)) / 2)
    assert momenta[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(momenta, momenta[1:]))
    assert trainer.storage.latest("sched/momentum") == pytest.approx(1.0)


def test_mask_schedule_defaults_and_no_warmup():
    # No start values: the final size and ratio from step 0.
    values = DOSScheduleHook(mask_size=0.4, mask_ratio=0.6).values(0, 100)
    assert (values["mask_size"], values["mask_ratio"]) == (0.4, 0.6)
    # mask_warmup_ratio=0: the final values at once; defaults are 1 m cubes and ratio 0.7.
    hook = DOSScheduleHook(mask_size_start=0.1, mask_ratio_start=0.2, mask_warmup_ratio=0.0)
    values = hook.values(0, 100)
    assert (values["mask_size"], values["mask_ratio"]) == (0.1 + (1.0 - 0.1), 0.2 + (0.7 - 0.2))
    assert values["mask_size"] == pytest.approx(1.0) and values["mask_ratio"] == pytest.approx(0.7)


def test_resume_continues_the_same_schedule():
    full, resumed = make_trainer(), make_trainer()
    hooks = [DOSScheduleHook(), DOSScheduleHook()]
    for hook, trainer in zip(hooks, (full, resumed)):
        hook.trainer = trainer
        hook.before_train()
    for _ in range(40):
        run_step(hooks[0], full)
    resumed.step = 30
    for _ in range(10):
        run_step(hooks[1], resumed)
    assert full.model_without_ddp.momenta[-10:] == resumed.model_without_ddp.momenta
    assert full.forward_kwargs == resumed.forward_kwargs


def test_bad_configuration():
    with pytest.raises(ValueError, match="tau_t_warmup_ratio"):
        DOSScheduleHook(tau_t_warmup_ratio=1.5)
    with pytest.raises(ValueError, match="weight_decay_start"):
        DOSScheduleHook(weight_decay_end=None)
    with pytest.raises(ValueError, match="DOSScheduleHook: mask_ratio must be in \\[0, 1\\), got 1.0"):
        DOSScheduleHook(mask_ratio=1.0)
    with pytest.raises(ValueError, match="DOSScheduleHook: mask_ratio_start must be in"):
        DOSScheduleHook(mask_ratio_start=-0.1)
    with pytest.raises(ValueError, match="DOSScheduleHook: mask_size_start must be > 0, got 0"):
        DOSScheduleHook(mask_size_start=0)
    with pytest.raises(ValueError, match="DOSScheduleHook: mask_size must be > 0"):
        DOSScheduleHook(mask_size=-1.0)
    hook = DOSScheduleHook()
    hook.trainer = SimpleNamespace(model_without_ddp=torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="update_teacher"):
        hook.before_train()
