"""The ablation presets of configs/semantic_kitti/ablation/: each builds, trains one step on a tiny
generated batch, and shows the behaviour that defines it (docs/method.md section 7)."""

import math

import pytest
import torch
from test_dos_model import make_batch

import pointcept.models.dos as dos_module
import pointcept.models.dos_loss as loss_module
from pointcept.engines.checkpoint import CheckpointError, load_weights
from pointcept.models import build_model
from pointcept.models.dos_loss import distill_term
from pointcept.ops import zipf_prior, zipf_sinkhorn
from pointcept.utils.config import load_config

ABLATION = "configs/semantic_kitti/ablation"
# preset: (observable_only, target, alpha, sinkhorn_scope, mask_jitter in input voxels)
PRESETS = {
    "naive": (False, "assignment", 0.0, "batch", 0.0),
    "sonata": (False, "assignment", 0.0, "batch", 0.5),
    "observable": (True, "assignment", 0.0, "batch", 0.0),
    "softmap": (True, "softmap", 0.0, "cloud", 0.0),
    "dos": (True, "softmap", 1.3, "cloud", 0.0),
    "regression": (True, "regression", 1.3, "cloud", 0.0),
    "alpha3": (True, "softmap", 3.0, "cloud", 0.0),
}
STEP = dict(tau_t=0.04, mask_size=0.625, mask_ratio=0.5)


def preset_cfg(name, tiny=True):
    return load_config(f"{ABLATION}/{name}{'-tiny' if tiny else ''}.py")


def build(name):
    torch.manual_seed(0)
    return build_model(preset_cfg(name)["model"]).train()


def tiny_batch():
    return make_batch(num_points=(900, 700))


@pytest.fixture
def spy(monkeypatch):
    """Record every block mask, every student backbone input and every Sinkhorn offset."""
    calls = dict(keep=[], sinkhorn=[])
    real_mask, real_sinkhorn = dos_module.block_mask, loss_module.zipf_sinkhorn

    def block_mask(*args, **kwargs):
        calls["keep"].append(real_mask(*args, **kwargs))
        return calls["keep"][-1]

    def sinkhorn(logits, offset, **kwargs):
        calls["sinkhorn"].append(dict(logits=logits, offset=offset.clone(), prior=kwargs["prior"]))
        return real_sinkhorn(logits, offset, **kwargs)

    monkeypatch.setattr(dos_module, "block_mask", block_mask)
    monkeypatch.setattr(loss_module, "zipf_sinkhorn", sinkhorn)
    return calls


def student_inputs(model):
    seen = []
    model.student["backbone"].register_forward_pre_hook(lambda module, args: seen.append(dict(args[0])))
    return seen


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_builds_trains_and_sets_its_switches(name):
    cfg = preset_cfg(name)
    grid_size = cfg["data"]["train"]["transform"][0]["grid_size"]
    model = build(name)
    observable, target, alpha, scope, jitter_voxels = PRESETS[name]
    assert (model.observable_only, model.target, model.alpha, model.sinkhorn_scope) == (
        observable,
        target,
        alpha,
        scope,
    )
    assert model.mask_jitter == pytest.approx(jitter_voxels * grid_size)
    assert (model.student["backbone"].mask_token is not None) == (not observable)
    out = model(tiny_batch(), **STEP)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()
    grads = {n: p.grad for n, p in model.student.named_parameters()}
    assert grads["backbone.embedding.proj.conv.weight"].abs().sum() > 0
    assert (grads["head.prototypes"] is None) == (target == "regression")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_full_size_preset_matches_the_tiny_one(name):
    tiny, full = preset_cfg(name)["model"], preset_cfg(name, tiny=False)
    model = full["model"]
    for key in ("observable_only", "target", "alpha", "sinkhorn_scope"):
        assert model.get(key, tiny.get(key)) == tiny.get(key), key
    grid_size = full["data"]["train"]["transform"][0]["grid_size"]
    assert model.get("mask_jitter", 0.0) == pytest.approx(PRESETS[name][4] * grid_size)
    if model.get("mask_jitter", 0.0) > 0:
        assert model["grid_size"] == grid_size
    assert model["backbone"]["mask_token"] == (not PRESETS[name][0])


