"""PTv3's CPE with spconv and with the fused submconv: same parameters, same outputs and gradients,
official parity with either, the neighbour table built once per level, the ``auto`` choice."""

import copy

import pytest
import torch
from test_convert_weights import fixture, relative_error, released_checkpoint

import pointcept.ops as ops
from pointcept.models import ptv3_convert as conv
from pointcept.models import structure
from pointcept.models.point_transformer_v3 import CPE, PointTransformerV3

TINY = dict(
    in_channels=4,
    enc_depths=(1, 1, 2),
    enc_channels=(8, 16, 24),
    enc_num_head=(1, 2, 2),
    enc_patch_size=16,
    dec_depths=(1, 1),
    dec_channels=(8, 16),
    dec_num_head=(1, 2),
    dec_patch_size=16,
    stride=(2, 2),
    drop_path=0.0,
    shuffle_orders=False,
)


def tiny_input(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    cells = torch.unique(torch.randint(0, 12, (900, 3), generator=generator), dim=0)
    grid = torch.cat([cells[:300], cells[300:] + 20])  # two clouds, the second shifted
    return dict(
        coord=grid.float() * 0.05,
        grid_coord=grid,
        feat=torch.randn(len(grid), 4, generator=generator),
        offset=torch.tensor([300, len(grid)]),
    )


def set_cpe_impl(model: torch.nn.Module, impl: str) -> None:
    for module in model.modules():
        if isinstance(module, CPE):
            module.impl = impl


@pytest.mark.parametrize("impl", ["spconv", "fused"])
@pytest.mark.parametrize("fmt", conv.FORMATS)
def test_official_parity_with_each_cpe(fmt, impl):
    fix = fixture(fmt)
    official = fix["config"] if fmt == "pointcept" else None
    state, arch, _ = conv.import_official(released_checkpoint(fmt, fix), fmt, official_config=official)
    assert relative_error(fix, state, dict(arch, cpe_impl=impl)) < 1e-4


def test_fused_and_spconv_cpe_give_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    spconv_model = PointTransformerV3(**TINY, cpe_impl="spconv").train()
    fused_model = copy.deepcopy(spconv_model)
    set_cpe_impl(fused_model, "fused")
    data = tiny_input()
    results = []
    for model in (spconv_model, fused_model):
        feat = model(dict(data)).feat
        feat.square().mean().backward()
        results.append((feat.detach(), {name: p.grad for name, p in model.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_b, out_a, rtol=1e-4, atol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    cpe_weights = [name for name in grads_a if name.endswith("cpe.conv.conv.weight")]
    assert len(cpe_weights) == 6 and all(grads_b[name].abs().sum() > 0 for name in cpe_weights)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-3, atol=1e-5, msg=name)


def test_neighbour_table_is_built_once_per_level(monkeypatch):
    calls = []
    original = structure.submconv_neighbours

    def counting(grid_coord, offset):
        calls.append(len(grid_coord))
        return original(grid_coord, offset)

    monkeypatch.setattr(structure, "submconv_neighbours", counting)
    model = PointTransformerV3(**TINY, cpe_impl="fused").eval()
    data = tiny_input()
    with torch.no_grad():
        model(data)
    # Three levels, each with several CPEs (encoder and decoder blocks): one table per level.
    assert len(calls) == 3 and calls[0] == len(data["grid_coord"]) and calls[0] > calls[1] > calls[2]


def test_auto_takes_the_fused_kernel_on_cpu_when_built():
    cpe = CPE(8, "level0", "auto")
    cpu = torch.device("cpu")
    assert cpe.uses_fused(cpu) == ops.kernel_available("submconv", cpu)
    with ops.use_backend("reference"):
        assert not cpe.uses_fused(cpu)
    assert CPE(8, "level0", "fused").uses_fused(cpu) and not CPE(8, "level0", "spconv").uses_fused(cpu)
    with pytest.raises(
        ValueError, match=r"cpe_impl must be one of \('auto', 'fused', 'spconv'\), got 'dense'"
    ):
        PointTransformerV3(**TINY, cpe_impl="dense")
