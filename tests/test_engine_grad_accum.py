"""Gradient accumulation (``grad_accum_steps``): k micro-batches of b samples train exactly like one
batch of k*b samples when the loss is a per-sample mean; DDP syncs once per step; resume is exact."""

import contextlib

import pytest
import torch
from engine_toys import ToySegmentor, torchrun_train, write_toy_config
from test_engine_trainer import single_thread  # noqa: F401  (autouse fixture: one torch thread)

from pointcept.engines import Trainer, load_checkpoint, train_step
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.utils.config import load_config
from pointcept.utils.registry import ConfigError

# Every cloud has 64 labelled points (no ignored label), so the point-mean cross-entropy of a batch
# is the mean of its clouds' losses. SGD, not Adam: Adam would hide a wrong loss scale.
COMMON = dict(
    model=dict(type="ToySegmentor", in_channels=3, num_classes=4, hidden=16),
    data=dict(
        num_classes=4,
        ignore_index=-1,
        train=dict(type="ToySegDataset", num_samples=12, num_points=64, seed=1, ignore_ratio=0.0),
        val=dict(type="ToySegDataset", num_samples=4, num_points=64, seed=2, jitter=0.0),
    ),
    optimizer=dict(type="SGD", lr=0.5, momentum=0.9),
    clip_grad=100.0,
    max_steps=8,
    save_interval=8,
    eval_interval=8,
    log_interval=1,
    evaluate=False,
)


def cfg(tmp_path, name, **overrides):
    path = write_toy_config(str(tmp_path / f"{name}.py"), str(tmp_path / name), **{**COMMON, **overrides})
    return load_config(path)


@HOOKS.register_module()
class CrashAfterStep(HookBase):
    def __init__(self, step: int):
        self.step = step

    def after_step(self):
        if self.trainer.step == self.step:
            raise RuntimeError(f"simulated crash after step {self.step}")


class CountingForwards:
    def __init__(self, trainer):
        self.sizes = []
        model = trainer.model_without_ddp
        forward = model.forward

        def counted(batch, **kwargs):
            self.sizes.append(int(batch["offset"].numel()))
            return forward(batch, **kwargs)

        model.forward = counted


def test_two_micro_batches_equal_one_double_batch(tmp_path):
    accum = Trainer(cfg(tmp_path, "accum", batch_size=4, grad_accum_steps=2))
    counted = CountingForwards(accum)
    accum.train()
    whole = Trainer(cfg(tmp_path, "whole", batch_size=4))
    whole.train()
    half = Trainer(cfg(tmp_path, "half", batch_size=2))  # same micro-batches, stepped one by one
    half.train()

    assert counted.sizes == [2] * 16  # 8 optimizer steps x 2 micro-batches of 2 clouds
    assert accum.step == whole.step == 8 and accum.scheduler.last_epoch == whole.scheduler.last_epoch == 8
    assert accum.epoch == whole.epoch == 2  # 12 clouds per epoch / 4 per step = 3 steps per epoch
    ref = whole.model_without_ddp.state_dict()
    for key, value in accum.model_without_ddp.state_dict().items():
        torch.testing.assert_close(value, ref[key], rtol=1e-5, atol=1e-6)
    # logged loss is the step's mean loss; the gradient norm is the double batch's
    assert accum.storage.latest("loss") == pytest.approx(whole.storage.latest("loss"), rel=1e-5)
    assert accum.storage.latest("grad_norm") == pytest.approx(whole.storage.latest("grad_norm"), rel=1e-5)
    # the comparison can fail: stepping after each micro-batch trains something else
    other = half.model_without_ddp.state_dict()
    assert max(float((v - other[k]).abs().max()) for k, v in ref.items()) > 1e-2