def test_sonata_jitters_exactly_the_masked_points_and_supervises_them(spy):
    model = build("sonata")
    seen = student_inputs(model)
    batch = tiny_batch()
    out = model(batch, **STEP)
    sigma, grid = model.mask_jitter, model.grid_size
    assert len(seen) == 2
    for view, keep, inputs in zip((batch["view1"], batch["view2"]), spy["keep"], seen):
        assert 0 < keep.sum() < len(keep)
        assert torch.equal(inputs["mask"], ~keep)  # every point reaches the student
        delta = inputs["coord"] - view["coord"]
        assert torch.equal(delta[keep], torch.zeros_like(delta[keep]))
        assert bool((delta[~keep] != 0).all(1).all())  # every masked point moves on every axis
        assert delta.abs().max() <= 2 * sigma + 1e-6
        moved = torch.floor(inputs["coord"] / grid).long() - torch.floor(view["coord"] / grid).long()
        assert torch.equal(inputs["grid_coord"], (view["grid_coord"] + moved).clamp_min(0))
        assert bool((moved[~keep] != 0).any())  # jitter of half a voxel changes some voxels
        assert torch.equal(inputs["grid_coord"][keep], view["grid_coord"][keep])
    out["loss"].backward()
    # The mask token only enters through masked points: a gradient means they are supervised.
    assert model.student["backbone"].mask_token.grad.abs().sum() > 0


def test_naive_keeps_masked_coordinates(spy):
    model = build("naive")
    seen = student_inputs(model)
    batch = tiny_batch()
    model(batch, **STEP)
    for view, keep, inputs in zip((batch["view1"], batch["view2"]), spy["keep"], seen):
        assert torch.equal(inputs["mask"], ~keep)
        assert torch.equal(inputs["coord"], view["coord"])
        assert torch.equal(inputs["grid_coord"], view["grid_coord"])


def test_observable_never_feeds_a_masked_point_to_the_student(spy):
    model = build("observable")
    seen = student_inputs(model)
    batch = tiny_batch()
    model(batch, **STEP)
    assert len(seen) == 2
    for view, keep, inputs in zip((batch["view1"], batch["view2"]), spy["keep"], seen):
        assert 0 < keep.sum() < len(keep)
        assert "mask" not in inputs
        assert len(inputs["coord"]) == int(keep.sum())
        assert torch.equal(inputs["coord"], view["coord"][keep])
        assert torch.equal(inputs["feat"], view["feat"][keep])


def test_regression_has_no_prototypes_in_its_loss(spy):
    model = build("regression")
    batch = tiny_batch()
    torch.manual_seed(3)
    out = model(batch, **STEP)
    out["loss"].backward()
    head = model.student["head"]
    assert head.prototypes.grad is None
    assert head.mlp[0].weight.grad.abs().sum() > 0
    assert spy["sinkhorn"] == []
    # Other prototypes, same masks: the same loss.
    with torch.no_grad():
        head.prototypes.normal_()
        model.teacher["head"].prototypes.normal_()
    torch.manual_seed(3)
    assert model(batch, **STEP)["loss"].item() == pytest.approx(out["loss"].item(), rel=1e-6)
    assert 0 < out["loss"].item() < 2


@pytest.mark.parametrize("name", ["naive", "sonata", "observable"])
def test_batch_scope_runs_one_sinkhorn_over_the_batch(spy, name):
    build(name)(tiny_batch(), **STEP)
    assert len(spy["sinkhorn"]) == 4  # two views, same and cross terms
    for call in spy["sinkhorn"]:
        assert call["offset"].tolist() == [len(call["logits"])]
        torch.testing.assert_close(call["prior"], torch.full_like(call["prior"], 1 / len(call["prior"])))


def test_batch_scope_equals_one_sinkhorn_call_with_a_single_offset():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(30, 8, generator=g), torch.randn(40, 8, generator=g)
    batch = torch.tensor([0] * 12 + [1] * 18)
    index = torch.randint(0, 40, (30,), generator=g)
    index[[3, 20]] = -1
    prior = zipf_prior(8, 0.0)
    args = (student, batch, 2, teacher, index, prior, 0.1, 0.05, 3, "assignment")
    term = distill_term(*args, scope="batch")
    hit = index >= 0
    expected = zipf_sinkhorn(teacher[index[hit]] / 0.05, torch.tensor([int(hit.sum())]), prior=prior)
    torch.testing.assert_close(term.target, expected)
    plan = expected * prior
    assignment = plan / plan.sum(1, keepdim=True)
    pointwise = -(assignment * torch.log_softmax(student[hit] / 0.1, 1)).sum(1)
    hit_batch = batch[hit]
    per_cloud = torch.stack([pointwise[hit_batch == b].mean() for b in (0, 1)])
    torch.testing.assert_close(term.loss, per_cloud.mean())
    # The scope matters: per-cloud Sinkhorn gives other targets.
    per_cloud_term = distill_term(*args, scope="cloud")
    assert not torch.allclose(per_cloud_term.target, term.target)


