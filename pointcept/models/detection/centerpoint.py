"""``CenterPoint``: the PTv3 encoder, a BEV scatter, a 2D neck and a center head.

Batch interface (what readers, configs and the evaluator rely on):

* input: the backbone's dict (``coord``, ``grid_coord``, ``feat``, ``offset``) plus, for a loss,
  ``gt_boxes`` (Tensor[M, 9]: x, y, z, l, w, h, yaw, vx, vy; convention of
  ``pointcept.datasets.boxes``), ``gt_labels`` (Tensor[M] int64, -1 = ignore) and ``gt_offset``
  (Tensor[B] int64, cumulative box counts), as ``collate_fn`` produces them;
* training output: ``dict(loss, loss_hm, loss_reg)`` (scalars; ``loss = hm_weight * loss_hm +
  reg_weight * loss_reg``), plus ``num_objects`` (0-d float tensor: boxes that got a target);
* eval output (``model.eval()``): ``pred_boxes`` (Tensor[K, 9]), ``pred_scores`` (Tensor[K]),
  ``pred_labels`` (Tensor[K] int64), ``pred_offset`` (Tensor[B] int64, cumulative counts; use
  ``split_predictions`` for per-cloud dicts); the losses too when the batch has ``gt_boxes``.

Scores are the heatmap probabilities; boxes come out in the same frame as ``coord``.
"""

from collections.abc import Sequence

import torch

from ..builder import MODELS, build_model
from ..modules import EncoderTaskModel
from ..upcast import upcast
from .bev import BEVGrid, scatter_to_bev
from .decode import decode_detections
from .head import CenterHead
from .losses import heatmap_focal_loss, regression_l1_loss
from .neck import BEVNeck
from .targets import REG_CHANNELS, encode_targets

DEFAULT_CODE_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2)


