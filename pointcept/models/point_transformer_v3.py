"""Point Transformer V3 (Wu et al., CVPR 2024): serialized patch attention on voxelised point clouds.

Structure: embedding -> encoder stages (grid pooling between stages, re-serialization after each
pooling) -> optional decoder (unpooling with skip connections). Every block is pre-norm:
``x += CPE(x); x += DropPath(Attn(LN(x))); x += DropPath(MLP(LN(x)))`` where CPE is a 3x3x3
submanifold sparse conv + Linear + LayerNorm and Attn is serialized patch attention on curve
``block_index % num_orders``. By default LayerNorm is used throughout (no BatchNorm statistics to
drift when the student sees masked clouds or the backbone is frozen).

Options that exist only to reproduce the official implementations exactly (``ptv3_convert``):

* ``norm="bn"``: BatchNorm1d (eps 1e-3, momentum 0.01) after the stem, in pooling and in unpooling,
  as Pointcept's PT-v3m1; blocks keep LayerNorm.
* ``patch_rule="batch_min"``: the patch size of every block is ``min(patch_size, smallest cloud of
  the batch)``, as the official attention without flash-attn (``enable_flash=False``); the default
  ``"cloud"`` shrinks a patch only for a cloud smaller than it, as their flash path.
* ``depth_rule="max_plus_one"``: serialization depth ``bit_length(max grid_coord + 1)`` (Sonata)
  instead of ``bit_length(max grid_coord)`` (PT-v3m1, ours); it changes the Hilbert curves when the
  largest coordinate is ``2**k - 1``.
* ``pooling="serialized"``: PT-v3m1's pooling, which drops the low bits of the serialization codes.
  With power-of-two strides it yields the cells ``grid_coord // stride`` (so it reuses grid pooling)
  and the same codes as re-serializing with ``depth_rule="max"``, except that a level whose depth is
  below ``log2(stride)`` is not pooled at all (each point keeps its own cell).
* ``unpool_cpe="skip"``: the CPE of the first block after an unpooling convolves only the skip
  projection ``P_skip(parent.feat)``, not the sum, because PT-v3m1's unpooling does not refresh its
  sparse tensor after adding the coarse features (the block's residual still uses the sum).
"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from pointcept.ops import grid_pool, kernel_available, submconv

from .attention import SerializedAttention, patch_attention, patch_index
from .builder import MODELS
from .modules import MLP, DropPath, SubMConv3d
from .serialization import ORDERS
from .structure import Point

NORMS = ("ln", "bn")
PATCH_RULES = ("cloud", "batch_min")
DEPTH_RULES = ("max", "max_plus_one")
POOLINGS = ("grid", "serialized")
UNPOOL_CPES = ("sum", "skip")
CPE_IMPLS = ("auto", "fused", "spconv")


def _check_choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def make_norm(kind: str, channels: int, bn_eps: float = 1e-3, bn_momentum: float = 0.01) -> nn.Module:
    """LayerNorm (``"ln"``) or BatchNorm1d over points (``"bn"``, PT-v3m1's eps and momentum)."""
    _check_choice("norm", kind, NORMS)
    if kind == "ln":
        return nn.LayerNorm(channels)
    return nn.BatchNorm1d(channels, eps=bn_eps, momentum=bn_momentum)


def serialization_depth(grid_coord: torch.Tensor, rule: str = "max") -> int:
    """Bits per axis of the serialization codes of ``grid_coord`` (Tensor[N, 3] int, >= 0).

    ``"max"``: ``bit_length(max)`` (at least 1); ``"max_plus_one"``: ``bit_length(max + 1)``.
    """
    _check_choice("depth_rule", rule, DEPTH_RULES)
    max_coord = int(grid_coord.max()) if grid_coord.numel() > 0 else 0
    if rule == "max_plus_one":
        max_coord += 1
    return max(max_coord.bit_length(), 1)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class Embedding(nn.Module):
    """Input features -> C0 channels: a 5x5x5 submanifold conv stem (``stem="conv"``, PTv3) or a
    per-point Linear (``stem="linear"``, as in Sonata), then ``make_norm(norm)`` and GELU."""

    def __init__(
        self, in_channels: int, channels: int, stem: str = "conv", norm: str = "ln", bn_eps: float = 1e-3
    ):
        super().__init__()
        if stem not in ("conv", "linear"):
            raise ValueError(f"stem must be 'conv' or 'linear', got {stem!r}")
        self.stem = stem
        if stem == "conv":
            self.proj = SubMConv3d(in_channels, channels, kernel_size=5, bias=False, indice_key="stem")
        else:
            self.proj = nn.Linear(in_channels, channels)
        self.norm = make_norm(norm, channels, bn_eps)
        self.act = nn.GELU()

    def forward(self, point: Point) -> torch.Tensor:
        """point with ``feat`` (Tensor[N, C_in]) (and ``sparse_conv_feat`` for the conv stem) -> Tensor[N, C0]."""
        if self.stem == "conv":
            feat = self.proj(point.sparse_conv_feat).features
        else:
            feat = self.proj(point.feat)
        return self.act(self.norm(feat))


class CPE(nn.Module):
    """Conditional positional encoding: SubMConv3d(k=3) -> Linear -> LayerNorm, on the point's voxels.

    ``impl`` runs the conv with spconv (``"spconv"``) or with ``pointcept.ops.submconv`` on the
    neighbour table cached on the Point (``"fused"``); ``"auto"`` takes the fused kernel on CPU when
    the dos_ops extension has it (spconv's native CPU algorithm does one small GEMM and a scatter
    per tap) and spconv elsewhere. Both use the parameters of ``self.conv`` (spconv's weight layout)
    and compute in float32 (float64 stays float64), so checkpoints and results do not depend on it.
    """

    def __init__(self, channels: int, indice_key: str, impl: str = "auto"):
        super().__init__()
        _check_choice("cpe_impl", impl, CPE_IMPLS)
        self.impl = impl
        self.conv = SubMConv3d(channels, channels, kernel_size=3, bias=True, indice_key=indice_key)
        self.linear = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels)

    def uses_fused(self, device: torch.device) -> bool:
        if self.impl == "auto":
            return device.type == "cpu" and kernel_available("submconv", device)
        return self.impl == "fused"

    def forward(self, feat: torch.Tensor, point: Point) -> torch.Tensor:
        """feat (Tensor[N, C]) -> Tensor[N, C]."""
        if self.uses_fused(feat.device):
            if feat.dtype not in (torch.float32, torch.float64):
                feat = feat.float()
            weight, bias = self.conv.conv.weight.to(feat.dtype), self.conv.bias.to(feat.dtype)
            with torch.autocast(feat.device.type, enabled=False):
                out = submconv(feat, weight, bias, point.submconv_neighbours())
        else:
            out = self.conv(point.sparse_conv_feat.replace_feature(feat)).features
        return self.norm(self.linear(out))


