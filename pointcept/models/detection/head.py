"""The CenterPoint head: per-class heatmap logits and the regression maps, one small branch each."""

import math

import torch
from torch import nn

from .neck import conv_bn_relu

# Output channels of the regression branches, in the order of ``targets.REG_CHANNELS``.
REG_BRANCHES = (("offset", 2), ("height", 1), ("size", 3), ("rot", 2), ("vel", 2))


class CenterHead(nn.Module):
    """Shared conv-BN-ReLU, then per output a ``conv-BN-ReLU -> 1x1 conv`` branch.

    The heatmap branch's final bias starts at ``-log((1 - prior) / prior)``, so every cell starts
    at probability ``prior`` (0.1): a zero bias would make the many empty cells dominate the first
    focal-loss steps.

    forward: Tensor[B, in_channels, H, W] -> (heatmap logits Tensor[B, num_classes, H, W],
    regression Tensor[B, 10, H, W]).
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int = 64, prior: float = 0.1):
        super().__init__()
        if not 0.0 < prior < 1.0:
            raise ValueError(f"heatmap prior must be in (0, 1), got {prior}")
        self.shared = conv_bn_relu(in_channels, channels)
        self.heatmap = nn.Sequential(conv_bn_relu(channels, channels), nn.Conv2d(channels, num_classes, 1))
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - prior) / prior))
        self.reg = nn.ModuleDict(
            {
                name: nn.Sequential(conv_bn_relu(channels, channels), nn.Conv2d(channels, n, 1))
                for name, n in REG_BRANCHES
            }
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.shared(x)
        return self.heatmap(x), torch.cat([self.reg[name](x) for name, _ in REG_BRANCHES], dim=1)