def test_batch_scope_needs_assignment_targets():
    cfg = preset_cfg("softmap")["model"]
    with pytest.raises(ValueError, match="sinkhorn_scope"):
        build_model(dict(cfg, sinkhorn_scope="batch"))
    with pytest.raises(ValueError, match="mask_jitter"):
        build_model(dict(cfg, mask_jitter=0.05, grid_size=0.1))  # observable: nothing to jitter
    naive = preset_cfg("naive")["model"]
    with pytest.raises(ValueError, match="grid_size"):
        build_model(dict(naive, mask_jitter=0.05))


def test_alpha3_uses_a_prior_with_exponent_3(spy):
    model = build("alpha3")
    k = model.prior.numel()
    ranks = torch.arange(1, k + 1, dtype=torch.float64)
    torch.testing.assert_close(model.prior.double(), ranks**-3.0 / (ranks**-3.0).sum())
    assert model.prior[0] / model.prior[1] == pytest.approx(8.0)
    model(tiny_batch(), **STEP)
    assert all(torch.equal(call["prior"], model.prior) for call in spy["sinkhorn"])
    assert math.isclose(build("dos").prior[0] / build("dos").prior[1], 2**1.3, rel_tol=1e-5)


def _checkpoint(name):
    state = build(name).state_dict()
    assert ("teacher.backbone.mask_token" in state) == (not PRESETS[name][0])
    return state


def _probe(config):
    cfg = load_config(config)
    torch.manual_seed(1)
    return build_model(cfg["model"]).eval(), cfg


@pytest.mark.parametrize("name", ["naive", "sonata"])
def test_mask_token_checkpoint_loads_strictly_into_its_probe(name):
    state = _checkpoint(name)
    probe, cfg = _probe(f"{ABLATION}/lin-mask-token-tiny.py")
    assert cfg["weight_strict"] is True
    missing, unexpected = load_weights(probe, state, cfg["key_map"], strict=True)
    assert missing == [] and unexpected == []
    torch.testing.assert_close(probe.backbone.mask_token, state["teacher.backbone.mask_token"])
    # The plain probe has no place for the token: strict loading refuses the checkpoint.
    plain, plain_cfg = _probe("configs/semantic_kitti/semseg-dos-lin-tiny.py")
    with pytest.raises(CheckpointError, match="mask_token"):
        load_weights(plain, state, plain_cfg["key_map"], strict=True)
    # The token is never used at probe time: both probes give the same logits.
    load_weights(plain, state, plain_cfg["key_map"], strict=False)
    plain.seg_head.load_state_dict(probe.seg_head.state_dict())
    view = make_batch(num_points=(500, 400))["view1"]
    data = {k: view[k] for k in ("coord", "grid_coord", "feat", "offset")}
    with torch.no_grad():
        torch.testing.assert_close(probe(data)["seg_logits"], plain(data)["seg_logits"])


@pytest.mark.parametrize("name", ["observable", "softmap", "dos", "regression", "alpha3"])
def test_observable_checkpoints_load_strictly_into_the_plain_probe(name):
    probe, cfg = _probe("configs/semantic_kitti/semseg-dos-lin-tiny.py")
    missing, unexpected = load_weights(probe, _checkpoint(name), cfg["key_map"], strict=True)
    assert missing == [] and unexpected == []


def test_mask_token_ft_loads_without_the_token():
    """Fine-tuning maps only embedding.* and enc.*, so a mask-token checkpoint loads as it is."""
    cfg = load_config("configs/semantic_kitti/semseg-dos-ft-tiny.py")
    torch.manual_seed(1)
    model = build_model(cfg["model"])
    missing, unexpected = load_weights(model, _checkpoint("naive"), cfg["key_map"], strict=True)
    assert missing == [] and unexpected == []


@pytest.mark.parametrize("name", ["sonata", "observable", "regression"])
def test_inspect_gives_softmaps_for_every_preset(name):
    """tools/vis_prototypes.py reads DOS softmaps whatever the preset's own target is."""
    model = build(name).eval()
    out = model.inspect(tiny_batch()["view1"], tau_t=0.05, mask_size=0.625, mask_ratio=0.5)
    num_prototypes = model.prior.numel()
    assert out["target"].shape[1] == num_prototypes
    # Every column is a distribution over the cells of each of the two clouds.
    torch.testing.assert_close(out["target"].sum(0), torch.full((num_prototypes,), 2.0))
    assert out["student_softmap"].shape[1] == num_prototypes
