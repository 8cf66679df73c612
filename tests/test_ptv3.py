from pathlib import Path

import pytest
import torch

from pointcept.models import PointTransformerV3, build_model, upcast
from pointcept.models.modules import DropPath, SubMConv3d
from pointcept.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def tiny_cfg(**overrides) -> dict:
    cfg = load_config(str(ROOT / "configs/_base_/models/ptv3-tiny.py"))["model"]["backbone"]
    cfg = dict(cfg)
    cfg.update(overrides)
    return cfg


def random_batch(sizes=(400, 150, 40), side=40, seed=0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for n in sizes:
        cells = torch.randperm(side**3, generator=gen)[:n]
        grids.append(torch.stack([cells // side**2, (cells // side) % side, cells % side], dim=1))
    grid = torch.cat(grids)
    coord = grid.float() * 0.05 + torch.rand(len(grid), 3, generator=gen) * 0.05
    feat = torch.cat([coord, torch.rand(len(grid), 1, generator=gen)], dim=1)
    return dict(coord=coord, grid_coord=grid, feat=feat, offset=torch.cumsum(torch.tensor(sizes), 0))


def test_tiny_forward_backward_reaches_every_parameter():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(drop_path=0.0)).train()
    data = random_batch()
    point = model(data)
    assert point.level == 0
    assert point.feat.shape == (590, 16)
    assert torch.equal(point.offset, data["offset"])
    assert torch.equal(point.grid_coord, data["grid_coord"])
    point.feat.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    # The input dict is not modified.
    assert set(data) == {"coord", "grid_coord", "feat", "offset"}


def test_enc_mode_levels_and_pooling_chain():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(enc_mode=True)).eval()
    assert model.dec is None and model.out_channels == 128
    data = random_batch()
    point = model(data)
    assert point.level == 3
    channels = [16, 32, 64, 128]
    child = point
    while child.level > 0:
        parent = child.pooling_parent
        assert parent.level == child.level - 1
        assert child.feat.shape == (len(child.grid_coord), channels[child.level])
        assert child.pooling_inverse.shape == (len(parent.grid_coord),)
        # Every parent voxel lies in the child cell it is mapped to, and each cloud stays apart.
        assert torch.equal(child.grid_coord[child.pooling_inverse], parent.grid_coord // 2)
        assert torch.equal(child.batch[child.pooling_inverse], parent.batch)
        assert len(child.grid_coord) < len(parent.grid_coord)
        assert child.serialized_code.shape == (4, len(child.grid_coord))
        child = parent
    assert torch.equal(child.grid_coord, data["grid_coord"])


def test_upcast_channel_counts_and_values():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(enc_mode=True)).eval()
    point = model(random_batch())
    full = upcast(point)
    assert full.level == 0 and full.feat.shape == (590, 16 + 32 + 64 + 128)
    mid = upcast(point, to_level=2)
    assert mid.level == 2 and mid.feat.shape == (len(point.pooling_parent.grid_coord), 64 + 128)
    # Up-cast features are the level's own features followed by the gathered coarser ones.
    level2 = point.pooling_parent
    torch.testing.assert_close(mid.feat[:, :64], level2.feat)
    torch.testing.assert_close(mid.feat[:, 64:], point.feat[point.pooling_inverse])
    # The chain is not modified.
    assert level2.feat.shape[1] == 64
    assert upcast(point, to_level=3) is point
    with pytest.raises(ValueError, match="to_level must be an int in \\[0, 3\\]"):
        upcast(point, to_level=4)


def test_mask_token_replaces_masked_embeddings():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(mask_token=True, drop_path=0.0)).eval()
    data = random_batch()
    plain = model(data).feat
    none_masked = model(dict(data, mask=torch.zeros(590, dtype=torch.bool))).feat
    torch.testing.assert_close(none_masked, plain)
    mask = torch.rand(590) < 0.5
    masked = model(dict(data, mask=mask)).feat
    assert not torch.allclose(masked[mask], plain[mask])
    # Masked inputs no longer matter: changing their features changes nothing.
    feat2 = data["feat"].clone()
    feat2[mask] += 10.0
    torch.testing.assert_close(model(dict(data, feat=feat2, mask=mask)).feat, masked)
    masked.sum().backward()
    assert model.mask_token.grad is not None and model.mask_token.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        model(dict(data, mask=mask.long()))


def test_eval_output_is_deterministic():
    torch.manual_seed(0)
    model = build_model(tiny_cfg()).eval()
    data = random_batch()
    torch.manual_seed(1)
    first = model(data).feat
    torch.manual_seed(2)
    second = model(data).feat
    assert torch.equal(first, second)


def test_training_shuffles_orders_per_forward():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(enc_mode=True, drop_path=0.0)).train()
    orders = {
        tuple(model(random_batch()).pooling_parent.pooling_parent.pooling_parent.order) for _ in range(6)
    }
    assert len(orders) > 1


