"""Datasets without dataset-specific code: Pointcept's per-scene ``.npy`` folders, and plain point files.

``GenericNpyDataset`` reads any data laid out the way Pointcept's preprocessing writes it, so custom
data trains from a config alone::

    <data_root>/<split>/<scene>/coord.npy      float (N, 3)              required
                               strength.npy   float (N,) or (N, C)      optional (intensity ...)
                               color.npy      (N, 3) 0..255 or [0, 1]   optional
                               normal.npy     float (N, 3)              optional
                               segment.npy    int (N,) or (N, 1)        optional, -1 = ignore
                               instance.npy   int (N,)                  optional

A scene is any folder holding ``coord.npy`` below ``<data_root>/<split>`` (nested folders such as
Waymo's ``<segment>/<timestamp>`` work too); its name is its path relative to the split folder.

``PointFileDataset`` reads single point files (``.bin``, ``.npy``, ``.ply``, ``.pcd``, ``.las``,
``.laz``; see ``formats.generic``) from a file or a folder; ``tools/inference.py`` runs the
config's test transform on it.
"""

import os
from collections.abc import Sequence

import numpy as np

from .base import DefaultDataset
from .builder import DATASETS
from .formats.generic import PointFileError, find_point_files, read_point_file, scale_color
from .formats.scene_npy import check_label_range, load_scene_npy
from .label_maps import check_prediction

_OPTIONAL_ASSETS = ("color", "normal", "instance")


def _npy_ndim(path: str) -> int:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).ndim
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read .npy ({e})") from e


