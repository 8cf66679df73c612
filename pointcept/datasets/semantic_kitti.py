"""SemanticKITTI read directly from its raw on-disk layout.

Layout (``data_root`` may point at the folder holding ``dataset/``, at ``dataset/`` itself, or at
``sequences/``)::

    <data_root>/dataset/sequences/SS/velodyne/NNNNNN.bin    float32 (N, 4): x, y, z, remission
    <data_root>/dataset/sequences/SS/labels/NNNNNN.label    uint32 (N,): instance << 16 | semantic

Raw semantic ids map to 19 train ids with the official learning map: moving classes (252-259)
merge into their static class, "outlier" (1), "other-structure" (52), "other-object" (99),
"unlabeled" (0) and any id not in the map become ignore (-1). A scan without a label file is
all ignore.

Detection (the generated demo data, ``tools/demo_data``): with ``box_classes`` set, each scan also
reads ``SS/boxes/NNNNNN.txt`` (UTF-8 text, ``#`` comment lines, then one object per line:
``class x y z l w h yaw vx vy instance`` in the scan's sensor frame, box convention of
``boxes.py``) into ``gt_boxes`` (M, 9) float32, ``gt_labels`` (M,) int64 (index in
``box_classes``, -1 for other classes) and ``gt_num_points`` (M,) int64 (points of the scan in
the box).
"""

import os
from collections.abc import Sequence

import numpy as np

from .base import DefaultDataset
from .boxes import box_labels, check_box_classes, check_boxes, count_points_in_boxes
from .builder import DATASETS
from .label_maps import (
    SEMANTIC_KITTI_CLASS_NAMES,
    SEMANTIC_KITTI_LEARNING_MAP_INV,
    semantic_kitti_lut,
)
from .validation import check_regular_file

SPLITS = {
    "train": ["00", "01", "02", "03", "04", "05", "06", "07", "09", "10"],
    "val": ["08"],
    "test": [f"{i:02d}" for i in range(11, 22)],
}
SPLITS["trainval"] = sorted(SPLITS["train"] + SPLITS["val"])


def find_sequences_dir(data_root: str) -> str:
    """Return the ``sequences`` folder for a ``data_root`` given at any of the accepted levels."""
    candidates = [
        os.path.join(data_root, "dataset", "sequences"),
        os.path.join(data_root, "sequences"),
        data_root,
    ]
    for path in candidates:
        if os.path.isdir(path) and os.path.basename(os.path.normpath(path)) == "sequences":
            return path
    raise ValueError(
        f"SemanticKITTI: no 'sequences' folder under data_root={data_root!r}; expected "
        "<data_root>/dataset/sequences/SS/velodyne/NNNNNN.bin (data_root may also be 'dataset/' or 'sequences/')"
    )


def _split_sequences(split: str | int | Sequence) -> list[str]:
    if isinstance(split, str) and split in SPLITS:
        return SPLITS[split]
    items = [split] if isinstance(split, (str, int)) else list(split)
    seqs = []
    for item in items:
        if isinstance(item, str) and item in SPLITS:
            seqs.extend(SPLITS[item])
        elif isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            seqs.append(f"{int(item):02d}")
        else:
            raise ValueError(
                f"SemanticKITTI: split must be one of {sorted(SPLITS)} or sequence id(s), got {split!r}"
            )
    return list(dict.fromkeys(seqs))


def read_points(path: str) -> np.ndarray:
    """Read a velodyne ``.bin`` as float32 (N, 4); ValueError if missing, a directory or truncated."""
    check_regular_file(path, "velodyne scan (.bin)")
    size = os.path.getsize(path)
    if size % 16 != 0:
        raise ValueError(
            f"{path}: truncated scan, {size} bytes is not a multiple of 16 (4 float32 per point)"
        )
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def read_labels(path: str, num_points: int) -> np.ndarray:
    """Read a ``.label`` file as uint32 (N,); ValueError if it is not a file or its size does not
    match ``num_points``."""
    check_regular_file(path, "label file")
    size = os.path.getsize(path)
    if size % 4 != 0:
        raise ValueError(
            f"{path}: truncated label file, {size} bytes is not a multiple of 4 (uint32 per point)"
        )
    if size // 4 != num_points:
        raise ValueError(f"{path}: {size // 4} labels but the scan has {num_points} points")
    return np.fromfile(path, dtype=np.uint32)