class BatchMinPatchAttention(SerializedAttention):
    """``SerializedAttention`` whose patch size is ``min(patch_size, smallest cloud of the batch)``
    (the official PTv3 attention without flash-attn); every cloud is then cut into patches of that
    size, the last one overlapping its predecessor (see ``attention``)."""

    def forward(self, feat: torch.Tensor, point: Point) -> torch.Tensor:
        """feat (Tensor[N, C]) of a serialized ``point`` -> Tensor[N, C]."""
        counts = torch.diff(point.offset, prepend=point.offset.new_zeros(1))
        smallest = int(counts[counts > 0].min()) if bool((counts > 0).any()) else 1
        order_index = self.order_index % point.serialized_order.shape[0]
        index = patch_index(point, order_index, min(self.patch_size, smallest))
        return self.proj(patch_attention(self.qkv(feat), index, self.num_heads, self.scale))


class Block(nn.Module):
    """One pre-norm PTv3 block; updates ``point.feat`` and ``point.sparse_conv_feat``.

    With ``mlp_checkpoint`` the LayerNorm + MLP half is recomputed in the backward pass instead of
    keeping its activations (10 C floats per point -> 1 C). The MLP is about a fifth of a block's
    matmuls (the 27-tap CPE dominates), so this costs a few percent of time and saves about 40 % of
    the activation memory of a training step.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int,
        patch_size: int,
        order_index: int,
        indice_key: str,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        mlp_checkpoint: bool = True,
        patch_rule: str = "cloud",
        cpe_impl: str = "auto",
    ):
        super().__init__()
        _check_choice("patch_rule", patch_rule, PATCH_RULES)
        self.mlp_checkpoint = mlp_checkpoint
        self.cpe = CPE(channels, indice_key, cpe_impl)
        self.norm1 = nn.LayerNorm(channels)
        attention = BatchMinPatchAttention if patch_rule == "batch_min" else SerializedAttention
        self.attn = attention(channels, num_heads, patch_size, order_index, qkv_bias)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = MLP(channels, int(channels * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, point: Point) -> Point:
        """point with ``feat`` (Tensor[N, C]) -> the same Point with the new ``feat`` (Tensor[N, C])."""
        feat = point.feat
        num_clouds = len(point.offset)
        # ``cpe_feat``: set by ``GridUnpooling(cpe_input="skip")`` for this block's CPE only.
        conv_feat = point.pop("cpe_feat", None)
        feat = feat + self.cpe(feat if conv_feat is None else conv_feat, point)
        feat = feat + self.drop_path(self.attn(self.norm1(feat), point), point.batch, num_clouds)
        if self.mlp_checkpoint and torch.is_grad_enabled():
            branch = checkpoint(self._ffn, feat, use_reentrant=False)
        else:
            branch = self._ffn(feat)
        feat = feat + self.drop_path(branch, point.batch, num_clouds)
        point.feat = feat
        point.sparse_conv_feat = point.sparse_conv_feat.replace_feature(feat)
        return point

    def _ffn(self, feat: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm2(feat))


class GridPooling(nn.Module):
    """Linear projection, max-pool into cells of ``stride`` voxels (``pointcept.ops.grid_pool``),
    norm + GELU; the pooled Point is re-serialized and sparsified for the next stage.

    ``pooling="serialized"`` (PT-v3m1) needs a power-of-two stride and leaves a level unpooled when
    its serialization depth ``bit_length(max grid_coord)`` is below ``log2(stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        order,
        shuffle_orders: bool,
        norm: str = "ln",
        bn_eps: float = 1e-3,
        depth_rule: str = "max",
        pooling: str = "grid",
    ):
        super().__init__()
        _check_choice("depth_rule", depth_rule, DEPTH_RULES)
        _check_choice("pooling", pooling, POOLINGS)
        if pooling == "serialized" and (stride < 1 or stride & (stride - 1)):
            raise ValueError(f'pooling="serialized" needs a power-of-two stride, got {stride}')
        self.stride = stride
        self.order = tuple(order)
        self.shuffle_orders = shuffle_orders
        self.depth_rule = depth_rule
        self.pooling = pooling
        self.proj = nn.Linear(in_channels, out_channels)
        self.norm = make_norm(norm, out_channels, bn_eps)
        self.act = nn.GELU()

    def forward(self, point: Point) -> Point:
        """point (N points, Tensor[N, C_in]) -> pooled Point (M cells, Tensor[M, C_out]) at level + 1.

        The pooled Point keeps ``pooling_parent`` (the input Point) and ``pooling_inverse``
        (Tensor[N] int64, the cell of every input point). ``origin_coord``, when present, is
        averaged per cell like ``coord``.
        """
        stride = self.stride
        if self.pooling == "serialized":
            max_coord = int(point.grid_coord.max()) if point.grid_coord.numel() > 0 else 0
            if (stride.bit_length() - 1) > max_coord.bit_length():
                stride = 1
        pooled = grid_pool(point.grid_coord, point.offset, self.proj(point.feat), point.coord, stride, "max")
        child = Point(
            feat=self.act(self.norm(pooled.feat)),
            coord=pooled.coord,
            grid_coord=pooled.grid_coord,
            offset=pooled.offset,
            level=point.level + 1,
            pooling_parent=point,
            pooling_inverse=pooled.cluster,
        )
        if "origin_coord" in point:
            counts = torch.diff(pooled.idx_ptr).unsqueeze(1).to(point.origin_coord.dtype)
            summed = point.origin_coord.new_zeros(len(pooled.head), 3).index_add_(
                0, pooled.cluster, point.origin_coord
            )
            child.origin_coord = summed / counts
        child.serialize(
            self.order,
            depth=serialization_depth(child.grid_coord, self.depth_rule),
            shuffle_orders=self.shuffle_orders and self.training,
        )
        return child.sparsify()


