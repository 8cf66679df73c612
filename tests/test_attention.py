"""Serialized patch attention against a naive per-cloud softmax, on every device and backend.

The exact tests pin the SDPA path (``sdpa`` fixture): on a CUDA machine with flash-attn installed the
default would run flash-attn in bf16, which has its own test against SDPA.
"""

import importlib.util
import math

import pytest
import torch

from pointcept.models import attention
from pointcept.models.attention import PatchIndex, SerializedAttention
from pointcept.models.structure import Point


@pytest.fixture
def sdpa(monkeypatch):
    monkeypatch.setattr(attention, "_flash_available", lambda device: False)


def make_point(sizes, seed=0, side=24, device="cpu"):
    """Clouds of distinct random cells drawn on the CPU (same on every device), then moved to ``device``."""
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for n in sizes:
        cells = torch.randperm(side**3, generator=gen)[:n]
        grids.append(torch.stack([cells // side**2, (cells // side) % side, cells % side], dim=1))
    offset = torch.cumsum(torch.tensor(sizes), 0)
    point = Point(grid_coord=torch.cat(grids).to(device), offset=offset.to(device))
    return point.serialize(("z", "hilbert"))


def naive_cloud_attention(qkv, num_heads, patch_size):
    """One cloud, already in curve order: loops over patches with an explicit softmax."""
    n, c3 = qkv.shape
    c = c3 // 3
    d = c // num_heads
    q, k, v = qkv.view(n, 3, num_heads, d).unbind(1)
    out = torch.empty(n, c, dtype=qkv.dtype, device=qkv.device)
    length = min(patch_size, n)
    num = math.ceil(n / length)
    for j in range(num):
        first = min(j * length, n - length)
        owned_from = j * length  # points before this were answered by earlier patches
        rows = slice(first, first + length)
        scores = torch.einsum("ihd,jhd->hij", q[rows], k[rows]) / math.sqrt(d)
        o = torch.einsum("hij,jhd->ihd", scores.softmax(-1), v[rows]).reshape(length, c)
        out[owned_from : first + length] = o[owned_from - first :]
    return out


@pytest.mark.parametrize("sizes", [(150, 70, 37), (64, 65, 1), (200,)])
def test_padded_attention_equals_per_cloud_attention(sizes, device, sdpa):
    torch.manual_seed(0)
    point = make_point(sizes, device=device)
    attn = SerializedAttention(channels=16, num_heads=2, patch_size=64, order_index=1).double().to(device)
    feat = torch.randn(len(point.grid_coord), 16, dtype=torch.float64, device=device)
    out = attn(feat, point)

    qkv = attn.qkv(feat)
    sorted_index = point.serialized_order[1]
    start = 0
    for end in point.offset.tolist():
        rows = sorted_index[start:end]
        expected = attn.proj(naive_cloud_attention(qkv[rows], 2, 64))
        torch.testing.assert_close(out[rows], expected, rtol=1e-10, atol=1e-10)
        # The same cloud alone gives the same output: nothing leaks between clouds.
        alone = Point(
            grid_coord=point.grid_coord[start:end], offset=torch.tensor([end - start], device=device)
        )
        alone.serialize(("z", "hilbert"))
        torch.testing.assert_close(attn(feat[start:end], alone), out[start:end], rtol=1e-10, atol=1e-10)
        start = end


def test_float32_attention_matches_float64_reference(device, sdpa):
    torch.manual_seed(1)
    point = make_point((300, 130), device=device)
    attn = SerializedAttention(channels=32, num_heads=4, patch_size=128, order_index=0).to(device)
    feat = torch.randn(len(point.grid_coord), 32, device=device)
    out = attn(feat, point)
    assert out.dtype == torch.float32 and out.device == feat.device
    expected = attn.double()(feat.double(), point)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_matches_float32(device, sdpa):
    """Under bf16 autocast the projections and SDPA run in bf16 and stay within bf16 rounding."""
    torch.manual_seed(4)
    point = make_point((300, 130), device=device)
    attn = SerializedAttention(channels=32, num_heads=4, patch_size=128).to(device)
    feat = torch.randn(len(point.grid_coord), 32, device=device)
    expected = attn(feat, point)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = attn(feat, point)
    assert out.dtype == torch.bfloat16 and out.device == feat.device
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.02)
    assert (out.float() - expected).abs().max() > 0  # bf16 really ran


def test_patch_index_layout(device):
    point = make_point((150, 70, 37), device=device)
    index = PatchIndex(point.serialized_order[0], point.offset, patch_size=64)
    # Cloud 0: 3 patches of 64, cloud 1: 2 of 64, cloud 2 shrinks to one patch of 37.
    assert index.groups == [(64, 5), (37, 1)]
    assert index.cu_seqlens.tolist() == [0, 64, 128, 192, 256, 320, 357]
    assert index.max_seqlen == 64
    # Every point is answered exactly once, by a slot that holds that point.
    assert torch.equal(index.gather[index.scatter], torch.arange(257, device=device))
    # Patches never mix clouds.
    batch_of_slot = point.batch[index.gather]
    for a, b in zip(index.cu_seqlens[:-1].tolist(), index.cu_seqlens[1:].tolist()):
        assert batch_of_slot[a:b].unique().numel() == 1


def test_gradients_flow_through_duplicated_slots(device, sdpa):
    torch.manual_seed(2)
    point = make_point((40,), device=device)
    attn = SerializedAttention(channels=4, num_heads=1, patch_size=16).double().to(device)
    feat = torch.randn(40, 4, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: attn(f, point), (feat,))


def test_bad_heads_raise():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SerializedAttention(channels=10, num_heads=4, patch_size=8)


def fake_flash_varlen(qkv, cu_seqlens, max_seqlen, softmax_scale):
    """Stand-in for flash_attn_varlen_qkvpacked_func: (T, 3, H, D) -> (T, H, D), one sequence at a time."""
    assert qkv.dtype == torch.bfloat16 and cu_seqlens.dtype == torch.int32
    out = torch.empty(qkv.shape[0], qkv.shape[2], qkv.shape[3], dtype=qkv.dtype, device=qkv.device)
    bounds = cu_seqlens.tolist()
    assert max_seqlen == max(b - a for a, b in zip(bounds[:-1], bounds[1:]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        q, k, v = qkv[a:b].float().unbind(1)
        scores = torch.einsum("ihd,jhd->hij", q, k) * softmax_scale
        out[a:b] = torch.einsum("hij,jhd->ihd", scores.softmax(-1), v).to(qkv.dtype)
    return out


def test_flash_path_layout_matches_sdpa(monkeypatch, device, sdpa):
    import sys
    import types

    torch.manual_seed(3)
    point = make_point((150, 70, 37), device=device)
    attn = SerializedAttention(channels=16, num_heads=2, patch_size=64, order_index=1).to(device)
    feat = torch.randn(len(point.grid_coord), 16, device=device)
    expected = attn(feat, point)
    monkeypatch.setitem(
        sys.modules, "flash_attn", types.SimpleNamespace(flash_attn_varlen_qkvpacked_func=fake_flash_varlen)
    )
    monkeypatch.setattr(attention, "_flash_available", lambda device: True)
    torch.testing.assert_close(attn(feat, point), expected, rtol=0.05, atol=0.02)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="flash-attn not installed")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_real_flash_attn_matches_sdpa(monkeypatch, dtype):
    """flash-attn varlen (the default on CUDA when installed) against SDPA, within bf16 rounding."""
    torch.manual_seed(5)
    point = make_point((700, 300, 37, 1), device="cuda")
    attn = SerializedAttention(channels=64, num_heads=4, patch_size=128, order_index=1).cuda()
    feat = torch.randn(len(point.grid_coord), 64, device="cuda", dtype=dtype)
    attn = attn.to(dtype)
    assert attention._flash_available(feat.device)
    out = attn(feat, point)
    monkeypatch.setattr(attention, "_flash_available", lambda device: False)
    expected = attn(feat, point)
    assert out.dtype == dtype and out.shape == expected.shape
    torch.testing.assert_close(out.float(), expected.float(), rtol=0.05, atol=0.02)
