"""DOS model behaviour with a tiny stand-in encoder (grid pooling + per-point MLPs)."""

import pytest
import torch
from torch import nn

import pointcept.models.dos as dos_module
import pointcept.models.dos_loss as loss_module
from pointcept.models.dos import DOS
from pointcept.models.dos_head import DOSHead
from pointcept.models.dos_loss import segment_log_softmax
from pointcept.models.masking import block_mask
from pointcept.models.structure import Point
from pointcept.ops import grid_pool


class TinyEncoder(nn.Module):
    """Per-point linear layers and max grid pooling: the smallest encoder with PTv3's Point contract.

    Every output cell depends only on the input points inside it, which makes the masking and
    per-cloud tests exact. ``mask_token=True`` replaces masked points' embeddings by a token.
    """

    def __init__(self, in_channels: int, channels=(8, 12, 16), mask_token: bool = False):
        super().__init__()
        self.embed = nn.Linear(in_channels, channels[0])
        self.stages = nn.ModuleList(nn.Linear(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.mask_token = nn.Parameter(torch.zeros(channels[0])) if mask_token else None

    def forward(self, data: dict) -> Point:
        point = Point(coord=data["coord"], grid_coord=data["grid_coord"], offset=data["offset"])
        feat = torch.relu(self.embed(data["feat"]))
        if self.mask_token is not None and "mask" in data:
            feat = torch.where(data["mask"][:, None], self.mask_token.expand_as(feat), feat)
        point.feat = feat
        for stage in self.stages:
            pooled = grid_pool(
                point.grid_coord, point.offset, point.feat, point.coord, stride=2, reduce="max"
            )
            point = Point(
                feat=torch.relu(stage(pooled.feat)),
                coord=pooled.coord,
                grid_coord=pooled.grid_coord,
                offset=pooled.offset,
                level=point.level + 1,
                pooling_parent=point,
                pooling_inverse=pooled.cluster,
            )
        return point


def make_view(num_points, seed, grid_size=0.1, extent=4.0, in_channels=4):
    g = torch.Generator().manual_seed(seed)
    coord = torch.rand(num_points, 3, generator=g) * torch.tensor([extent, extent, 1.0])
    grid = torch.floor(coord / grid_size).long()
    # One point per voxel, as GridSample leaves it.
    _, first = torch.unique(grid, dim=0, return_inverse=True)
    keep = torch.zeros(len(coord), dtype=torch.bool)
    keep[torch.unique(first)] = True
    order = torch.zeros(first.max() + 1, dtype=torch.long).scatter_(0, first, torch.arange(len(coord)))
    coord = coord[order]
    grid = grid[order]
    feat = torch.cat([coord, torch.rand(len(coord), in_channels - 3, generator=g)], 1)
    return dict(
        coord=coord.clone(), origin_coord=coord.clone(), grid_coord=grid - grid.min(0).values, feat=feat
    )


def collate_views(views):
    out = {k: torch.cat([v[k] for v in views]) for k in views[0]}
    out["offset"] = torch.cumsum(torch.tensor([len(v["coord"]) for v in views]), 0)
    return out


def augmented(view, angle, shift):
    """A rigidly moved copy: new coord and grid_coord, same origin_coord."""
    c, s = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    coord = view["origin_coord"] @ rot.T + torch.tensor(shift)
    grid = torch.floor(coord / 0.1).long()
    out = dict(view, coord=coord, grid_coord=grid - grid.min(0).values)
    out["feat"] = torch.cat([coord, view["feat"][:, 3:]], 1)
    return out


def make_batch(seeds=(0, 1), num_points=(600, 500), device="cpu"):
    """Two views of the given scenes, built on the CPU (same values on every device), moved to ``device``."""
    scenes = [make_view(n, s) for n, s in zip(num_points, seeds)]
    view1 = collate_views(scenes)
    view2 = collate_views([augmented(v, 0.3 + i, (0.5, -0.2, 0.1)) for i, v in enumerate(scenes)])
    return {
        name: {k: v.to(device) for k, v in view.items()}
        for name, view in dict(view1=view1, view2=view2).items()
    }


# Block masking used by the tests below (DOSScheduleHook passes these in training).
MASK = dict(mask_size=0.5, mask_ratio=0.6)


def make_model(**kwargs):
    cfg = dict(
        backbone=dict(type=TinyEncoder, in_channels=4),
        head_in_channels=12 + 16,
        head_hidden_channels=32,
        head_embed_channels=16,
        num_prototypes=24,
        distill_level=1,
        match_radius=0.2,
    )
    cfg.update(kwargs)
    torch.manual_seed(0)
    return DOS(**cfg)


@pytest.fixture
def recorder(monkeypatch):
    """Record the inputs/outputs of the loss and masking functions the model calls."""
    calls = dict(softmap=[], mask=[])
    real_kl, real_mask = loss_module.softmap_kl, dos_module.block_mask

    def softmap_kl(student_logits, target, batch, num_clouds):
        out = real_kl(student_logits, target, batch, num_clouds)
        calls["softmap"].append(dict(student=student_logits, target=target, batch=batch, loss=out))
        return out

    def block_mask_spy(*args, **kwargs):
        keep = real_mask(*args, **kwargs)
        calls["mask"].append(keep)
        calls.setdefault("mask_args", []).append(args[2:])
        return keep

    monkeypatch.setattr(loss_module, "softmap_kl", softmap_kl)
    monkeypatch.setattr(dos_module, "block_mask", block_mask_spy)
    return calls


def test_forward_backward_and_logged_values(device):
    model = make_model().to(device)
    model.train()
    assert not model.teacher.training and model.student.training
    out = model(make_batch(device=device), tau_t=0.05, **MASK)
    assert out["loss"].device == device
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
    torch.testing.assert_close(out["loss"].detach(), out["loss_same"] + out["loss_cross"])
    for key in (
        "loss_same",
        "loss_cross",
        "prototypes_in_use",
        "sinkhorn_row_error",
        "teacher_entropy",
        "cross_match_ratio",
        "masked_point_ratio",
    ):
        assert out[key].dim() == 0, key
    assert 1 <= out["prototypes_in_use"] <= 24
    assert 0.3 < out["masked_point_ratio"] < 0.9
    assert 0 < out["cross_match_ratio"] <= 1
    assert out["hist/prototype_argmax"].dim() == 1
    out["loss"].backward()
    grads = [p.grad for p in model.student.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert model.prototype_usage.sum() > 0


def test_softmaps_normalised_over_observable_cells(recorder, device):
    model = make_model().to(device)
    batch = make_batch(device=device)
    model(batch, tau_t=0.05, **MASK)
    assert len(recorder["softmap"]) == 4  # same- and cross-view terms of both views
    same_view1 = recorder["softmap"][0]
    num_clouds = 2
    for call in recorder["softmap"]:
        prob = segment_log_softmax(call["student"], call["batch"], num_clouds).exp()
        sums = torch.zeros(num_clouds, prob.shape[1], device=device).index_add(
            0, call["batch"], prob.detach()
        )
        torch.testing.assert_close(sums, torch.ones_like(sums))
        target_sums = torch.zeros_like(sums).index_add(0, call["batch"], call["target"])
        torch.testing.assert_close(target_sums, torch.ones_like(sums))
    # The same-view softmax of view 1 runs over exactly the level-1 cells of the kept points.
    keep = recorder["mask"][0]
    view = batch["view1"]
    cloud = torch.repeat_interleave(
        torch.arange(2, device=device), torch.diff(view["offset"], prepend=view["offset"].new_zeros(1))
    )
    cells = torch.cat([cloud[keep, None], view["grid_coord"][keep] // 2], 1)
    assert len(same_view1["batch"]) == len(torch.unique(cells, dim=0))


def test_other_cloud_loss_unchanged(recorder):
    model = make_model()
    batch_a = make_batch(seeds=(0, 1))
    batch_b = make_batch(seeds=(0, 7), num_points=(600, 450))
    torch.manual_seed(3)
    model(batch_a, tau_t=0.05, **MASK)
    losses_a = [c["loss"].detach() for c in recorder["softmap"]]
    recorder["softmap"].clear()
    torch.manual_seed(3)
    model(batch_b, tau_t=0.05, **MASK)
    losses_b = [c["loss"].detach() for c in recorder["softmap"]]
    for la, lb in zip(losses_a, losses_b):
        torch.testing.assert_close(la[0], lb[0])
        assert not torch.allclose(la[1], lb[1])


def test_masked_points_never_reach_student(recorder):
    model = make_model()
    batch = make_batch()
    batch["view1"]["feat"].requires_grad_(True)
    seen = []
    model.student["backbone"].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    head_out = []
    model.student["head"].register_forward_hook(lambda module, args, out: head_out.append(out.detach()))
    torch.manual_seed(5)
    out = model(batch, tau_t=0.05, **MASK)
    keep = recorder["mask"][0]
    assert 0 < keep.sum() < len(keep)
    torch.testing.assert_close(seen[0]["coord"], batch["view1"]["coord"][keep])
    torch.testing.assert_close(seen[0]["grid_coord"], batch["view1"]["grid_coord"][keep])
    out["loss"].backward()
    grad = batch["view1"]["feat"].grad
    assert grad[~keep].abs().max() == 0
    assert grad[keep].abs().max() > 0

    # Changing masked points' features changes the teacher only, never the student.
    perturbed = make_batch()
    perturbed["view1"]["feat"] = torch.where(keep[:, None], perturbed["view1"]["feat"], 100.0)
    head_first = head_out[0]
    head_out.clear()
    torch.manual_seed(5)
    model(perturbed, tau_t=0.05, **MASK)
    torch.testing.assert_close(head_out[0], head_first)


def _uniform_sinkhorn(scores, n_iter=3):
    """Textbook Sinkhorn-Knopp (uniform marginals) then per-column normalisation."""
    q = torch.exp(scores.double() - scores.max())
    n, k = q.shape
    for _ in range(n_iter):
        q = q / q.sum(1, keepdim=True) / n
        q = q / q.sum(0, keepdim=True) / k
    return (q / q.sum(0, keepdim=True)).float()


def test_alpha_zero_is_uniform_sinkhorn(recorder, monkeypatch, device):
    model = make_model(alpha=0.0).to(device)
    teacher_logits = []
    real = loss_module.zipf_sinkhorn

    def spy(logits, offset, **kwargs):
        teacher_logits.append((logits, offset))
        return real(logits, offset, **kwargs)

    monkeypatch.setattr(loss_module, "zipf_sinkhorn", spy)
    model(make_batch(device=device), tau_t=0.05, **MASK)
    assert len(teacher_logits) == len(recorder["softmap"]) > 0
    for (logits, offset), call in zip(teacher_logits, recorder["softmap"]):
        start = 0
        for end in offset.tolist():
            expected = _uniform_sinkhorn(logits[start:end])
            torch.testing.assert_close(call["target"][start:end], expected, rtol=1e-4, atol=1e-6)
            start = end
    # And the Zipf prior gives a different target.
    assert not torch.allclose(make_model(alpha=1.3).prior.to(device), model.prior)


def test_update_teacher_matches_formula():
    model = make_model()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in model.teacher.parameters()]
    student = [p.clone() for p in model.student.parameters()]
    model.update_teacher(0.9)
    for t, t0, s in zip(model.teacher.parameters(), before, student):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s)
    model.update_teacher(1.0)
    for t, t0, s in zip(model.teacher.parameters(), before, student):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s)


def test_baseline_switches_run():
    batch = make_batch()
    out = make_model(target="assignment")(batch, tau_t=0.05, **MASK)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    model = make_model(observable_only=False, backbone=dict(type=TinyEncoder, in_channels=4, mask_token=True))
    seen = []
    model.student["backbone"].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    out = model(batch, tau_t=0.05, **MASK)
    assert torch.isfinite(out["loss"])
    # The student sees the full view, with the masked points flagged.
    assert len(seen[0]["coord"]) == len(batch["view1"]["coord"])
    assert 0 < seen[0]["mask"].sum() < len(seen[0]["mask"])
    with pytest.raises(ValueError, match="mask_token=True"):
        make_model(observable_only=False)
    with pytest.raises(ValueError, match="target must be"):
        make_model(target="cluster")


def test_forward_masks_with_the_given_size_and_ratio(recorder):
    model = make_model()
    out = model(make_batch(), tau_t=0.05, mask_size=0.25, mask_ratio=0.3)
    assert recorder["mask_args"] == [(0.25, 0.3), (0.25, 0.3)]
    assert out["mask_size"] == 0.25
    # The defaults are the final outdoor values (1 m cubes, ratio 0.7).
    recorder["mask_args"].clear()
    model(make_batch(), tau_t=0.05)
    assert recorder["mask_args"] == [(1.0, 0.7), (1.0, 0.7)]
    with pytest.raises(ValueError, match="DOS: mask_ratio must be in"):
        model(make_batch(), tau_t=0.05, mask_size=0.5, mask_ratio=1.0)
    with pytest.raises(ValueError, match="mask_size must be > 0"):
        model.inspect(make_batch()["view1"], tau_t=0.05, mask_size=0.0, mask_ratio=0.5)


def test_block_mask_masks_whole_cubes_per_cloud():
    torch.manual_seed(0)
    coord = torch.rand(2000, 3) * 4
    offset = torch.tensor([1200, 2000])
    keep = block_mask(coord, offset, mask_size=1.0, mask_ratio=0.7)
    for start, end in ((0, 1200), (1200, 2000)):
        cube = torch.floor((coord[start:end] - coord[start:end].min(0).values) / 1.0).long()
        cube_id = torch.unique(cube, dim=0, return_inverse=True)[1]
        kept_cubes = torch.unique(cube_id[keep[start:end]])
        masked_cubes = torch.unique(cube_id[~keep[start:end]])
        assert len(set(kept_cubes.tolist()) & set(masked_cubes.tolist())) == 0
        total = int(cube_id.max()) + 1
        assert len(masked_cubes) == round(0.7 * total)
    # A cloud with a single cube keeps it.
    assert block_mask(torch.zeros(5, 3), torch.tensor([5]), 1.0, 0.9).all()
    with pytest.raises(ValueError, match="mask_ratio"):
        block_mask(coord, offset, 1.0, 1.0)


def test_inspect_gives_softmaps_at_observable_cells():
    model = make_model()
    view = make_batch()["view1"]
    torch.manual_seed(2)
    out = model.inspect(view, tau_t=0.05, **MASK)
    keep, student_cell = out["keep"], out["student_cell"]
    assert (student_cell[~keep] == -1).all() and (student_cell[keep] >= 0).all()
    num_cells = int(student_cell.max()) + 1
    assert out["target"].shape == out["student_softmap"].shape == (num_cells, 24)
    cloud = torch.repeat_interleave(torch.arange(2), torch.diff(view["offset"], prepend=torch.tensor([0])))
    cell_cloud = torch.zeros(num_cells, dtype=torch.long).scatter_(0, student_cell[keep], cloud[keep])
    for values in (out["target"], out["student_softmap"]):
        sums = torch.zeros(2, 24).index_add(0, cell_cloud, values)
        torch.testing.assert_close(sums, torch.ones_like(sums))
    assert len(out["teacher_cell"]) == len(keep)


def test_views_without_overlap_drop_the_cross_term(device):
    model = make_model().to(device)
    batch = make_batch(device=device)
    batch["view2"]["origin_coord"] = batch["view2"]["origin_coord"] + 100.0
    out = model(batch, tau_t=0.05, **MASK)
    assert out["cross_match_ratio"] == 0 and out["loss_cross"] == 0
    torch.testing.assert_close(out["loss"].detach(), out["loss_same"])
    out["loss"].backward()


def test_teacher_custom_must_keep_parameters():
    with pytest.raises(ValueError, match="teacher_custom"):
        make_model(teacher_custom=dict(mask_token=True))


def test_head_gives_cosines_with_unit_prototypes():
    torch.manual_seed(0)
    head = DOSHead(6, 16, 8, 5)
    feat = torch.randn(10, 6)
    embed = head.mlp(feat)
    expected = torch.nn.functional.cosine_similarity(embed[:, None], head.prototypes[None], dim=-1)
    torch.testing.assert_close(head(feat), expected)
    with pytest.raises(ValueError, match="num_prototypes"):
        DOSHead(6, 16, 8, 0)


def test_tiny_ptv3_config_forward_backward():
    """The demo config's DOS (real tiny PTv3 encoder) trains one step and EMA-updates its teacher."""
    from pointcept.models import build_model
    from pointcept.utils.config import load_config

    cfg = load_config("configs/semantic_kitti/pretrain-dos-tiny.py")
    torch.manual_seed(0)
    model = build_model(cfg["model"]).train()
    out = model(make_batch(num_points=(900, 700)), tau_t=0.04, mask_size=0.625, mask_ratio=0.5)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()
    assert all(p.grad is not None for p in model.student["head"].parameters())
    before = [p.clone() for p in model.teacher.parameters()]
    with torch.no_grad():
        for p in model.student.parameters():
            if p.grad is not None:
                p.sub_(0.1 * p.grad)
    model.update_teacher(0.5)
    moved = [not torch.equal(a, b) for a, b in zip(before, model.teacher.parameters())]
    assert any(moved)


def test_cells_average_origin_coord_over_their_input_points():
    """A cell's origin_coord is the plain mean over its input points (not a mean of child means)."""
    from pointcept.models.dos_cells import encode_cells
    from pointcept.models.masking import backbone_input

    model = make_model(distill_level=2, head_in_channels=16)
    view = make_batch()["view1"]
    view["origin_coord"] = view["origin_coord"] + torch.rand(len(view["origin_coord"]), 3)
    with torch.no_grad():
        cells = encode_cells(model.teacher, backbone_input(view), view["origin_coord"], distill_level=2)
    assert cells.logits.shape == (len(cells.batch), 24) and len(cells.point_cell) == len(view["coord"])
    num_cells = len(cells.batch)
    expected = torch.stack([view["origin_coord"][cells.point_cell == c].mean(0) for c in range(num_cells)])
    torch.testing.assert_close(cells.origin_coord, expected)
    # Level-2 cells of the tiny encoder are the points' grid cells divided by 4.
    cloud = torch.repeat_interleave(torch.arange(2), torch.diff(view["offset"], prepend=torch.tensor([0])))
    torch.testing.assert_close(cells.grid_coord[cells.point_cell], view["grid_coord"] // 4)
    torch.testing.assert_close(cells.batch[cells.point_cell], cloud)
