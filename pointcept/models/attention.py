"""Serialized patch attention (PTv3): self-attention inside windows of consecutive points along a curve.

Patching rule, per cloud of ``n`` points sorted by the block's curve, with patch size ``K``:

* ``n <= K``: one patch holding the whole cloud (the patch shrinks to the cloud);
* otherwise ``ceil(n / K)`` patches of exactly ``K`` points: ``[jK, jK + K)`` for all but the last,
  and the last is the final ``K`` points ``[n - K, n)``, so it overlaps its predecessor instead of
  being padded. Each point takes its output from the first patch that contains it.

So every patch holds only real points of one cloud and no attention mask is needed: nothing attends
across clouds or to padding, and the result equals running each cloud on its own. (This is the
same set as Pointcept's flash path, which fills the last patch with copies of the previous one.)

Backends: ``flash_attn_varlen_qkvpacked_func`` when flash-attn is installed and the input is on
CUDA; otherwise ``torch.nn.functional.scaled_dot_product_attention`` on patches batched by size
(fused, memory-efficient kernels on CPU and GPU; the full (N, N) matrix never exists).
"""

import importlib.util
import logging

import torch
import torch.nn.functional as F
from torch import nn

from .structure import Point

logger = logging.getLogger(__name__)
_logged_backends: set[str] = set()


