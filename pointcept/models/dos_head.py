"""DOS projection head: MLP -> L2-normalised embedding -> cosine logits against K prototypes."""

import torch
import torch.nn.functional as F
from torch import nn


class DOSHead(nn.Module):
    """Projection head with weight-normalised prototypes (cosine logits).

    ``Linear(in, hidden) -> GELU -> Linear(hidden, embed)``, L2-normalised, then the cosine with
    ``num_prototypes`` learnable unit vectors. Normalising the prototype rows in ``forward`` is
    weight normalisation with the gain frozen at 1, so every logit lies in [-1, 1] and the
    temperatures alone set the sharpness. Logits are float32 even under autocast. The default widths
    are ``DOS``'s (``head_hidden_channels``, ``head_embed_channels``, ``num_prototypes``).

    Args:
        in_channels (int): channels of the up-cast backbone features.
        hidden_channels (int): width of the hidden layer.
        embed_channels (int): dimension of the embedding and of each prototype.
        num_prototypes (int): K.
    """

    def __init__(self, in_channels: int, hidden_channels: int, embed_channels: int, num_prototypes: int):
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

    def embed(self, feat: torch.Tensor) -> torch.Tensor:
        """feat (Tensor[M, in_channels]) -> unit embedding (Tensor[M, embed_channels] float32).

        The MLP runs under whatever autocast is active; the normalisation runs in float32 with
        autocast disabled, so the embedding is a unit vector to fp32 precision.
        """
        hidden = self.mlp(feat)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            return F.normalize(hidden.float(), dim=-1, eps=1e-12)

    def logits(self, embed: torch.Tensor) -> torch.Tensor:
        """Unit embedding (Tensor[M, E]) -> cosine logits (Tensor[M, K] float32) in [-1, 1].

        Normalisation and matmul run in float32 with autocast disabled: in bf16 the cosines would
        carry ~3 significant digits, which ``exp(z / tau_t)`` with ``tau_t = 0.04`` amplifies.
        """
        with torch.autocast(device_type=embed.device.type, enabled=False):
            prototypes = F.normalize(self.prototypes.float(), dim=-1, eps=1e-12)
            return embed.float() @ prototypes.t()

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """feat (Tensor[M, in_channels]) -> cosine logits (Tensor[M, K] float32) in [-1, 1]."""
        return self.logits(self.embed(feat))
