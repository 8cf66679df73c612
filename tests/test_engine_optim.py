"""Optimizer groups (param_dicts, layer decay, no-decay), schedulers, AMP resolution."""

import math
import os

import pytest
import torch

from pointcept.engines.amp import autocast, build_grad_scaler, resolve_amp_dtype
from pointcept.engines.optim import LAYER_ID, PrefixLayerId, build_optimizer
from pointcept.engines.scheduler import CosineWarmupLR, OneCycleLR, build_scheduler, cosine_schedule
from pointcept.utils.registry import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(3, 4)
        self.block0 = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
        self.block1 = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 2)
        self.frozen = torch.nn.Linear(2, 2).requires_grad_(False)
        self.token = torch.nn.Parameter(torch.zeros(1, 4))


def groups_by_param(opt, model):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g for g in opt.param_groups for p in g["params"]}


def test_weight_decay_exemptions_and_frozen_params():
    torch.manual_seed(0)
    model = Net()
    opt = build_optimizer(dict(type="AdamW", lr=1e-3, weight_decay=0.05), model, no_decay_keywords=("token",))
    by = groups_by_param(opt, model)
    assert "frozen.weight" not in by
    assert by["embed.weight"]["weight_decay"] == 0.05
    for name in ("embed.bias", "block0.1.weight", "block0.1.bias", "token"):
        assert by[name]["weight_decay"] == 0.0, name
    assert isinstance(opt, torch.optim.AdamW)


def test_param_dicts_and_layer_decay():
    torch.manual_seed(0)
    model = Net()
    opt = build_optimizer(
        dict(type="SGD", lr=1.0, momentum=0.9, weight_decay=1e-4),
        model,
        param_dicts=[dict(keyword="block", lr=0.1)],
        layer_decay=dict(
            rate=0.5, layer_id=dict(type="PrefixLayerId", prefixes=["embed", "block0", "block1"])
        ),
    )
    by = groups_by_param(opt, model)
    # 4 layers (embed, block0, block1, rest): lr * 0.5 ** (3 - layer)
    assert by["embed.weight"]["lr"] == pytest.approx(1.0 * 0.5**3)
    assert by["block0.0.weight"]["lr"] == pytest.approx(0.1 * 0.5**2)
    assert by["block1.weight"]["lr"] == pytest.approx(0.1 * 0.5)
    assert by["head.weight"]["lr"] == pytest.approx(1.0) and by["head.weight"]["lr_scale"] == 1.0
    assert by["block1.weight"]["name"] == "block/decay/layer2"
    assert opt.param_groups[0]["momentum"] == 0.9


def test_optimizer_config_errors():
    model = Net()
    with pytest.raises(ConfigError, match="optimizer: type 'Adamm' is not in registry 'optimizers'"):
        build_optimizer(dict(type="Adamm", lr=1e-3), model)
    with pytest.raises(ConfigError, match=r"optimizer: AdamW got unexpected config key\(s\) \['decay'\]"):
        build_optimizer(dict(type="AdamW", lr=1e-3, decay=1), model)
    with pytest.raises(ValueError, match="optimizer: missing required key 'lr'"):
        build_optimizer(dict(type="AdamW"), model)
    with pytest.raises(ValueError, match=r"param_dicts\[0\]: missing required key 'keyword'"):
        build_optimizer(dict(type="AdamW", lr=1e-3), model, param_dicts=[dict(lr=1)])


def test_cosine_warmup_lr_follows_formula():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD(
        [dict(params=[p], lr=1.0), dict(params=[torch.nn.Parameter(torch.zeros(1))], lr=0.1)]
    )
    sched = build_scheduler(
        dict(type="CosineWarmupLR", warmup_steps=4, final_factor=0.01), opt, total_steps=20
    )
    assert isinstance(sched, CosineWarmupLR)
    seen = []
    for _ in range(20):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for step, (lr0, lr1) in enumerate(seen):
        assert lr0 == pytest.approx(cosine_schedule(step, 20, 1.0, 0.01, 4, 0.0))
        assert lr1 == pytest.approx(0.1 * lr0)
    assert seen[0][0] == 0.0 and seen[4][0] == pytest.approx(1.0)
    assert cosine_schedule(20, 20, 1.0, 0.01) == pytest.approx(0.01)
    assert cosine_schedule(10, 20, 1.0, 0.0) == pytest.approx(0.5)
    assert math.isclose(cosine_schedule(99, 20, 1.0, 0.3), 0.3)


def test_onecycle_per_group_max_lr():
    model = Net()
    opt = build_optimizer(dict(type="AdamW", lr=1e-2), model, param_dicts=[dict(keyword="block", lr=1e-3)])
    sched = build_scheduler(dict(type="OneCycleLR", pct_start=0.5, div_factor=10.0), opt, total_steps=10)
    assert isinstance(sched, OneCycleLR)
    peak = {}
    for _ in range(9):
        for g in opt.param_groups:
            peak[g["name"]] = max(peak.get(g["name"], 0.0), g["lr"])
        opt.step()
        sched.step()
    assert peak["default/decay"] == pytest.approx(1e-2) and peak["block/decay"] == pytest.approx(1e-3)
    assert build_scheduler(None, opt, 10) is None


