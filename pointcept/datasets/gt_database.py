"""Object database for GT sampling: the points and box of every labelled object of a dataset, in one .npz.

File layout (``np.savez``, readable with ``allow_pickle=False``):

* ``boxes`` (K, 9) float32: each object's box where it was annotated (``boxes.py`` convention);
* ``names`` (K,) str: class name; ``num_points`` (K,) int64: points stored for the object;
* ``source`` (K,) str: the sample it was cut from (dataset name); ``source_box`` (K,) int64: its row
  in that sample's ``gt_boxes``;
* ``point_offset`` (K + 1,) int64: object k owns point rows ``point_offset[k]:point_offset[k + 1]``;
* ``local_coord`` (P, 3) float32: the object's points in its box frame (forward, left, up from the
  centre; ``boxes.points_to_box_frame``), so ``box_to_scene`` puts them back for any box pose;
* ``point_keys`` (C,) str and ``point__<key>`` (P, ...) for every other per-point array of the source
  samples (e.g. ``strength``, ``segment``), aligned with ``local_coord``.

Invariant: every stored point lies inside its box (inclusive faces); objects with fewer than
``min_points`` points are not stored.
"""

import math
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .boxes import check_boxes, points_in_boxes, points_to_box_frame
from .transform import POINT_KEYS

POINT_PREFIX = "point__"


def box_to_scene(local: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Inverse of ``points_to_box_frame``: box-frame points (N, 3) of ``box`` (9,) -> scene frame, float64."""
    c, s = math.cos(float(box[6])), math.sin(float(box[6]))
    local = np.asarray(local, dtype=np.float64)
    x = c * local[:, 0] - s * local[:, 1] + float(box[0])
    y = s * local[:, 0] + c * local[:, 1] + float(box[1])
    return np.stack([x, y, local[:, 2] + float(box[2])], axis=1)


def build_gt_database(
    samples: Iterable[dict],
    class_names: Sequence[str],
    out_path: str,
    min_points: int = 1,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, int]:
    """Cut every labelled object out of ``samples`` and write the database to ``out_path`` (.npz).

    samples: loaded samples (``coord``, ``gt_boxes``, ``gt_labels``, ``name``, other per-point
    arrays); ``gt_labels`` index ``class_names`` (-1 = ignore, not stored). Every sample must carry
    the same per-point keys. Returns the number of stored objects per class.
    """
    if min_points < 1:
        raise ValueError(f"min_points must be >= 1, got {min_points}")
    boxes_out, names, counts, sources, source_box, local_parts = [], [], [], [], [], []
    extra: dict[str, list[np.ndarray]] | None = None
    for sample in progress(samples) if progress else samples:
        name = str(sample.get("name", ""))
        if "gt_boxes" not in sample or "gt_labels" not in sample:
            raise ValueError(f"{name}: sample has no gt_boxes/gt_labels; build the dataset with its boxes")
        boxes = check_boxes(np.asarray(sample["gt_boxes"]), f"{name}: gt_boxes")
        labels = np.asarray(sample["gt_labels"], dtype=np.int64)
        keys = sorted(k for k in POINT_KEYS if k in sample and k != "coord")
        if extra is None:
            extra = {k: [] for k in keys}
        elif sorted(extra) != keys:
            raise ValueError(f"{name}: per-point keys {keys} differ from the first sample's {sorted(extra)}")
        if len(boxes) == 0:
            continue
        coord = np.asarray(sample["coord"])
        inside = points_in_boxes(coord, boxes)
        for b in range(len(boxes)):
            if labels[b] < 0:
                continue
            if labels[b] >= len(class_names):
                raise ValueError(
                    f"{name}: gt_labels value {labels[b]} but only {len(class_names)} class names"
                )
            idx = np.flatnonzero(inside[:, b])
            if len(idx) < min_points:
                continue
            boxes_out.append(boxes[b].astype(np.float32))
            names.append(class_names[labels[b]])
            counts.append(len(idx))
            sources.append(name)
            source_box.append(b)
            local_parts.append(points_to_box_frame(coord[idx], boxes[b]).astype(np.float32))
            for k in extra:
                extra[k].append(np.asarray(sample[k])[idx])
    extra = extra or {}
    arrays = dict(
        boxes=np.asarray(boxes_out, dtype=np.float32).reshape(-1, 9),
        names=np.asarray(names, dtype=str),
        num_points=np.asarray(counts, dtype=np.int64),
        source=np.asarray(sources, dtype=str),
        source_box=np.asarray(source_box, dtype=np.int64),
        point_offset=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
        local_coord=np.concatenate(local_parts) if local_parts else np.zeros((0, 3), np.float32),
        point_keys=np.asarray(sorted(extra), dtype=str),
    )
    for k, parts in extra.items():
        arrays[POINT_PREFIX + k] = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out_path)
    return {c: int(sum(n == c for n in names)) for c in class_names}


class GTDatabase:
    """A database file loaded into memory (see the module docstring for its layout)."""

    def __init__(self, path: str):
        if not os.path.isfile(path):
            raise ValueError(f"{path}: GT database not found (build it with tools/build_gt_database.py)")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable GT database ({e})") from e
        required = (
            "boxes",
            "names",
            "num_points",
            "source",
            "source_box",
            "point_offset",
            "local_coord",
            "point_keys",
        )
        missing = [k for k in required if k not in arrays]
        if missing:
            raise ValueError(f"{path}: GT database lacks {missing}")
        self.path = path
        self.boxes = arrays["boxes"]
        self.names = arrays["names"]
        self.num_points = arrays["num_points"]
        self.source = arrays["source"]
        self.source_box = arrays["source_box"]
        self.point_offset = arrays["point_offset"]
        self.local_coord = arrays["local_coord"]
        self.point_keys = [str(k) for k in arrays["point_keys"]]
        self.point_arrays = {k: arrays[POINT_PREFIX + k] for k in self.point_keys}
        k = len(self.boxes)
        if not (
            len(self.names) == len(self.num_points) == len(self.source) == k
            and len(self.point_offset) == k + 1
        ):
            raise ValueError(f"{path}: GT database arrays disagree on the number of objects")
        if int(self.point_offset[-1]) != len(self.local_coord):
            raise ValueError(
                f"{path}: point_offset ends at {int(self.point_offset[-1])}, {len(self.local_coord)} points"
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def indices_of(self, name: str, min_points: int = 1) -> np.ndarray:
        """Object indices of class ``name`` with at least ``min_points`` points."""
        return np.flatnonzero((self.names == name) & (self.num_points >= min_points))

    def points(self, k: int, box: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per-point arrays of object ``k``: ``coord`` placed in ``box`` (default its own box) plus the stored keys."""
        lo, hi = int(self.point_offset[k]), int(self.point_offset[k + 1])
        out = {
            "coord": box_to_scene(self.local_coord[lo:hi], self.boxes[k] if box is None else box).astype(
                np.float32
            )
        }
        for key, arr in self.point_arrays.items():
            out[key] = arr[lo:hi]
        return out