@DATASETS.register_module()
class GenericNpyDataset(DefaultDataset):
    """Semantic segmentation (or pretraining) on Pointcept-style scene folders (module docstring).

    Args:
        data_root: folder holding the split folders.
        split: split folder name(s) under ``data_root``.
        num_classes: number of classes; labels are checked to lie in ``-1..num_classes-1``.
            Defaults to ``len(names)``; with neither, labels are not checked (e.g. pretraining).
        names: class names in id order (for the metric tables).
        segment_asset: stem of the label file (``"segment"``; e.g. ``"segment20"`` for ScanNet).
        **kwargs: ``DefaultDataset`` options (transform, test_mode, test_cfg, loop, ignore_index,
            on_error).

    Sample: ``coord`` (N,3) float32 and, when their files exist, ``strength`` (N,C) float32,
    ``color`` (N,3) float32 in [0, 1], ``normal`` (N,3) float32, ``instance`` (N,) int64;
    ``segment`` (N,) int64 (all ``ignore_index`` without a label file); ``name``.
    """

    def __init__(
        self,
        data_root: str,
        split: str | Sequence[str] = "train",
        num_classes: int | None = None,
        names: Sequence[str] | None = None,
        segment_asset: str = "segment",
        **kwargs,
    ):
        if names is not None and num_classes is not None and len(names) != num_classes:
            raise ValueError(f"GenericNpyDataset: {len(names)} names for num_classes={num_classes}")
        if num_classes is None and names is not None:
            num_classes = len(names)
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"GenericNpyDataset: num_classes must be >= 1, got {num_classes}")
        self.class_names = (
            list(names) if names is not None else [f"class_{i}" for i in range(num_classes or 0)]
        )
        self.check_labels = num_classes is not None
        self.segment_asset = segment_asset
        super().__init__(data_root=data_root, split=split, **kwargs)

    def get_data_list(self) -> list[str]:
        scenes = []
        for split_dir in self.split_dirs("split folder", "<data_root>/<split>/<scene>/coord.npy"):
            for dirpath, dirnames, filenames in os.walk(split_dir):
                dirnames.sort()
                if "coord.npy" in filenames:
                    scenes.append(dirpath)
        return scenes

    def get_data_name(self, idx: int) -> str:
        folder = self.data_list[idx % len(self.data_list)]
        # Relative to its split folder: the parent of the first path component below data_root.
        rel = os.path.relpath(folder, self.data_root).split(os.sep)
        return "/".join(rel[1:]) or rel[0]

    def get_data(self, idx: int) -> dict:
        folder = self.data_list[idx % len(self.data_list)]
        widths = {"coord": 3, "color": 3, "normal": 3}
        strength_path = os.path.join(folder, "strength.npy")
        if os.path.isfile(strength_path) and _npy_ndim(strength_path) == 2:
            widths["strength"] = None  # (N, C): every channel; (N,) is one channel
        arrays = load_scene_npy(
            folder, ("coord", "strength", *_OPTIONAL_ASSETS, self.segment_asset), widths=widths
        )
        n = len(arrays["coord"])
        data = dict(coord=arrays["coord"].astype(np.float32, copy=False), name=self.get_data_name(idx))
        if "strength" in arrays:
            data["strength"] = arrays["strength"].reshape(n, -1).astype(np.float32, copy=False)
        if "color" in arrays:
            data["color"] = scale_color(arrays["color"])
        if "normal" in arrays:
            data["normal"] = arrays["normal"].astype(np.float32, copy=False)
        if "instance" in arrays:
            data["instance"] = arrays["instance"].astype(np.int64)
        if self.segment_asset in arrays:
            segment = arrays[self.segment_asset].astype(np.int64)
            if self.check_labels:
                segment = check_label_range(segment, self.num_classes, self.get_column_source(idx, "segment"))
            data["segment"] = segment
        else:
            data["segment"] = np.full(n, self.ignore_index, dtype=np.int64)
        return data

    def get_column_source(self, idx: int, key: str) -> str:
        asset = self.segment_asset if key == "segment" else key
        return os.path.join(self.data_list[idx % len(self.data_list)], f"{asset}.npy")

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> str:
        """Write ``pred`` (N,) class ids as ``<save_path>/<name>.npy`` (int32)."""
        pred = check_prediction(pred, self.num_classes)
        out = os.path.join(save_path, f"{name}.npy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        np.save(out, pred.astype(np.int32))
        return out


@DATASETS.register_module()
class PointFileDataset(DefaultDataset):
    """Point cloud files a user has, one sample per file, without labels.

    Args:
        data_root: a point file or a folder searched recursively for supported files.
        columns: column spec for headerless files (``formats.generic.parse_columns``).
        strength_scale: factor applied to ``strength`` (e.g. 1/255 for 0..255 intensities fed to a
            model trained on SemanticKITTI's 0..1 remission).
        require: attributes every file must have (the model's feature keys, e.g. ``("strength",)``);
            a file without one raises ``PointFileError`` naming it.
        **kwargs: ``DefaultDataset`` options.

    Sample: ``read_point_file``'s dict (``coord``, ``origin`` and whatever attributes the file
    has), ``segment`` all ``ignore_index``, ``name`` = path relative to ``data_root`` without
    extension (the file's stem for a single file).
    """

    def __init__(
        self,
        data_root: str,
        columns: str | None = None,
        strength_scale: float = 1.0,
        require: Sequence[str] = (),
        **kwargs,
    ):
        self.columns = columns
        self.strength_scale = float(strength_scale)
        self.require = tuple(require)
        self._origins: dict[int, np.ndarray] = {}
        super().__init__(data_root=data_root, split="files", **kwargs)

    def get_data_list(self) -> list[str]:
        return find_point_files(self.data_root)

    def get_data_name(self, idx: int) -> str:
        path = self.data_list[idx % len(self.data_list)]
        rel = (
            os.path.basename(path)
            if os.path.isfile(self.data_root)
            else os.path.relpath(path, self.data_root)
        )
        stem = rel[: -len(".pcd.bin")] if rel.lower().endswith(".pcd.bin") else os.path.splitext(rel)[0]
        return stem.replace(os.sep, "/")

    def get_data(self, idx: int) -> dict:
        path = self.data_list[idx % len(self.data_list)]
        data = read_point_file(path, self.columns)
        missing = [k for k in self.require if k not in data]
        if missing:
            have = ", ".join(k for k in ("coord", "strength", "color", "normal") if k in data)
            raise PointFileError(
                f"{path}: no {' or '.join(missing)} in this file (it has {have}), but the model's input "
                f"features need it; give headerless files their layout with --columns (e.g. "
                f"x,y,z,strength)"
            )
        if "strength" in data and self.strength_scale != 1.0:
            data["strength"] = data["strength"] * np.float32(self.strength_scale)
        data["segment"] = np.full(len(data["coord"]), self.ignore_index, dtype=np.int64)
        data["name"] = self.get_data_name(idx)
        self._origins[idx % len(self.data_list)] = data["origin"]
        return data

    def prepare_test_data(self, idx: int) -> dict:
        """``DefaultDataset.prepare_test_data`` plus ``origin`` (3,) float64, the shift taken off the coordinates."""
        result = super().prepare_test_data(idx)
        result["origin"] = self._origins.pop(idx % len(self.data_list))
        return result
