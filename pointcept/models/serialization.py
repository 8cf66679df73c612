"""Space-filling-curve codes of integer grid coordinates: z-order (Morton) and Hilbert.

Each order maps a cell ``(x, y, z)`` with ``0 <= x, y, z < 2**depth`` to an integer in
``[0, 8**depth)``; the cloud index sits above those bits: ``code = batch << (3 * depth) | curve``.
Sorting by the code groups points by cloud, then along the curve, so consecutive points are close
in space. The ``-trans`` variants swap x and y before encoding, giving a second curve whose
discontinuities fall elsewhere.

Limits: ``depth <= 16`` (65536 cells per axis: 3.3 km at a 5 cm grid) and
``3 * depth + bit_length(max batch) <= 63`` so the code fits a signed int64.

Everything is vectorised torch on the input's device; no gradients are involved (integer tensors).
"""

import torch

ORDERS = ("z", "z-trans", "hilbert", "hilbert-trans")
MAX_DEPTH = 16

# Masks that spread the low 21 bits of an integer to every third bit (and back); 21 * 3 = 63 bits.
_SPREAD_MASKS = (
    (32, 0x1F00000000FFFF),
    (16, 0x1F0000FF0000FF),
    (8, 0x100F00F00F00F00F),
    (4, 0x10C30C30C30C30C3),
    (2, 0x1249249249249249),
)
# The same masks walked backwards, each paired with the next-coarser mask.
_COMPACT_MASKS = (
    (2, 0x10C30C30C30C30C3),
    (4, 0x100F00F00F00F00F),
    (8, 0x1F0000FF0000FF),
    (16, 0x1F00000000FFFF),
    (32, 0x1FFFFF),
)


def _spread3(v: torch.Tensor) -> torch.Tensor:
    """Bit i of ``v`` (Tensor[N] int64, < 2**21) moves to bit 3i."""
    v = v & 0x1FFFFF
    for shift, mask in _SPREAD_MASKS:
        v = (v | (v << shift)) & mask
    return v