def test_train_step_scales_each_micro_batch_loss(tmp_path):
    torch.manual_seed(0)
    model = ToySegmentor(hidden=8)
    batch = dict(feat=torch.randn(40, 3), segment=torch.randint(0, 4, (40,)))
    halves = [{k: v[:20] for k, v in batch.items()}, {k: v[20:] for k, v in batch.items()}]
    grads = []
    for data in (batch, halves):
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        out = train_step(model, data, opt, scaler, device=torch.device("cpu"))
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert out["class_usage"].shape == (4,) and out["class_usage"].sum() == 20  # mean of the two


def test_ddp_syncs_only_on_the_last_micro_batch(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(ToySegmentor(hidden=8))
        calls = []
        original = ddp.no_sync

        @contextlib.contextmanager
        def recording():
            calls.append(len(calls))
            with original():
                yield

        ddp.no_sync = recording
        micro = [dict(feat=torch.randn(10, 3), segment=torch.randint(0, 4, (10,))) for _ in range(3)]
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        train_step(ddp, micro, opt, torch.amp.GradScaler("cpu", enabled=False), device=torch.device("cpu"))
        assert calls == [0, 1]  # micro-batches 1 and 2 of 3 without all-reduce
        train_step(ddp, micro[0], opt, torch.amp.GradScaler("cpu", enabled=False), device=torch.device("cpu"))
        assert calls == [0, 1]
    finally:
        dist.destroy_process_group()


def test_resume_mid_run_is_exact(tmp_path):
    run = dict(batch_size=4, grad_accum_steps=2, save_interval=3)
    reference = Trainer(cfg(tmp_path, "ref", **run))
    reference.train()
    crashing = cfg(tmp_path, "cut", **run)
    crashing.hooks.append(dict(type="CrashAfterStep", step=5))
    with pytest.raises(RuntimeError, match="simulated crash after step 5"):
        Trainer(crashing).train()
    assert load_checkpoint(str(tmp_path / "cut" / "model" / "model_last.pth"))["step"] == 3
    resumed = Trainer(cfg(tmp_path, "cut", resume=True, **run))
    counted = CountingForwards(resumed)
    resumed.train()
    assert resumed.step == 8 and counted.sizes == [2] * 10  # steps 4..8, two micro-batches each
    ref = reference.model_without_ddp.state_dict()
    for key, value in resumed.model_without_ddp.state_dict().items():
        assert torch.equal(value, ref[key]), key
    assert torch.equal(
        resumed.optimizer.state_dict()["state"][0]["momentum_buffer"],
        reference.optimizer.state_dict()["state"][0]["momentum_buffer"],
    )


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="grad_accum_steps must be >= 1, got 0"):
        Trainer(cfg(tmp_path, "zero", grad_accum_steps=0))
    with pytest.raises(
        ConfigError, match="batch_size=4 must be a positive multiple of the world size 1 x grad_accum_steps 3"
    ):
        Trainer(cfg(tmp_path, "odd", batch_size=4, grad_accum_steps=3))


def test_two_processes_accumulating_match_one_process(tmp_path):
    """torchrun, 2 gloo ranks x 2 micro-batches of 1 cloud == 1 process, batch of 4."""
    overrides = {**COMMON, "batch_size": 4, "grad_accum_steps": 2, "max_steps": 4, "save_interval": 4}
    cfg_path = write_toy_config(str(tmp_path / "ddp.py"), str(tmp_path / "ddp"), **overrides)
    proc = torchrun_train(cfg_path, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "ddp" / "train.log").read_text()
    assert "2 samples per rank per step in 2 micro-batches of 1" in log
    ddp = load_checkpoint(str(tmp_path / "ddp" / "model" / "model_last.pth"))
    single = Trainer(load_config(cfg_path, [f"save_path={tmp_path / 'single'}", "grad_accum_steps=1"]))
    single.train()
    state = single.model_without_ddp.state_dict()
    for key, value in ddp["model"].items():
        torch.testing.assert_close(value, state[key], rtol=1e-5, atol=1e-6)
