"""DOS distillation cells: one network's view encoded at the distillation level, and cell matching.

A cell is a row of the backbone's output after ``upcast`` to ``distill_level``. The same-view term
matches student and teacher cells by key (both hierarchies are pooled from the same ``grid_coord``),
the cross-view term by nearest neighbour on the cells' mean pre-augmentation coordinate.
"""

from typing import NamedTuple

import torch
from torch import nn

from pointcept.models.matching import match_by_key, nearest_neighbor
from pointcept.models.upcast import upcast
from pointcept.utils.offsets import offset2batch


class Cells(NamedTuple):
    """Features of one network on one view at the distillation level (M cells)."""

    logits: torch.Tensor  # (M, K) float32 cosines with the prototypes
    embed: torch.Tensor | None  # (M, E) float32 unit embeddings (the head's projection), if asked
    batch: torch.Tensor  # (M,) int64
    grid_coord: torch.Tensor  # (M, 3) int64, in distillation-level units
    origin_coord: torch.Tensor  # (M, 3) float, mean pre-augmentation coordinate of the cell
    point_cell: torch.Tensor  # (N_in,) int64, cell of every input row of the network
    num_clouds: int


def encode_cells(
    network: nn.ModuleDict,
    inputs: dict,
    origin_coord: torch.Tensor,
    distill_level: int,
    with_embed: bool = False,
) -> Cells:
    """Run ``network["backbone"]`` and ``network["head"]`` on ``inputs`` and read its cells.

    ``origin_coord`` (Tensor[N_in, 3], one row per input row) is averaged over the input rows of
    every cell, here and only here. The backbone is not given ``origin_coord``: PTv3's grid
    pooling would average it level by level (a mean of child means), which differs from the
    per-point mean used for the cross-view match. ``with_embed`` also keeps the head's unit
    embeddings (feature regression needs them), otherwise ``embed`` is None.
    """
    num_points = inputs["coord"].shape[0]
    num_clouds = inputs["offset"].numel()
    point = upcast(network["backbone"](inputs), distill_level)
    cell = input_to_cells(point, num_points)
    num_cells = point["feat"].shape[0]
    count = torch.bincount(cell, minlength=num_cells).clamp_min(1)
    origin_sum = origin_coord.new_zeros((num_cells, 3)).index_add(0, cell, origin_coord)
    head = network["head"]
    embed = head.embed(point["feat"]) if with_embed else None
    return Cells(
        logits=head(point["feat"]) if embed is None else head.logits(embed),
        embed=embed,
        batch=offset2batch(point["offset"]),
        grid_coord=point["grid_coord"],
        origin_coord=origin_sum / count[:, None],
        point_cell=cell,
        num_clouds=num_clouds,
    )


def match_cells(
    student: Cells, teacher: Cells, same_view: bool, radius: float, allow_missing: bool = False
) -> torch.Tensor:
    """Teacher cell of every student cell (Tensor[M_s] int64, -1 where none lies within ``radius``).

    Same view: by (cloud, grid cell) key; every student cell must exist in the teacher unless
    ``allow_missing`` (mask-token jitter moves masked points into voxels the teacher may not have;
    those cells get -1). Other view: nearest neighbour on ``origin_coord`` within ``radius``, cloud
    by cloud.
    """
    if same_view:
        index = match_by_key(student.batch, student.grid_coord, teacher.batch, teacher.grid_coord)
        # grid_coord is computed once per view before masking, so every student cell exists
        # in the teacher's (full-view) hierarchy under the same key.
        assert allow_missing or bool((index >= 0).all()), (
            "student cell missing from the teacher of the same view"
        )
        return index
    index, _ = nearest_neighbor(
        student.origin_coord, student.batch, teacher.origin_coord, teacher.batch, radius
    )
    return index


def input_to_cells(point, num_points: int) -> torch.Tensor:
    """Cell (row of ``point``) of every backbone input row, composed along the pooling chain.

    Returns:
        Tensor[num_points] int64.
    """
    cell = None
    while "pooling_parent" in point and point["pooling_parent"] is not None:
        inverse = point["pooling_inverse"]
        cell = inverse if cell is None else cell[inverse]
        point = point["pooling_parent"]
    if cell is None:
        cell = torch.arange(point["feat"].shape[0], device=point["feat"].device)
    assert cell.numel() == num_points, "the backbone changed the number of input rows"
    return cell
