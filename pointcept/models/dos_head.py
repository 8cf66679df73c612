"""DOS projection head: MLP -> L2-normalised embedding -> cosine logits against K prototypes."""

import torch
import torch.nn.functional as F
from torch import nn


class DOSHead(nn.Module):
    """Projection head with weight-normalised prototypes (cosine logits).

    ``Linear(in, hidden) -> GELU -> Linear(hidden, embed)``, L2-normalised, then the cosine with
    ``num_prototypes`` learnable unit vectors. Normalising the prototype rows in ``forward`` is
    weight normalisation with the gain frozen at 1, so every logit lies in [-1, 1] and the
    temperatures alone set the sharpness.

    Args:
        in_channels (int): channels of the up-cast backbone features.
        hidden_channels (int): width of the hidden layer.
        embed_channels (int): dimension of the embedding and of each prototype.
        num_prototypes (int): K.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 4096,
        embed_channels: int = 256,
        num_prototypes: int = 1024,
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("hidden_channels", hidden_channels),
            ("embed_channels", embed_channels),
            ("num_prototypes", num_prototypes),
        ):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"DOSHead: {name} must be a positive int, got {value!r}")
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels),
            nn.GELU(),
            nn.Linear(hidden_channels, embed_channels),
        )
        self.prototypes = nn.Parameter(torch.empty(num_prototypes, embed_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    @property
    def num_prototypes(self) -> int:
        return self.prototypes.shape[0]

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """feat (Tensor[M, in_channels]) -> cosine logits (Tensor[M, K]) in [-1, 1]."""
        # fp16 cannot represent 1e-12; a larger floor keeps the normalisation finite under autocast.
        eps = 1e-6 if feat.dtype == torch.float16 else 1e-12
        embed = F.normalize(self.mlp(feat), dim=-1, eps=eps)
        prototypes = F.normalize(self.prototypes, dim=-1, eps=eps)
        return embed @ prototypes.to(embed.dtype).t()