@MODELS.register_module()
class CenterPoint(EncoderTaskModel):
    """CenterPoint-style detector on a PTv3 encoder (see the module docstring for the interface).

    Args:
        backbone (dict): PTv3 config with ``enc_mode=True``.
        num_classes (int): detection classes (heatmap channels).
        point_cloud_range (Sequence[float]): (x0, y0, z0, x1, y1, z1) of the BEV grid, metres.
        bev_cell_size (float): BEV cell size, metres; must divide the x and y extents.
        upcast_level (int): encoder level whose points are scattered (0 = input voxels).
        stages (Sequence[int] | None): encoder levels (>= ``upcast_level``) whose features,
            up-cast to ``upcast_level``, are concatenated; None = all of them.
        scatter_reduce (str): ``"max"`` or ``"mean"`` over the points of a BEV cell.
        neck (dict): ``BEVNeck`` kwargs (``channels``, ``num_blocks``).
        head_channels (int): width of the head's convs.
        min_overlap (float), min_radius (int): Gaussian radius rule (``targets`` docstring).
        hm_weight, reg_weight (float): loss weights.
        code_weights (Sequence[float]): weights of the 10 regression channels.
        topk (int): peaks kept per class and cloud at decoding.
        score_threshold (float): minimum score of a decoded box.
        nms_radius (Sequence[float] | None): per-class circle-NMS radius in metres (None: no NMS).
        max_per_cloud (int): boxes kept per cloud after NMS.
        freeze_backbone (bool): keep the encoder frozen and in eval mode.
    """

    def __init__(
        self,
        backbone: dict,
        num_classes: int,
        point_cloud_range: Sequence[float],
        bev_cell_size: float,
        upcast_level: int = 1,
        stages: Sequence[int] | None = None,
        scatter_reduce: str = "max",
        neck: dict | None = None,
        head_channels: int = 64,
        min_overlap: float = 0.1,
        min_radius: int = 2,
        hm_weight: float = 1.0,
        reg_weight: float = 0.25,
        code_weights: Sequence[float] = DEFAULT_CODE_WEIGHTS,
        topk: int = 100,
        score_threshold: float = 0.1,
        nms_radius: Sequence[float] | None = None,
        max_per_cloud: int = 500,
        freeze_backbone: bool = False,
    ):
        super().__init__()
        if not (isinstance(num_classes, int) and num_classes >= 1):
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        self.backbone = build_model(backbone)
        enc_channels = getattr(self.backbone, "enc_channels", None)
        if not getattr(self.backbone, "enc_mode", False) or enc_channels is None:
            raise ValueError(
                "CenterPoint needs an encoder-only backbone (PointTransformerV3 with enc_mode=True)"
            )
        num_levels = len(enc_channels)
        if not (isinstance(upcast_level, int) and 0 <= upcast_level < num_levels):
            raise ValueError(f"upcast_level must be an int in [0, {num_levels - 1}], got {upcast_level!r}")
        stages = tuple(range(upcast_level, num_levels)) if stages is None else tuple(sorted(set(stages)))
        if not stages or any(not upcast_level <= s < num_levels for s in stages):
            raise ValueError(f"stages must be levels in [{upcast_level}, {num_levels - 1}], got {stages}")
        if scatter_reduce not in ("max", "mean"):
            raise ValueError(f"scatter_reduce must be 'max' or 'mean', got {scatter_reduce!r}")
        if len(code_weights) != REG_CHANNELS:
            raise ValueError(f"code_weights needs {REG_CHANNELS} entries, got {len(code_weights)}")
        if nms_radius is not None and len(nms_radius) != num_classes:
            raise ValueError(f"nms_radius needs one radius per class ({num_classes}), got {len(nms_radius)}")
        self.num_classes = num_classes
        self.grid = BEVGrid(point_cloud_range, bev_cell_size)
        self.upcast_level = upcast_level
        self.stages = stages
        # Channel slices of the chosen stages inside the up-cast feature (finest level first).
        starts = {lvl: sum(enc_channels[upcast_level:lvl]) for lvl in range(upcast_level, num_levels)}
        self._slices = [(starts[s], starts[s] + enc_channels[s]) for s in stages]
        bev_channels = sum(enc_channels[s] for s in stages)
        self.scatter_reduce = scatter_reduce
        self.neck = BEVNeck(bev_channels, **(neck or {}))
        self.head = CenterHead(self.neck.out_channels, num_classes, head_channels)
        self.min_overlap = float(min_overlap)
        self.min_radius = int(min_radius)
        self.hm_weight = float(hm_weight)
        self.reg_weight = float(reg_weight)
        self.register_buffer(
            "code_weights", torch.tensor(code_weights, dtype=torch.float32), persistent=False
        )
        self.topk = int(topk)
        self.score_threshold = float(score_threshold)
        self.nms_radius = None if nms_radius is None else [float(r) for r in nms_radius]
        self.max_per_cloud = int(max_per_cloud)
        self.set_frozen_backbone(freeze_backbone)

    def bev_features(self, data: dict) -> torch.Tensor:
        """Encoder features of the chosen stages at ``upcast_level``, scattered: Tensor[B, C, ny, nx]."""
        point = self.run_backbone(data)
        point = upcast(point, self.upcast_level)
        feat = torch.cat([point.feat[:, a:b] for a, b in self._slices], dim=1)
        return scatter_to_bev(
            feat, point.coord, point.batch, len(data["offset"]), self.grid, self.scatter_reduce
        )

    def forward(self, data: dict) -> dict:
        heatmap, reg = self.head(self.neck(self.bev_features(data)))
        out = {}
        if "gt_boxes" in data:
            out.update(self.losses(heatmap, reg, data))
        elif self.training:
            raise ValueError("CenterPoint needs 'gt_boxes', 'gt_labels' and 'gt_offset' in training mode")
        if not self.training:
            out.update(
                decode_detections(
                    torch.sigmoid(heatmap),
                    reg,
                    self.grid,
                    topk=self.topk,
                    score_threshold=self.score_threshold,
                    nms_radius=self.nms_radius,
                    max_per_cloud=self.max_per_cloud,
                )
            )
        return out

    def losses(self, heatmap: torch.Tensor, reg: torch.Tensor, data: dict) -> dict:
        """Focal heatmap loss and weighted L1 regression loss, both divided by the number of objects."""
        for key in ("gt_labels", "gt_offset"):
            if key not in data:
                raise ValueError(f"CenterPoint: batch has 'gt_boxes' but no '{key}'")
        target = encode_targets(
            data["gt_boxes"],
            data["gt_labels"],
            data["gt_offset"],
            self.grid,
            self.num_classes,
            self.min_overlap,
            self.min_radius,
        )
        num = len(target["batch"])
        # Losses in float32 whatever the autocast dtype of the head.
        loss_hm = heatmap_focal_loss(heatmap.float(), target["heatmap"], num)
        pred = reg.float().flatten(2)[target["batch"], :, target["cell"]]  # (K, 10)
        loss_reg = regression_l1_loss(pred, target["reg"], self.code_weights, num)
        loss = self.hm_weight * loss_hm + self.reg_weight * loss_reg
        num_objects = torch.tensor(float(num), device=heatmap.device)
        return dict(loss=loss, loss_hm=loss_hm, loss_reg=loss_reg, num_objects=num_objects)
