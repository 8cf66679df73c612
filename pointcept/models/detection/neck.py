"""A 2D convolutional BEV neck: one full-resolution path and one stride-2 path, fused."""

from collections.abc import Sequence

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BEVNeck(nn.Module):
    """``in -> [conv-BN-ReLU] x n0`` at full resolution (c0 channels), ``-> stride-2 conv -> [...] x n1``
    (c1 channels) -> transposed conv back to full resolution (c0); output = concat of both paths.

    Args:
        in_channels (int): channels of the BEV map.
        channels (tuple[int, int]): c0, c1.
        num_blocks (tuple[int, int]): n0, n1 (>= 1 each; the first block of each path changes
            channels or resolution).

    Output: Tensor[B, 2 * c0, H, W] for an input Tensor[B, in_channels, H, W] (any H, W).
    """

    def __init__(
        self, in_channels: int, channels: Sequence[int] = (64, 128), num_blocks: Sequence[int] = (2, 2)
    ):
        super().__init__()
        if len(channels) != 2 or len(num_blocks) != 2 or min(num_blocks) < 1:
            raise ValueError(
                f"BEVNeck needs two channels and two block counts >= 1, got {channels}, {num_blocks}"
            )
        c0, c1 = int(channels[0]), int(channels[1])
        self.full = nn.Sequential(
            conv_bn_relu(in_channels, c0), *(conv_bn_relu(c0, c0) for _ in range(num_blocks[0] - 1))
        )
        self.down = nn.Sequential(
            conv_bn_relu(c0, c1, stride=2), *(conv_bn_relu(c1, c1) for _ in range(num_blocks[1] - 1))
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c1, c0, 2, stride=2, bias=False), nn.BatchNorm2d(c0), nn.ReLU(inplace=True)
        )
        self.out_channels = 2 * c0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = self.full(x)
        # An odd H or W gives ceil(H/2) coarse rows; upsampling them overshoots by one row.
        up = self.up(self.down(full))[..., : full.shape[2], : full.shape[3]]
        return torch.cat([full, up], dim=1)