class GridUnpooling(nn.Module):
    """Decoder step: ``parent.feat = P_skip(parent.feat) + P(child.feat)[pooling_inverse]`` with
    each P = Linear -> norm -> GELU. Returns a shallow copy of the parent (encoder Points stay
    untouched, so up-casting encoder features still works after the decoder ran).

    ``cpe_input="skip"`` (PT-v3m1) stores ``P_skip(parent.feat)`` as the parent's ``cpe_feat``, which
    the next block's CPE convolves instead of ``feat``.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        norm: str = "ln",
        bn_eps: float = 1e-3,
        cpe_input: str = "sum",
    ):
        super().__init__()
        _check_choice("unpool_cpe", cpe_input, UNPOOL_CPES)
        self.cpe_input = cpe_input
        self.proj = nn.Sequential(
            nn.Linear(in_channels, out_channels), make_norm(norm, out_channels, bn_eps), nn.GELU()
        )
        self.proj_skip = nn.Sequential(
            nn.Linear(skip_channels, out_channels), make_norm(norm, out_channels, bn_eps), nn.GELU()
        )

    def forward(self, point: Point) -> Point:
        """point (M cells, Tensor[M, C_in]) -> parent copy (N points, Tensor[N, C_out])."""
        parent = point.pooling_parent.copy()
        skip = self.proj_skip(parent.feat)
        parent.feat = skip + self.proj(point.feat)[point.pooling_inverse]
        parent.sparse_conv_feat = parent.sparse_conv_feat.replace_feature(parent.feat)
        if self.cpe_input == "skip":
            parent.cpe_feat = skip
        return parent


def _as_tuple(name: str, value, length: int) -> tuple:
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,) * length
    if len(value) != length:
        raise ValueError(f"{name} must have {length} entries (one per stage), got {len(value)}: {value}")
    return value


@MODELS.register_module()
class PointTransformerV3(nn.Module):
    """PTv3 backbone.

    Args:
        in_channels (int): input feature channels (``feat`` columns).
        order (Sequence[str]): serialization curves from ``ORDERS``; block i of a stage uses
            ``order[i % len(order)]`` (after shuffling).
        stride (Sequence[int]): pooling stride between consecutive encoder stages (S - 1 entries).
        enc_depths, enc_channels, enc_num_head, enc_patch_size (Sequence[int]): per encoder stage
            (S entries; ``enc_patch_size`` may be an int for all stages).
        dec_depths, dec_channels, dec_num_head, dec_patch_size (Sequence[int]): per decoder stage
            (S - 1 entries, finest first); ignored in ``enc_mode``.
        mlp_ratio (float): MLP hidden width / channels.
        qkv_bias (bool): bias in the attention's qkv projection.
        drop_path (float): maximum stochastic-depth rate, linearly increasing over encoder blocks
            (and separately over decoder blocks, deepest first).
        shuffle_orders (bool): shuffle the curve list at every serialization in training mode.
        enc_mode (bool): encoder only; forward returns the coarsest Point.
        mask_token (bool): learn a token that replaces the embedded features where ``mask`` is True
            (masked inputs are zeroed before the stem, so they do not leak into their neighbours).
        stem (str): ``"conv"`` (5x5x5 submanifold conv) or ``"linear"`` embedding.
        mlp_checkpoint (bool): recompute each block's LayerNorm + MLP in the backward pass (less
            memory, a few percent more time); see ``Block``.
        norm (str): ``"ln"`` or ``"bn"``: normalisation after the stem and in pooling/unpooling.
        bn_eps (float): BatchNorm eps when ``norm="bn"`` (PT-v3m1: 1e-3).
        patch_rule (str): ``"cloud"`` or ``"batch_min"``; see the module docstring.
        depth_rule (str): ``"max"`` or ``"max_plus_one"``; see ``serialization_depth``.
        pooling (str): ``"grid"`` or ``"serialized"``; see ``GridPooling``.
        unpool_cpe (str): ``"sum"`` or ``"skip"``; see ``GridUnpooling``.
        cpe_impl (str): ``"auto"``, ``"fused"`` or ``"spconv"``: how the CPE convolves; see ``CPE``.
    """

    def __init__(
        self,
        in_channels: int,
        order=ORDERS,
        stride=(2, 2, 2, 2),
        enc_depths=(2, 2, 2, 6, 2),
        enc_channels=(32, 64, 128, 256, 512),
        enc_num_head=(2, 4, 8, 16, 32),
        enc_patch_size=1024,
        dec_depths=(2, 2, 2, 2),
        dec_channels=(64, 64, 128, 256),
        dec_num_head=(4, 4, 8, 16),
        dec_patch_size=1024,
        mlp_ratio: float = 4,
        qkv_bias: bool = True,
        drop_path: float = 0.3,
        shuffle_orders: bool = True,
        enc_mode: bool = False,
        mask_token: bool = False,
        stem: str = "conv",
        mlp_checkpoint: bool = True,
        norm: str = "ln",
        bn_eps: float = 1e-3,
        patch_rule: str = "cloud",
        depth_rule: str = "max",
        pooling: str = "grid",
        unpool_cpe: str = "sum",
        cpe_impl: str = "auto",
    ):
        super().__init__()
        _check_choice("unpool_cpe", unpool_cpe, UNPOOL_CPES)
        _check_choice("cpe_impl", cpe_impl, CPE_IMPLS)
        _check_choice("norm", norm, NORMS)
        _check_choice("patch_rule", patch_rule, PATCH_RULES)
        _check_choice("depth_rule", depth_rule, DEPTH_RULES)
        _check_choice("pooling", pooling, POOLINGS)
        order = (order,) if isinstance(order, str) else tuple(order)
        for o in order:
            if o not in ORDERS:
                raise ValueError(f"order entries must be in {ORDERS}, got {o!r}")
        num_stages = len(enc_depths)
        if num_stages < 1:
            raise ValueError("enc_depths must have at least one stage")
        enc_channels = _as_tuple("enc_channels", enc_channels, num_stages)
        enc_num_head = _as_tuple("enc_num_head", enc_num_head, num_stages)
        enc_patch_size = _as_tuple("enc_patch_size", enc_patch_size, num_stages)
        stride = _as_tuple("stride", stride, num_stages - 1)
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path}")
        self.in_channels = in_channels
        self.order = order
        self.shuffle_orders = shuffle_orders
        self.enc_mode = enc_mode
        self.num_stages = num_stages
        self.enc_channels = enc_channels
        self.out_channels = enc_channels[-1] if enc_mode else None
        self.depth_rule = depth_rule

        self.embedding = Embedding(in_channels, enc_channels[0], stem, norm, bn_eps)
        self.mask_token = nn.Parameter(torch.zeros(1, enc_channels[0])) if mask_token else None

        def blocks(channels: int, num_head: int, patch_size: int, level: int, rates: list) -> nn.ModuleList:
            """The blocks of one stage at ``level``, one per drop-path rate."""
            return nn.ModuleList(
                Block(
                    channels,
                    num_head,
                    patch_size,
                    i,
                    f"level{level}",
                    mlp_ratio,
                    qkv_bias,
                    rate,
                    mlp_checkpoint,
                    patch_rule,
                    cpe_impl,
                )
                for i, rate in enumerate(rates)
            )

        enc_rates = torch.linspace(0, drop_path, sum(enc_depths)).tolist()
        self.enc = nn.ModuleList()
        for s in range(num_stages):
            stage = nn.Module()
            stage.down = (
                GridPooling(
                    enc_channels[s - 1],
                    enc_channels[s],
                    stride[s - 1],
                    order,
                    shuffle_orders,
                    norm,
                    bn_eps,
                    depth_rule,
                    pooling,
                )
                if s > 0
                else None
            )
            rates = enc_rates[sum(enc_depths[:s]) : sum(enc_depths[: s + 1])]
            stage.blocks = blocks(enc_channels[s], enc_num_head[s], enc_patch_size[s], s, rates)
            self.enc.append(stage)

        self.dec = None
        if not enc_mode:
            dec_depths = _as_tuple("dec_depths", dec_depths, num_stages - 1)
            dec_channels = _as_tuple("dec_channels", dec_channels, num_stages - 1)
            dec_num_head = _as_tuple("dec_num_head", dec_num_head, num_stages - 1)
            dec_patch_size = _as_tuple("dec_patch_size", dec_patch_size, num_stages - 1)
            self.out_channels = dec_channels[0] if num_stages > 1 else enc_channels[0]
            dec_rates = torch.linspace(0, drop_path, sum(dec_depths)).tolist()
            self.dec = nn.ModuleList()
            # dec[s] lifts level s + 1 to level s; it runs deepest first.
            for s in range(num_stages - 1):
                in_ch = dec_channels[s + 1] if s + 1 < num_stages - 1 else enc_channels[-1]
                stage = nn.Module()
                stage.up = GridUnpooling(in_ch, enc_channels[s], dec_channels[s], norm, bn_eps, unpool_cpe)
                rates = dec_rates[sum(dec_depths[:s]) : sum(dec_depths[: s + 1])][::-1]
                stage.blocks = blocks(dec_channels[s], dec_num_head[s], dec_patch_size[s], s, rates)
                self.dec.append(stage)
        self.apply(_init_weights)
        if self.mask_token is not None:
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, data: dict) -> Point:
        """Encode (and decode) a batch.

        Args:
            data (dict): ``coord`` (Tensor[N, 3] float), ``grid_coord`` (Tensor[N, 3] int, >= 0),
                ``feat`` (Tensor[N, in_channels] float), ``offset`` (Tensor[B] int64), optionally
                ``mask`` (Tensor[N] bool) and ``origin_coord`` (Tensor[N, 3] float). Not modified.

        Returns:
            Point: in ``enc_mode`` the coarsest encoder Point (level S - 1, ``feat`` Tensor[M,
            enc_channels[-1]]) whose ``pooling_parent`` chain leads back to level 0; otherwise the
            level-0 Point with ``feat`` (Tensor[N, dec_channels[0]]).
        """
        for key in ("coord", "grid_coord", "feat", "offset"):
            if key not in data:
                raise ValueError(f"PointTransformerV3 input is missing '{key}'")
        feat = data["feat"]
        if feat.dim() != 2 or feat.shape[1] != self.in_channels:
            raise ValueError(f"feat must have shape (N, {self.in_channels}), got {tuple(feat.shape)}")
        point = Point(data)
        mask = None
        if self.mask_token is not None and "mask" in point:
            mask = point.mask
            if mask.dtype != torch.bool or mask.shape != (len(feat),):
                raise ValueError(
                    f"mask must be a bool tensor of shape ({len(feat)},), got {mask.dtype} {tuple(mask.shape)}"
                )
            # The conv stem mixes neighbours: zero masked inputs so they cannot leak into the
            # embeddings of visible points.
            point.feat = feat.masked_fill(mask.unsqueeze(1), 0.0)
        point.serialize(
            self.order,
            depth=serialization_depth(point.grid_coord, self.depth_rule),
            shuffle_orders=self.shuffle_orders and self.training,
        )
        point.sparsify()
        point.feat = self.embedding(point)
        if mask is not None:
            point.feat = torch.where(mask.unsqueeze(1), self.mask_token.to(point.feat.dtype), point.feat)
        point.sparse_conv_feat = point.sparse_conv_feat.replace_feature(point.feat)

        for stage in self.enc:
            if stage.down is not None:
                point = stage.down(point)
            for block in stage.blocks:
                point = block(point)
        if self.dec is not None:
            for stage in reversed(self.dec):
                point = stage.up(point)
                for block in stage.blocks:
                    point = block(point)
                point.pop("cpe_feat", None)
        return point
