"""Semantic segmentation: a backbone, an optional up-cast, one linear head and a list of criteria."""

import torch
from torch import nn

from .builder import MODELS, build_loss, build_model
from .modules import EncoderTaskModel
from .upcast import upcast


@MODELS.register_module()
class DefaultSegmentor(EncoderTaskModel):
    """Backbone + ``Linear(backbone_out_channels, num_classes)`` on every input point.

    If the backbone returns a pooled Point (encoder only), its features are up-cast to
    ``upcast_level`` (default 0) by concatenating every stage on the way, then gathered to the input
    points through the pooling maps below that level.

    Args:
        backbone (dict): config of the backbone (built from ``MODELS``).
        num_classes (int): classes predicted.
        backbone_out_channels (int): channels of the (up-cast) backbone features.
        criteria (list[dict]): loss configs from ``LOSSES``; their values are summed.
        freeze_backbone (bool): linear probing: backbone parameters get ``requires_grad=False``, the
            backbone stays in eval mode (no DropPath noise) and runs without autograd.
        upcast_level (int | None): level whose features (concatenated with all coarser ones) feed
            the head; None means 0.
    """

    def __init__(
        self,
        backbone: dict,
        num_classes: int,
        backbone_out_channels: int,
        criteria: list,
        freeze_backbone: bool = False,
        upcast_level: int | None = None,
    ):
        super().__init__()
        if upcast_level is not None and (not isinstance(upcast_level, int) or upcast_level < 0):
            raise ValueError(f"upcast_level must be None or an int >= 0, got {upcast_level!r}")
        self.backbone = build_model(backbone)
        self.seg_head = nn.Linear(backbone_out_channels, num_classes)
        self.criteria = nn.ModuleList(build_loss(c) for c in criteria)
        self.num_classes = num_classes
        self.backbone_out_channels = backbone_out_channels
        self.upcast_level = upcast_level or 0
        self.set_frozen_backbone(freeze_backbone)

    def features(self, data: dict) -> torch.Tensor:
        """Backbone features of every input point, Tensor[N, backbone_out_channels]."""
        point = self.run_backbone(data)
        level = min(self.upcast_level, point.level)
        point = upcast(point, level)
        feat = point.feat
        # Below the up-cast level every input point reads its cell's feature.
        while point.level > 0:
            feat = feat[point.pooling_inverse]
            point = point.pooling_parent
        if feat.shape[1] != self.backbone_out_channels:
            raise ValueError(
                f"backbone_out_channels={self.backbone_out_channels} but the backbone gives "
                f"{feat.shape[1]} channels at level {level}; set backbone_out_channels={feat.shape[1]}"
            )
        return feat

    def forward(self, data: dict) -> dict:
        """data: the backbone's input dict, plus ``segment`` (Tensor[N] int64, -1 = ignore) for a loss.

        Returns:
            dict with ``seg_logits`` (Tensor[N, num_classes]) and, when ``segment`` is given,
            ``loss`` (scalar, sum of the criteria) and one scalar per criterion class (``loss_<Class>``).
        """
        logits = self.seg_head(self.features(data))
        out = {"seg_logits": logits}
        if "segment" in data:
            terms = [c(logits, data["segment"]) for c in self.criteria]
            for c, term in zip(self.criteria, terms):
                out.setdefault(f"loss_{type(c).__name__}", term)
            out["loss"] = sum(terms) if terms else logits.sum() * 0.0
        elif self.training:
            raise ValueError("DefaultSegmentor needs 'segment' (Tensor[N] int64) in training mode")
        return out