def read_box_file(path: str, box_classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a box file (module docstring) -> (boxes (M, 9) float32, labels (M,) int64, -1 = other class)."""
    check_regular_file(path, "box file (.txt)")
    boxes, names = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 11:
                raise ValueError(
                    f"{path}:{n}: expected 11 columns (class x y z l w h yaw vx vy instance), got {len(fields)}"
                )
            try:
                boxes.append([float(v) for v in fields[1:10]])
            except ValueError:
                raise ValueError(f"{path}:{n}: box values must be numbers, got {fields[1:10]}") from None
            names.append(fields[0])
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 9)
    try:
        check_boxes(boxes, name=path)
    except ValueError as e:
        raise ValueError(str(e)) from None
    return boxes, box_labels(names, box_classes)


@DATASETS.register_module()
class SemanticKITTIDataset(DefaultDataset):
    """SemanticKITTI semantic segmentation (19 classes) on the raw layout (see module docstring).

    ``split`` is ``"train"`` (00-07, 09, 10), ``"val"`` (08), ``"test"`` (11-21), ``"trainval"``,
    or a sequence id / list of ids (``8``, ``"08"``, ``["00", "08"]``). Sequences of the split that
    are absent on disk are skipped; an error is raised if none has scans.

    Sample: ``coord`` (N,3) float32, ``strength`` (N,1) float32 (remission), ``segment`` (N,)
    int64 (train ids, -1 ignore), ``instance`` (N,) int64 (-1 without labels), ``name`` "SS_NNNNNN";
    with ``box_classes`` (list of class names, e.g. ``["car", "truck", "pedestrian", "cyclist"]``)
    also ``gt_boxes``, ``gt_labels``, ``gt_num_points`` from the scan's box file (module docstring;
    a missing box file is an error).
    """

    class_names = list(SEMANTIC_KITTI_CLASS_NAMES)
    learning_map_inv = SEMANTIC_KITTI_LEARNING_MAP_INV

    def __init__(
        self,
        data_root: str = "data/semantic_kitti",
        split="train",
        box_classes: Sequence[str] | None = None,
        **kwargs,
    ):
        self.box_classes = check_box_classes(box_classes)
        self.sequences_dir = find_sequences_dir(str(data_root))
        self.sequences = _split_sequences(split)
        self._lut = semantic_kitti_lut(kwargs.get("ignore_index", -1))
        super().__init__(data_root=data_root, split=split, **kwargs)

    def get_data_list(self) -> list[str]:
        scans = []
        for seq in self.sequences:
            velodyne = os.path.join(self.sequences_dir, seq, "velodyne")
            if os.path.isdir(velodyne):
                scans.extend(
                    os.path.join(velodyne, f) for f in sorted(os.listdir(velodyne)) if f.endswith(".bin")
                )
        if not scans:
            present = sorted(d for d in os.listdir(self.sequences_dir) if d.isdigit())
            raise ValueError(
                f"SemanticKITTI: no scans for split={self.split!r} (sequences {self.sequences}) in "
                f"{self.sequences_dir}; sequences present: {present}"
            )
        return scans

    def get_data_name(self, idx: int) -> str:
        path = self.data_list[idx % len(self.data_list)]
        seq = os.path.basename(os.path.dirname(os.path.dirname(path)))
        return f"{seq}_{os.path.splitext(os.path.basename(path))[0]}"

    def label_path(self, idx: int) -> str:
        path = self.data_list[idx % len(self.data_list)]
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(os.path.dirname(os.path.dirname(path)), "labels", stem + ".label")

    def box_path(self, idx: int) -> str:
        path = self.data_list[idx % len(self.data_list)]
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(os.path.dirname(os.path.dirname(path)), "boxes", stem + ".txt")

    def get_data(self, idx: int) -> dict:
        path = self.data_list[idx % len(self.data_list)]
        scan = read_points(path)
        n = len(scan)
        label_path = self.label_path(idx)
        if os.path.exists(label_path):
            raw = read_labels(label_path, n)
            segment = self._lut[raw & 0xFFFF]
            instance = (raw >> 16).astype(np.int64)
        else:
            segment = np.full(n, self.ignore_index, dtype=np.int64)
            instance = np.full(n, -1, dtype=np.int64)
        data = dict(
            coord=np.ascontiguousarray(scan[:, :3]),
            strength=np.ascontiguousarray(scan[:, 3:4]),
            segment=segment,
            instance=instance,
            name=self.get_data_name(idx),
        )
        if self.box_classes is not None:
            data["gt_boxes"], data["gt_labels"] = read_box_file(self.box_path(idx), self.box_classes)
            data["gt_num_points"] = count_points_in_boxes(data["coord"], data["gt_boxes"])
        return data

    def get_column_source(self, idx: int, key: str) -> str:
        if key in ("segment", "instance"):
            return self.label_path(idx)
        if key == "strength":
            return f"{self.get_data_source(idx)} (remission, 4th float32 of each point)"
        return self.get_data_source(idx)

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> str:
        """Write ``pred`` (N,) train ids as ``<save_path>/sequences/SS/predictions/NNNNNN.label``.

        Values are raw SemanticKITTI ids (uint32) via ``learning_map_inv``. Returns the file path.
        """
        pred = np.asarray(pred)
        if pred.ndim != 1 or not np.issubdtype(pred.dtype, np.integer):
            raise ValueError(f"pred must be a 1-D integer array, got shape {pred.shape} dtype {pred.dtype}")
        if len(pred) and (pred.min() < 0 or pred.max() >= self.num_classes):
            raise ValueError(
                f"pred values must be in [0, {self.num_classes}), got [{pred.min()}, {pred.max()}]"
            )
        seq, sep, frame = name.partition("_")
        if not sep or not seq.isdigit() or not frame:
            raise ValueError(f"name must look like 'SS_NNNNNN', got {name!r}")
        out_dir = os.path.join(save_path, "sequences", seq, "predictions")
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, f"{frame}.label")
        self.learning_map_inv[pred].astype(np.uint32).tofile(out)
        return out
