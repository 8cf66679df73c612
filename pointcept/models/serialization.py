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


def hilbert_encode_skilling(grid_coord: torch.Tensor, depth: int) -> torch.Tensor:
    """grid_coord (Tensor[N, 3] int64, < 2**depth) -> Hilbert index (Tensor[N] int64): the definition.

    J. Skilling, "Programming the Hilbert curve", AIP Conf. Proc. 707 (2004): the axes are turned
    into the "transposed" index in place (undo the excess rotations/reflections level by level, then
    Gray-encode), and the transposed index is bit-interleaved like a Morton code. About 30 tensor
    operations per level; ``hilbert_encode`` computes the same codes from tables derived from this.
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


# The three bits of each octant 0..7 as (x, y, z), in Morton's order (x is the high bit).
_OCTANT_BITS = torch.tensor([[(o >> 2) & 1, (o >> 1) & 1, o & 1] for o in range(8)])


def _signature(depth: int, level: int, prefix: tuple[int, int, int]) -> tuple[int, ...]:
    """The two Hilbert digits (6 bits) that ``hilbert_encode_skilling`` gives to the 64 cells of the
    two levels below the cube reached by ``prefix`` (its ``level`` top bits per axis) at ``depth``."""
    shift = depth - level
    pairs = torch.arange(64)
    cells = (
        (torch.tensor(prefix) << shift)
        | (_OCTANT_BITS[pairs >> 3] << (shift - 1))
        | (_OCTANT_BITS[pairs & 7] << (shift - 2))
    )
    return tuple(((hilbert_encode_skilling(cells, depth) >> (3 * (shift - 2))) & 63).tolist())


def derive_hilbert_states() -> tuple[list[int], list[list[int]]]:
    """The curve of ``hilbert_encode_skilling`` as a finite-state machine, derived from it (~0.5 s).

    Inside every cube the curve is one of a few congruent copies (states). Reading a cell's Morton
    octants from the top level down, the state maps the octant to the curve's digit at that level and
    to the state of the sub-cube. A state is identified by the digits it gives to the 64 cells of its
    next two levels, and discovered breadth first from the root of every depth, deepest first.

    Returns:
        the root state of each depth (list indexed 0..MAX_DEPTH; index 0 unused) and the table
        ``[state][octant] = digit | next_state << 3`` (``_HILBERT_STATES`` holds its result).
    """
    signatures: list[tuple[int, ...]] = []
    where: list[tuple[int, int, tuple[int, int, int]]] = []

    def state(depth: int, level: int, prefix: tuple[int, int, int]) -> int:
        signature = _signature(depth, level, prefix)
        if signature not in signatures:
            signatures.append(signature)
            where.append((depth, level, prefix))
        return signatures.index(signature)

    root = [0] * (MAX_DEPTH + 1)
    table: list[list[int]] = []
    for root_depth in range(MAX_DEPTH, 1, -1):  # deep roots first: their states have room to expand
        root[root_depth] = state(root_depth, 0, (0, 0, 0))
        while len(table) < len(signatures):  # expanding a state may append new ones
            s = len(table)
            depth, level, prefix = where[s]
            if depth - level < 3:
                raise RuntimeError(f"Hilbert state {s} found too deep ({level} of {depth}) to expand")
            row = []
            for octant, bits in enumerate(_OCTANT_BITS.tolist()):
                sub_cube = state(depth, level + 1, tuple(2 * p + b for p, b in zip(prefix, bits)))
                row.append((signatures[s][8 * octant] >> 3) | (sub_cube << 3))
            table.append(row)
    single = hilbert_encode_skilling(_OCTANT_BITS, 1).tolist()
    root[1] = next(s for s, row in enumerate(table) if [v & 7 for v in row] == single)
    return root, table


# derive_hilbert_states()'s table (tests re-derive it); the root state is 0 at every depth.
_HILBERT_STATES = [
    [8, 17, 27, 2, 39, 46, 52, 5],
    [56, 71, 73, 86, 91, 20, 10, 13],
    [48, 1, 103, 110, 115, 18, 12, 21],
    [126, 129, 29, 26, 79, 80, 140, 3],
    [148, 43, 37, 34, 127, 128, 78, 81],
    [156, 45, 35, 42, 31, 6, 160, 105],
    [72, 87, 139, 4, 57, 70, 50, 53],
    [0, 171, 111, 76, 49, 58, 102, 61],
    [180, 143, 83, 184, 69, 54, 66, 97],
    [16, 123, 9, 74, 47, 60, 38, 77],
    [132, 95, 85, 14, 67, 144, 82, 33],
    [142, 55, 185, 96, 93, 116, 90, 11],
    [188, 107, 175, 176, 101, 98, 62, 65],
    [164, 109, 119, 22, 99, 106, 152, 41],
    [174, 177, 63, 64, 117, 114, 92, 19],
    [30, 125, 161, 122, 7, 172, 104, 75],
    [130, 25, 133, 166, 179, 136, 84, 191],
    [94, 15, 141, 28, 145, 32, 138, 51],
    [146, 155, 149, 36, 137, 24, 190, 167],
    [154, 157, 147, 44, 169, 182, 120, 135],
    [162, 165, 121, 134, 187, 108, 168, 183],
    [118, 173, 23, 124, 153, 170, 40, 59],
    [178, 113, 131, 88, 181, 158, 68, 151],
    [186, 163, 89, 112, 189, 100, 150, 159],
]


def _two_level_table(one: torch.Tensor) -> torch.Tensor:
    """``one`` (Tensor[S, 8], ``digit | next << 3``) -> Tensor[S * 64]: ``digits | next << 6`` at
    ``state * 64 + (high_octant << 3 | low_octant)``, two levels per look-up."""
    high, low = torch.arange(64) >> 3, torch.arange(64) & 7
    first = one[:, high]  # [S, 64]
    second = one[first >> 3, low]
    return ((((first & 7) << 3) | (second & 7)) | ((second >> 3) << 6)).reshape(-1)


_HILBERT_ONE = torch.tensor(_HILBERT_STATES)
_HILBERT_TWO = _two_level_table(_HILBERT_ONE)
_HILBERT_ONE = _HILBERT_ONE.reshape(-1)


def hilbert_encode(grid_coord: torch.Tensor, depth: int) -> torch.Tensor:
    """grid_coord (Tensor[N, 3] int64, < 2**depth) -> Hilbert index (Tensor[N] int64).

    Equal to ``hilbert_encode_skilling`` (tests check every depth), with two levels per table
    look-up on the Morton code: about 8x faster on CPU.
    """
    morton = morton_encode(grid_coord)
    one, two = _HILBERT_ONE.to(morton.device), _HILBERT_TWO.to(morton.device)
    code = torch.zeros_like(morton)
    state = torch.zeros_like(morton)  # the root state of every depth
    level = depth
    if level % 2:
        level -= 1
        entry = one[(state << 3) | ((morton >> (3 * level)) & 7)]
        code, state = entry & 7, entry >> 3
    while level > 0:
        level -= 2
        entry = two[(state << 6) | ((morton >> (3 * level)) & 63)]
        code, state = (code << 6) | (entry & 63), entry >> 6
    return code


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
