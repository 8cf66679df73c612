"""``Point``: the batch structure every model consumes and returns.

A ``Point`` is a ``dict`` of concatenated per-point tensors with attribute access. Keys:

* ``coord`` (Tensor[N, 3] float): coordinates (after augmentation).
* ``origin_coord`` (Tensor[N, 3] float, optional): coordinates before augmentation.
* ``grid_coord`` (Tensor[N, 3] int64): voxel cell of every point, ``>= 0``, in this level's units.
* ``feat`` (Tensor[N, C] float): point features.
* ``offset`` (Tensor[B] int64): cumulative points per cloud, no leading zero.
* ``batch`` (Tensor[N] int64): cloud of every point; derived from ``offset`` or the reverse.
* ``mask`` (Tensor[N] bool, optional): points whose embedding is replaced by a mask token.
* ``level`` (int): 0 for the input voxels, +1 per grid pooling.
* ``order`` (list[str]): serialization orders, in the order blocks use them (after shuffling).
* ``serialized_depth`` (int): bits per axis of the codes.
* ``serialized_code`` (Tensor[K_orders, N] int64): ``batch << 3*depth | curve_code`` per order.
* ``serialized_order`` (Tensor[K_orders, N] int64): point indices sorted by each code.
* ``serialized_inverse`` (Tensor[K_orders, N] int64): inverse permutation of ``serialized_order``.
* ``sparse_shape`` (list[int]): spatial extent of the sparse tensor.
* ``sparse_conv_feat`` (``spconv.SparseConvTensor``): indices ``[batch, x, y, z]`` int32 and ``feat``.
* ``pooling_parent`` (Point) and ``pooling_inverse`` (Tensor[N_parent] int64): set by grid pooling;
  row ``i`` of the parent lies in cell ``pooling_inverse[i]`` of this Point.
* ``attention_cache`` (dict): patch indices shared by the attention blocks of one level.
* ``submconv_neighbours`` (Tensor[N, 27] int64): 3x3x3 neighbour table of ``grid_coord``, built on
  first use by ``Point.submconv_neighbours`` and shared by the CPEs of one level.

A missing key raises ``AttributeError``/``KeyError`` (unlike Pointcept's addict-based Point), so
typos fail loudly.
"""

import warnings

import torch

from pointcept.ops import submconv_neighbours
from pointcept.utils.offsets import batch2offset, offset2batch

from .serialization import ORDERS, check_depth, encode


def import_spconv():
    """``spconv.pytorch``, imported on first use (it is heavy and optional for data-only users).

    spconv 2.3 decorates its functions with the deprecated ``torch.cuda.amp.custom_fwd``, which
    prints one FutureWarning per function at import time; they say nothing about our code.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import spconv.pytorch as spconv
    return spconv


class Point(dict):
    """Dict of per-point tensors with attribute access; see the module docstring for the keys.

    Construction derives ``batch`` from ``offset`` or ``offset`` from ``batch``; at least one of the
    two must be given. ``level`` defaults to 0.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "offset" not in self and "batch" not in self:
            raise ValueError("Point needs 'offset' (Tensor[B] int64) or 'batch' (Tensor[N] int64)")
        if "batch" not in self:
            self["batch"] = offset2batch(self["offset"])
        elif "offset" not in self:
            self["offset"] = batch2offset(self["batch"])
        self.setdefault("level", 0)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Point has no key '{name}'") from None

    def __setattr__(self, name: str, value) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    def copy(self) -> "Point":
        """Shallow copy (tensors are shared)."""
        return Point(dict.copy(self))

    def serialize(self, order=ORDERS, depth: int | None = None, shuffle_orders: bool = False) -> "Point":
        """Compute ``serialized_code/order/inverse/depth`` from ``grid_coord`` and ``batch``.

        Args:
            order (str | Sequence[str]): curve(s) from ``serialization.ORDERS``.
            depth (int | None): bits per axis; None takes the fewest that hold ``grid_coord.max()``.
            shuffle_orders (bool): randomly permute the orders (torch RNG), so blocks that pick order
                ``i % len(order)`` see a different curve each step.

        Returns:
            self, with ``order`` (list[str]), ``serialized_depth`` (int), ``serialized_code``,
            ``serialized_order``, ``serialized_inverse`` (Tensor[K_orders, N] int64) set.
        """
        if "grid_coord" not in self:
            raise ValueError("Point.serialize needs 'grid_coord' (Tensor[N, 3] int64, >= 0)")
        orders = [order] if isinstance(order, str) else list(order)
        if not orders:
            raise ValueError("order must name at least one curve")
        grid_coord = self["grid_coord"]
        if depth is None:
            max_coord = int(grid_coord.max()) if grid_coord.numel() > 0 else 0
            depth = max(max_coord.bit_length(), 1)
        check_depth(depth, len(self["offset"]))
        if shuffle_orders:
            perm = torch.randperm(len(orders)).tolist()
            orders = [orders[i] for i in perm]
        code = torch.stack([encode(grid_coord, self["batch"], depth, o) for o in orders])
        # Stable so that duplicate cells (no grid sampling) still give a reproducible order.
        sorted_index = torch.argsort(code, dim=1, stable=True)
        inverse = torch.empty_like(sorted_index)
        arange = torch.arange(code.shape[1], device=code.device).expand_as(sorted_index)
        inverse.scatter_(1, sorted_index, arange)
        self["order"] = orders
        self["serialized_depth"] = depth
        self["serialized_code"] = code
        self["serialized_order"] = sorted_index
        self["serialized_inverse"] = inverse
        self["attention_cache"] = {}
        return self

    def submconv_neighbours(self) -> torch.Tensor:
        """Neighbour table (Tensor[N, 27] int64) of ``grid_coord`` for ``pointcept.ops.submconv``,
        computed once per Point (level) and kept under ``submconv_neighbours``."""
        if "submconv_neighbours" not in self:
            self["submconv_neighbours"] = submconv_neighbours(self["grid_coord"], self["offset"])
        return self["submconv_neighbours"]

    def sparsify(self) -> "Point":
        """Build ``sparse_conv_feat`` (``spconv.SparseConvTensor``) from ``grid_coord``, ``batch``, ``feat``.

        Returns:
            self, with ``sparse_shape`` (list[int]) and ``sparse_conv_feat`` set.
        """
        spconv = import_spconv()
        for key in ("grid_coord", "feat"):
            if key not in self:
                raise ValueError(f"Point.sparsify needs '{key}'")
        grid_coord = self["grid_coord"]
        if grid_coord.numel() > 0:
            sparse_shape = (grid_coord.max(dim=0).values + 1).tolist()
        else:
            sparse_shape = [1, 1, 1]
        indices = torch.cat([self["batch"].unsqueeze(1), grid_coord], dim=1).int()
        self["sparse_shape"] = sparse_shape
        self.pop("submconv_neighbours", None)  # voxels may have changed since it was built
        self["sparse_conv_feat"] = spconv.SparseConvTensor(
            features=self["feat"], indices=indices, spatial_shape=sparse_shape, batch_size=len(self["offset"])
        )
        return self