def _compact3(v: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_spread3``: bit 3i of ``v`` (Tensor[N] int64) moves to bit i."""
    v = v & _SPREAD_MASKS[-1][1]
    for shift, mask in _COMPACT_MASKS:
        v = (v ^ (v >> shift)) & mask
    return v


def morton_encode(grid_coord: torch.Tensor) -> torch.Tensor:
    """grid_coord (Tensor[N, 3] int64, >= 0) -> Morton code (Tensor[N] int64).

    Bit i of x goes to bit 3i+2, of y to 3i+1, of z to 3i.
    """
    x, y, z = grid_coord.long().unbind(1)
    return (_spread3(x) << 2) | (_spread3(y) << 1) | _spread3(z)


def morton_decode(code: torch.Tensor) -> torch.Tensor:
    """Morton code (Tensor[N] int64) -> grid_coord (Tensor[N, 3] int64)."""
    return torch.stack([_compact3(code >> 2), _compact3(code >> 1), _compact3(code)], dim=1)


def _invert_or_exchange(x: list[torch.Tensor], i: int, q: int) -> None:
    """One step of Skilling's transform on the axes ``x`` (in place), for bit ``q`` of axis ``i``.

    Where bit ``q`` of ``x[i]`` is set, the bits below ``q`` of ``x[0]`` are inverted; elsewhere the
    bits below ``q`` of ``x[0]`` and ``x[i]`` are exchanged. The step is its own inverse, so encoding
    and decoding run it in opposite orders.
    """
    p = q - 1
    on = (x[i] & q) != 0
    t = (x[0] ^ x[i]) & p
    new0 = torch.where(on, x[0] ^ p, x[0] ^ t)
    if i > 0:
        x[i] = torch.where(on, x[i], x[i] ^ t)
    x[0] = new0


def hilbert_encode(grid_coord: torch.Tensor, depth: int) -> torch.Tensor:
    """grid_coord (Tensor[N, 3] int64, < 2**depth) -> Hilbert index (Tensor[N] int64).

    J. Skilling, "Programming the Hilbert curve", AIP Conf. Proc. 707 (2004): the axes are turned
    into the "transposed" index in place (undo the excess rotations/reflections level by level, then
    Gray-encode), and the transposed index is bit-interleaved like a Morton code.
    """
    x = [c.clone() for c in grid_coord.long().unbind(1)]
    q = 1 << (depth - 1)
    while q > 1:
        for i in range(3):
            _invert_or_exchange(x, i, q)
        q >>= 1
    x[1] = x[1] ^ x[0]
    x[2] = x[2] ^ x[1]
    t = torch.zeros_like(x[0])
    q = 1 << (depth - 1)
    while q > 1:
        t = torch.where((x[2] & q) != 0, t ^ (q - 1), t)
        q >>= 1
    x = [xi ^ t for xi in x]
    return morton_encode(torch.stack(x, dim=1))


def hilbert_decode(code: torch.Tensor, depth: int) -> torch.Tensor:
    """Hilbert index (Tensor[N] int64, < 8**depth) -> grid_coord (Tensor[N, 3] int64)."""
    x = list(morton_decode(code).unbind(1))
    # Gray decode.
    t = x[2] >> 1
    x[2] = x[2] ^ x[1]
    x[1] = x[1] ^ x[0]
    x[0] = x[0] ^ t
    q = 2
    while q != (1 << depth):
        for i in (2, 1, 0):
            _invert_or_exchange(x, i, q)
        q <<= 1
    return torch.stack(x, dim=1)


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")


def check_depth(depth: int, num_clouds: int) -> None:
    """Raise ValueError if ``depth`` levels plus the cloud index do not fit a signed int64 code."""
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    if depth > MAX_DEPTH:
        raise ValueError(
            f"depth={depth} exceeds the limit {MAX_DEPTH} (grid_coord must be < 2**{MAX_DEPTH} per axis); "
            "use a coarser grid or crop the cloud"
        )
    batch_bits = max(num_clouds - 1, 0).bit_length()
    if 3 * depth + batch_bits > 63:
        raise ValueError(
            f"3*depth + batch bits = 3*{depth} + {batch_bits} > 63: too many clouds ({num_clouds}) for "
            f"depth {depth}; use fewer clouds per batch or a coarser grid"
        )


def encode(
    grid_coord: torch.Tensor, batch: torch.Tensor | None, depth: int, order: str = "z"
) -> torch.Tensor:
    """Serialization code of every point.

    Args:
        grid_coord (Tensor[N, 3] int): cell of every point, ``0 <= grid_coord < 2**depth``.
        batch (Tensor[N] int64 | None): cloud index of every point (None: one cloud).
        depth (int): bits per axis, ``1 <= depth <= 16``.
        order (str): one of ``ORDERS``.

    Returns:
        Tensor[N] int64: ``batch << (3 * depth) | curve_code``.
    """
    _check_order(order)
    if grid_coord.dim() != 2 or grid_coord.shape[1] != 3:
        raise ValueError(f"grid_coord must have shape (N, 3), got {tuple(grid_coord.shape)}")
    if grid_coord.is_floating_point():
        raise TypeError(f"grid_coord must be an integer tensor, got {grid_coord.dtype}")
    num_clouds = int(batch.max()) + 1 if batch is not None and batch.numel() > 0 else 1
    check_depth(depth, num_clouds)
    if grid_coord.numel() > 0:
        lo, hi = int(grid_coord.min()), int(grid_coord.max())
        if lo < 0:
            raise ValueError(f"grid_coord must be >= 0, got a minimum of {lo}")
        if hi >= 1 << depth:
            raise ValueError(f"grid_coord must be < 2**depth = {1 << depth}, got a maximum of {hi}")
    grid_coord = grid_coord.long()
    if order.endswith("-trans"):
        grid_coord = grid_coord[:, [1, 0, 2]]
    code = morton_encode(grid_coord) if order.startswith("z") else hilbert_encode(grid_coord, depth)
    if batch is not None:
        code = (batch.long() << (3 * depth)) | code
    return code


def decode(code: torch.Tensor, depth: int, order: str = "z") -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of ``encode``.

    Args:
        code (Tensor[N] int64): codes from ``encode`` with the same ``depth`` and ``order``.

    Returns:
        grid_coord (Tensor[N, 3] int64) and batch (Tensor[N] int64).
    """
    _check_order(order)
    check_depth(depth, 1)
    curve = code & ((1 << (3 * depth)) - 1)
    batch = code >> (3 * depth)
    grid_coord = morton_decode(curve) if order.startswith("z") else hilbert_decode(curve, depth)
    if order.endswith("-trans"):
        grid_coord = grid_coord[:, [1, 0, 2]]
    return grid_coord, batch