def test_cpu_sparse_conv_uses_native_algorithm_and_matches_dense_reference():
    import spconv.pytorch as spconv
    from spconv.core import ConvAlgo

    torch.manual_seed(0)
    grid = torch.unique(torch.randint(0, 5, (60, 3)), dim=0)
    n = len(grid)
    feat = torch.randn(n, 3)
    conv = SubMConv3d(3, 2, kernel_size=3, bias=True)
    torch.nn.init.normal_(conv.bias)
    indices = torch.cat([torch.zeros(n, 1, dtype=torch.long), grid], dim=1).int()
    out = conv(spconv.SparseConvTensor(feat, indices, [5, 5, 5], 1)).features
    assert conv.conv.algo == ConvAlgo.Native
    # Eval mode too (spconv's own fused inference bias asserts on CPU).
    torch.testing.assert_close(
        conv.eval()(spconv.SparseConvTensor(feat, indices, [5, 5, 5], 1)).features, out
    )
    # Submanifold conv: out[p] = bias + sum over offsets d of W[:, d] @ feat[p + d - 1], weight (C_out, 3, 3, 3, C_in).
    row = {tuple(c.tolist()): i for i, c in enumerate(grid)}
    weight = conv.conv.weight
    expected = conv.bias.expand(n, 2).clone()
    for i, cell in enumerate(grid.tolist()):
        for a in range(3):
            for b in range(3):
                for c in range(3):
                    j = row.get((cell[0] + a - 1, cell[1] + b - 1, cell[2] + c - 1))
                    if j is not None:
                        expected[i] += weight[:, a, b, c, :] @ feat[j]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_drop_path_drops_whole_clouds():
    torch.manual_seed(0)
    drop = DropPath(0.5).train()
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    for _ in range(5):
        out = drop(torch.ones(8, 2), batch, 3)
        for b in range(3):
            values = out[batch == b].unique()
            assert values.numel() == 1 and values.item() in (0.0, 2.0)
    assert torch.equal(drop.eval()(torch.ones(8, 2), batch, 3), torch.ones(8, 2))


def test_bad_configuration_and_inputs_raise():
    with pytest.raises(ValueError, match="enc_channels must have 4 entries"):
        PointTransformerV3(4, enc_depths=(1, 1, 1, 1), enc_channels=(16, 32, 64), stride=(2, 2, 2))
    with pytest.raises(ValueError, match="order entries must be in"):
        PointTransformerV3(4, order=("z", "snake"))
    model = build_model(tiny_cfg())
    data = random_batch()
    with pytest.raises(ValueError, match="missing 'grid_coord'"):
        model({k: v for k, v in data.items() if k != "grid_coord"})
    with pytest.raises(ValueError, match="feat must have shape \\(N, 4\\)"):
        model(dict(data, feat=data["feat"][:, :3]))


def test_bfloat16_autocast_on_cpu():
    torch.manual_seed(0)
    model = build_model(tiny_cfg()).eval()
    data = random_batch()
    reference = model(data).feat
    with torch.autocast("cpu", dtype=torch.bfloat16):
        point = model(data)
    assert point.feat.dtype == torch.bfloat16
    torch.testing.assert_close(point.feat.float(), reference, rtol=0.1, atol=0.1)
    point.feat.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_mlp_checkpoint_gives_the_same_gradients():
    torch.manual_seed(0)
    models = [build_model(tiny_cfg(mlp_checkpoint=flag)).eval() for flag in (True, False)]
    models[1].load_state_dict(models[0].state_dict())
    data = random_batch()
    for model in models:
        model(data).feat.square().mean().backward()
    for (name, a), (_, b) in zip(models[0].named_parameters(), models[1].named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