class PatchIndex:
    """Patch layout of one (order, patch size) pair, shared by all blocks of a level.

    Attributes:
        gather (Tensor[T] int64): point index of every patch slot; patches are laid out one after
            another, grouped by size (T = total slots, >= N).
        groups (list[tuple[int, int]]): ``(patch_len, num_patches)`` per group, in layout order.
        cu_seqlens (Tensor[P + 1] int32): slot offsets of the P patches (for flash-attn varlen).
        max_seqlen (int): longest patch.
        scatter (Tensor[N] int64): slot that gives each point its output.
    """

    def __init__(self, serialized_order: torch.Tensor, offset: torch.Tensor, patch_size: int):
        device = serialized_order.device
        counts = torch.diff(offset, prepend=offset.new_zeros(1)).tolist()
        starts = [0]
        for c in counts[:-1]:
            starts.append(starts[-1] + c)
        # (patch_len -> list of (first sorted position of the patch, owned range within the patch))
        by_len: dict[int, list[tuple[int, int]]] = {}
        for start, n in zip(starts, counts):
            if n == 0:
                continue
            length = min(patch_size, n)
            num = -(-n // length)
            patches = by_len.setdefault(length, [])
            for j in range(num - 1):
                patches.append((start + j * length, 0))
            # The last patch starts at n - length; its first slots repeat points owned earlier.
            last = start + n - length
            patches.append((last, start + (num - 1) * length - last))
        self.groups = [(length, len(p)) for length, p in sorted(by_len.items(), reverse=True)]
        gather, owner_slot, owner_pos, lens = [], [], [], []
        slot = 0
        for length, _ in self.groups:
            info = torch.tensor(by_len[length], dtype=torch.long, device=device)
            ar = torch.arange(length, device=device)
            pos = info[:, :1] + ar  # (P_len, length) sorted positions
            owned = ar >= info[:, 1:2]
            slots = slot + torch.arange(pos.numel(), device=device).view_as(pos)
            gather.append(pos.reshape(-1))
            owner_slot.append(slots[owned])
            owner_pos.append(pos[owned])
            lens.append(torch.full((len(info),), length, dtype=torch.int32, device=device))
            slot += pos.numel()
        n_total = serialized_order.numel()
        sorted_pos = torch.cat(gather) if gather else serialized_order.new_zeros(0)
        self.gather = serialized_order[sorted_pos]
        self.scatter = torch.empty(n_total, dtype=torch.long, device=device)
        if gather:
            self.scatter[serialized_order[torch.cat(owner_pos)]] = torch.cat(owner_slot)
        lens = torch.cat(lens) if lens else torch.zeros(0, dtype=torch.int32, device=device)
        self.cu_seqlens = F.pad(torch.cumsum(lens, 0, dtype=torch.int32), (1, 0))
        self.max_seqlen = self.groups[0][0] if self.groups else 0


def patch_index(point: Point, order_index: int, patch_size: int) -> PatchIndex:
    """The cached ``PatchIndex`` of ``point`` for curve ``order_index`` and ``patch_size``."""
    cache = point.attention_cache
    key = (order_index, patch_size)
    if key not in cache:
        cache[key] = PatchIndex(point.serialized_order[order_index], point.offset, patch_size)
    return cache[key]


def _flash_available(device: torch.device) -> bool:
    return device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None


def _log_backend_once(name: str) -> None:
    if name not in _logged_backends:
        _logged_backends.add(name)
        logger.info("serialized attention backend: %s", name)


def patch_attention(qkv: torch.Tensor, index: PatchIndex, num_heads: int, scale: float) -> torch.Tensor:
    """Softmax attention inside patches.

    Args:
        qkv (Tensor[N, 3 * C]): queries, keys and values of every point (heads split along C).
        index (PatchIndex): patch layout.
        num_heads (int): heads H, ``C % H == 0``.
        scale (float): softmax scale (usually ``(C / H) ** -0.5``).

    Returns:
        Tensor[N, C]: attention output of every point, in input order.
    """
    n, c3 = qkv.shape
    c = c3 // 3
    head_dim = c // num_heads
    slots = qkv[index.gather]  # (T, 3C)
    if _flash_available(qkv.device):
        _log_backend_once("flash_attn varlen")
        from flash_attn import flash_attn_varlen_qkvpacked_func

        half = qkv.dtype if qkv.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
        out = flash_attn_varlen_qkvpacked_func(
            slots.to(half).view(-1, 3, num_heads, head_dim),
            index.cu_seqlens,
            index.max_seqlen,
            softmax_scale=scale,
        )
        out = out.reshape(-1, c).to(qkv.dtype)
    else:
        _log_backend_once("torch scaled_dot_product_attention")
        outs, slot = [], 0
        for length, num in index.groups:
            chunk = slots[slot : slot + length * num].view(num, length, 3, num_heads, head_dim)
            q, k, v = chunk.permute(2, 0, 3, 1, 4).unbind(0)  # each (P, H, L, D)
            o = F.scaled_dot_product_attention(q, k, v, scale=scale)
            outs.append(o.transpose(1, 2).reshape(num * length, c))
            slot += length * num
        out = torch.cat(outs) if outs else qkv.new_zeros(0, c)
    return out[index.scatter]


class SerializedAttention(nn.Module):
    """Multi-head self-attention inside patches of ``patch_size`` points along curve ``order_index``.

    Args:
        channels (int): C.
        num_heads (int): H, dividing C.
        patch_size (int): K, points per patch.
        order_index (int): which of ``point.serialized_order`` this block sorts by.
        qkv_bias (bool): bias in the qkv projection.
    """

    def __init__(
        self, channels: int, num_heads: int, patch_size: int, order_index: int = 0, qkv_bias: bool = True
    ):
        super().__init__()
        if channels % num_heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        self.channels = channels
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.order_index = order_index
        self.scale = (channels // num_heads) ** -0.5
        self.qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        self.proj = nn.Linear(channels, channels)

    def forward(self, feat: torch.Tensor, point: Point) -> torch.Tensor:
        """feat (Tensor[N, C]) of a serialized ``point`` -> Tensor[N, C]."""
        order_index = self.order_index % point.serialized_order.shape[0]
        index = patch_index(point, order_index, self.patch_size)
        out = patch_attention(self.qkv(feat), index, self.num_heads, self.scale)
        return self.proj(out)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_heads={self.num_heads}, patch_size={self.patch_size}, order_index={self.order_index}"