def test_amp_resolution_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_amp_dtype(None, cpu) is None
    assert resolve_amp_dtype("bf16", cpu) is torch.bfloat16
    assert resolve_amp_dtype("fp16", cpu) is torch.bfloat16  # CPU falls back to bf16
    assert resolve_amp_dtype("fp16", torch.device("cuda", 0)) is torch.float16
    with pytest.raises(ValueError, match="amp_dtype must be None, 'bf16' or 'fp16', got 'fp8'"):
        resolve_amp_dtype("fp8", cpu)
    assert not build_grad_scaler(cpu, torch.bfloat16).is_enabled()
    x = torch.randn(4, 4)
    with autocast(cpu, torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16
    with autocast(cpu, None):
        assert (x @ x).dtype == torch.float32


@pytest.mark.parametrize("total_steps", [2, 3, 4, 5, 20])
def test_one_cycle_short_runs_do_not_divide_by_zero(total_steps):
    # torch's OneCycleLR divides by the warm-up length; pct_start=0.05 of a 20-step run is zero steps.

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    sched = OneCycleLR(opt, total_steps=total_steps, pct_start=0.05)
    lrs = []
    for _ in range(total_steps - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(math.isfinite(lr) for lr in lrs)
    assert max(lrs) <= 1.0 + 1e-9 and lrs[-1] < 0.1


def test_one_cycle_rejects_tiny_runs():

    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    with pytest.raises(ValueError, match="total_steps >= 2"):
        OneCycleLR(opt, total_steps=1)


def hand_written_prefixes(enc_depths, prefix="student.backbone"):
    """The prefixes the pretraining configs used to spell out from a copy of enc_depths."""
    prefixes = [f"{prefix}.embedding"]
    for s, d in enumerate(enc_depths):
        if s > 0:
            prefixes.append(f"{prefix}.enc.{s}.down")
        prefixes += [f"{prefix}.enc.{s}.blocks.{b}" for b in range(d)]
    return prefixes


def layer_table(opt, model):
    return {name: (g["name"], g["lr"], g["lr_scale"]) for name, g in groups_by_param(opt, model).items()}


@pytest.mark.parametrize("config", ["pretrain-dos.py", "pretrain-dos-tiny.py"])
def test_encoder_layer_id_matches_the_hand_written_prefixes(config):
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    cfg = load_config(os.path.join(ROOT, "configs", "semantic_kitti", config))
    assert cfg.layer_decay.layer_id == dict(type="EncoderLayerId", prefix="student.backbone")
    # DOS's student as the optimizer sees it (the teacher has no trainable parameters), with the
    # config's stages and depths at 8 channels (building 46 M parameters would only cost time).
    stages = len(cfg.model.backbone.enc_depths)
    backbone = dict(cfg.model.backbone, enc_channels=(8,) * stages, enc_num_head=(1,) * stages)
    student = dict(backbone=build_model(backbone), head=torch.nn.Linear(4, 4))
    model = torch.nn.ModuleDict(dict(student=torch.nn.ModuleDict(student)))
    depths = cfg.model.backbone.enc_depths
    auto = build_optimizer(cfg.optimizer, model, layer_decay=cfg.layer_decay)
    hand = build_optimizer(
        cfg.optimizer,
        model,
        layer_decay=dict(
            rate=cfg.layer_decay.rate,
            layer_id=dict(type="PrefixLayerId", prefixes=hand_written_prefixes(depths)),
        ),
    )
    table = layer_table(auto, model)
    assert table == layer_table(hand, model)
    # embedding + (stages - 1) poolings + one layer per block + the top layer (heads).
    num_layers = 1 + (len(depths) - 1) + sum(depths) + 1
    assert table["student.backbone.embedding.proj.conv.weight"][2] == pytest.approx(0.9 ** (num_layers - 1))
    assert table["student.head.weight"][2] == 1.0
    assert len({scale for _, _, scale in table.values()}) == num_layers


def test_encoder_layer_id_follows_the_model_depths():
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    cfg = load_config(
        os.path.join(ROOT, "configs", "semantic_kitti", "pretrain-dos-tiny.py"),
        ["model.backbone.enc_depths=(1,2,1,1)"],
    )
    model = build_model(cfg.model)
    layer_id = LAYER_ID.get("EncoderLayerId")(prefix="student.backbone", model=model)
    assert layer_id.prefixes == hand_written_prefixes((1, 2, 1, 1))
    assert layer_id.num_layers == 1 + 3 + 5 + 1
    first = layer_id("student.backbone.enc.1.blocks.0.attn.qkv.weight")
    assert layer_id("student.backbone.enc.1.blocks.1.attn.qkv.weight") == first + 1
    assert layer_id("student.backbone.enc.2.down.proj.weight") == first + 2
    # The prefixes of the old depths would have put the new block with the heads, in the top layer.
    stale = PrefixLayerId(hand_written_prefixes((1, 1, 1, 1)))
    assert stale("student.backbone.enc.1.blocks.1.attn.qkv.weight") == stale.num_layers - 1


def test_layer_id_errors_name_the_problem():
    model = Net()
    with pytest.raises(
        ConfigError, match=r"PrefixLayerId: prefixes \['block2'\] match no parameter of the model"
    ):
        build_optimizer(
            dict(type="AdamW", lr=1e-3),
            model,
            layer_decay=dict(rate=0.5, layer_id=dict(type="PrefixLayerId", prefixes=["embed", "block2"])),
        )
    with pytest.raises(ConfigError, match="EncoderLayerId: the model has no module 'student.backbone'"):
        build_optimizer(
            dict(type="AdamW", lr=1e-3),
            model,
            layer_decay=dict(rate=0.5, layer_id=dict(type="EncoderLayerId", prefix="student.backbone")),
        )
    with pytest.raises(
        ValueError, match="EncoderLayerId: 'block0' is a Sequential, not a PTv3-style encoder"
    ):
        LAYER_ID.get("EncoderLayerId")(prefix="block0", model=model)
