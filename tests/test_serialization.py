import itertools

import pytest
import torch

from pointcept.models.serialization import ORDERS, decode, encode, morton_encode
from pointcept.models.structure import Point


def full_grid(side: int) -> torch.Tensor:
    axes = [torch.arange(side)] * 3
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def morton_reference(x: int, y: int, z: int, depth: int) -> int:
    code = 0
    for i in range(depth):
        code |= ((x >> i) & 1) << (3 * i + 2)
        code |= ((y >> i) & 1) << (3 * i + 1)
        code |= ((z >> i) & 1) << (3 * i)
    return code


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("depth", [1, 3, 10, 16])
def test_encode_decode_round_trip(order, depth):
    torch.manual_seed(depth)
    grid = torch.randint(0, 1 << depth, (500, 3))
    batch = torch.sort(torch.randint(0, 5, (500,))).values
    code = encode(grid, batch, depth, order)
    assert code.dtype == torch.int64
    grid_back, batch_back = decode(code, depth, order)
    assert torch.equal(grid_back, grid)
    assert torch.equal(batch_back, batch)


@pytest.mark.parametrize("order", ORDERS)
def test_codes_are_a_bijection_of_the_cube(order):
    code = encode(full_grid(8), None, 3, order)
    assert torch.equal(torch.sort(code).values, torch.arange(512))


def test_morton_matches_bit_by_bit_reference():
    torch.manual_seed(0)
    grid = torch.randint(0, 1 << 16, (200, 3))
    expected = torch.tensor([morton_reference(*map(int, g), 16) for g in grid])
    assert torch.equal(morton_encode(grid), expected)
    assert torch.equal(encode(grid, None, 16, "z"), expected)
    # z-trans swaps x and y before encoding.
    expected_trans = torch.tensor([morton_reference(int(g[1]), int(g[0]), int(g[2]), 16) for g in grid])
    assert torch.equal(encode(grid, None, 16, "z-trans"), expected_trans)


@pytest.mark.parametrize("order", ["hilbert", "hilbert-trans"])
@pytest.mark.parametrize("side_bits", [1, 2, 3])
def test_hilbert_consecutive_cells_are_face_adjacent(order, side_bits):
    grid = full_grid(1 << side_bits)
    walk = grid[torch.argsort(encode(grid, None, side_bits, order))]
    steps = (walk[1:] - walk[:-1]).abs().sum(dim=1)
    assert torch.all(steps == 1)


def test_batch_bits_sit_above_the_curve():
    grid = full_grid(4)
    batch = torch.cat([torch.ones(32, dtype=torch.long), torch.zeros(32, dtype=torch.long)])
    for order in ORDERS:
        code = encode(grid, batch, 2, order)
        assert torch.all(code[:32] >= 64) and torch.all(code[32:] < 64)


@pytest.mark.parametrize("order", ORDERS)
def test_neighbours_in_code_order_are_spatially_close(order):
    torch.manual_seed(1)
    # About a quarter of the cells of a 32^3 cube are occupied: typical spacing ~1.6 cells.
    grid = torch.unique(torch.randint(0, 32, (10000, 3)), dim=0)
    walk = grid[torch.argsort(encode(grid, None, 5, order))].float()
    step = (walk[1:] - walk[:-1]).norm(dim=1)
    shuffled = grid[torch.randperm(len(grid))].float()
    random_step = (shuffled[1:] - shuffled[:-1]).norm(dim=1)
    assert step.median() < 0.1 * random_step.median()
    assert step.mean() < 0.2 * random_step.mean()
    assert step.median() <= 2.0


def test_depth_and_coordinate_limits_raise():
    grid = torch.zeros(4, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="depth=17 exceeds the limit 16"):
        encode(grid, None, 17, "z")
    with pytest.raises(ValueError, match="grid_coord must be >= 0"):
        encode(torch.tensor([[0, -1, 0]]), None, 4, "hilbert")
    with pytest.raises(ValueError, match="must be < 2\\*\\*depth = 16"):
        encode(torch.tensor([[16, 0, 0]]), None, 4, "z")
    with pytest.raises(ValueError, match="too many clouds"):
        encode(grid, torch.full((4,), 2**16, dtype=torch.long), 16, "z")
    with pytest.raises(ValueError, match="order must be one of"):
        encode(grid, None, 4, "peano")
    with pytest.raises(TypeError, match="integer tensor"):
        encode(grid.float(), None, 4, "z")


def test_point_derives_batch_and_offset():
    offset = torch.tensor([3, 3, 7])
    point = Point(offset=offset)
    assert torch.equal(point.batch, torch.tensor([0, 0, 0, 2, 2, 2, 2]))
    point = Point(batch=torch.tensor([0, 1, 1]))
    assert torch.equal(point.offset, torch.tensor([1, 3]))
    assert point.level == 0
    with pytest.raises(ValueError, match="needs 'offset'"):
        Point(coord=torch.zeros(2, 3))
    with pytest.raises(AttributeError, match="no key 'feat'"):
        _ = point.feat


def test_point_serialize_orders_and_inverse():
    torch.manual_seed(2)
    grids = [torch.unique(torch.randint(0, 20, (n, 3)), dim=0) for n in (60, 90)]
    grid = torch.cat(grids)
    point = Point(grid_coord=grid, offset=torch.cumsum(torch.tensor([len(g) for g in grids]), 0))
    point.serialize(("z", "hilbert"))
    assert point.serialized_depth == 5
    assert point.serialized_code.shape == (2, len(grid))
    for k, order in enumerate(point.order):
        sorted_index = point.serialized_order[k]
        assert torch.equal(point.serialized_code[k], encode(grid, point.batch, 5, order))
        assert torch.all(point.serialized_code[k][sorted_index].diff() > 0)
        assert torch.equal(sorted_index[point.serialized_inverse[k]], torch.arange(len(grid)))
        # Clouds stay contiguous in every order.
        assert torch.all(point.batch[sorted_index].diff() >= 0)


def test_point_serialize_shuffles_orders_with_the_torch_rng():
    point = Point(grid_coord=full_grid(4), offset=torch.tensor([64]))
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        seen.add(tuple(point.serialize(ORDERS, shuffle_orders=True).order))
    assert len(seen) > 1 and all(sorted(s) == sorted(ORDERS) for s in seen)
    assert point.serialize(ORDERS).order == list(ORDERS)


def test_all_orders_and_depths_are_distinct_curves():
    grid = full_grid(4)
    codes = {order: tuple(encode(grid, None, 2, order).tolist()) for order in ORDERS}
    for a, b in itertools.combinations(ORDERS, 2):
        assert codes[a] != codes[b]


def test_hilbert_state_table_is_derived_from_skilling():
    from pointcept.models import serialization

    root, table = serialization.derive_hilbert_states()
    assert table == serialization._HILBERT_STATES
    assert root[1:] == [0] * serialization.MAX_DEPTH  # hilbert_encode starts every depth in state 0


@pytest.mark.parametrize("depth", range(1, 17))
def test_table_hilbert_equals_skilling_at_every_depth(depth):
    from pointcept.models.serialization import hilbert_encode, hilbert_encode_skilling

    torch.manual_seed(100 + depth)
    grid = torch.randint(0, 1 << depth, (3000, 3))
    grid[:8] = full_grid(2) * ((1 << depth) - 1)  # the corners of the cube
    assert torch.equal(hilbert_encode(grid, depth), hilbert_encode_skilling(grid, depth))
