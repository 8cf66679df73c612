"""Up-cast: bring coarse encoder features back to a finer level by gathering through pooling maps."""

import torch

from .structure import Point


def upcast(point: Point, to_level: int = 0) -> Point:
    """Walk from ``point`` down the ``pooling_parent`` chain to ``to_level``, concatenating features.

    At every step ``parent.feat = cat(parent.feat, child.feat[pooling_inverse])``, so the result
    holds the features of every level from ``to_level`` up to ``point.level``, finest first. The
    input chain is not modified: each visited parent is shallow-copied.

    Args:
        point (Point): a pooled Point (e.g. the output of an encoder in ``enc_mode``) with ``feat``
            (Tensor[M, C_top]), ``level`` and, for ``level > to_level``, ``pooling_parent`` and
            ``pooling_inverse`` (Tensor[N_parent] int64).
        to_level (int): level of the returned Point, ``0 <= to_level <= point.level``.

    Returns:
        Point at ``to_level`` (its ``grid_coord``, ``coord``, ``offset``, ``batch`` are that level's),
        with ``feat`` (Tensor[N_level, sum of the channels of levels to_level..point.level]).
    """
    if not isinstance(to_level, int) or not 0 <= to_level <= point.level:
        raise ValueError(
            f"to_level must be an int in [0, {point.level}] (the Point's level), got {to_level!r}"
        )
    while point.level > to_level:
        if "pooling_parent" not in point:
            raise ValueError(f"Point at level {point.level} has no 'pooling_parent'; cannot up-cast further")
        parent = point.pooling_parent.copy()
        parent.feat = torch.cat([parent.feat, point.feat[point.pooling_inverse]], dim=1)
        point = parent
    return point
