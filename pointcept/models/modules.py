"""Small building blocks shared by point models: DropPath, MLP, a device-aware submanifold conv."""

import torch
from torch import nn

from .structure import import_spconv


class DropPath(nn.Module):
    """Stochastic depth per cloud (Huang et al., ECCV 2016).

    A residual branch is dropped for a whole cloud, not per point: dropping single points would
    only add feature noise, while the method's point is to train shallower sub-networks.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor, batch: torch.Tensor, num_clouds: int) -> torch.Tensor:
        """x (Tensor[N, C]), batch (Tensor[N] int64) -> Tensor[N, C] (scaled by 1/keep_prob or zeroed)."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        keep = torch.rand(num_clouds, device=x.device, dtype=x.dtype) < keep_prob
        scale = keep.to(x.dtype) / keep_prob
        return x * scale[batch].unsqueeze(1)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class MLP(nn.Sequential):
    """Linear(C, hidden) -> GELU -> Linear(hidden, C_out); x (Tensor[N, C]) -> Tensor[N, C_out]."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None):
        super().__init__(
            nn.Linear(in_channels, hidden_channels),
            nn.GELU(),
            nn.Linear(hidden_channels, out_channels or in_channels),
        )


class SubMConv3d(nn.Module):
    """spconv ``SubMConv3d`` whose algorithm follows the device of its input.

    spconv's default implicit-GEMM algorithm only exists on CUDA and crashes on CPU, where the
    ``Native`` gather-GEMM-scatter algorithm must be used; the algorithm is picked per call from
    the input's device (spconv keeps one weight layout for all algorithms, so switching is safe).
    The bias is added here rather than by spconv, whose fused inference-mode bias is CUDA-only
    (Pointcept issue #194). Convs sharing an ``indice_key`` reuse the neighbour map stored in the
    sparse tensor, so each level builds it once.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, indice_key=None
    ):
        super().__init__()
        spconv = import_spconv()

        self.conv = spconv.SubMConv3d(
            in_channels, out_channels, kernel_size, bias=False, indice_key=indice_key
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.cuda_algo = self.conv.algo

    def forward(self, x):
        """x (spconv.SparseConvTensor with features Tensor[N, C_in]) -> SparseConvTensor (Tensor[N, C_out])."""
        from spconv.core import ConvAlgo

        device_type = x.features.device.type
        self.conv.algo = ConvAlgo.Native if device_type == "cpu" else self.cuda_algo
        if device_type == "cuda" and x.features.dtype == torch.float16:
            # spconv's own autocast support (fp16 on CUDA).
            out = self.conv(x)
        else:
            # spconv has no bfloat16 kernels and its CPU path breaks under autocast: run in float32
            # (float64 stays float64).
            if x.features.dtype not in (torch.float32, torch.float64):
                x = x.replace_feature(x.features.float())
            with torch.autocast(device_type, enabled=False):
                out = self.conv(x)
        if self.bias is not None:
            out = out.replace_feature(out.features + self.bias)
        return out


class EncoderTaskModel(nn.Module):
    """Base of task models on a pretrained encoder (``self.backbone``) that can be frozen.

    With ``freeze_backbone`` (linear probing), the backbone's parameters get ``requires_grad=False``
    and the backbone stays in eval mode (no dropout/drop-path, fixed norm statistics) whatever
    ``train()`` is called with; :meth:`run_backbone` then builds no autograd graph through it.
    """

    freeze_backbone = False

    def set_frozen_backbone(self, freeze: bool) -> None:
        self.freeze_backbone = bool(freeze)
        if self.freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def run_backbone(self, data: dict):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            return self.backbone(data)
