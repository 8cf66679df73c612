"""ScanNet v2 (20 classes) and ScanNet200 in Pointcept's preprocessed per-scene layout.

Layout (written by ``tools/preprocess/scannet.py``)::

    <data_root>/<split>/<scene>/coord.npy       float32 (N, 3)
                               color.npy       uint8 (N, 3), 0..255
                               normal.npy      float32 (N, 3)
                               segment20.npy   int (N,) ScanNet-20 train ids, -1 ignore
                               segment200.npy  int (N,) ScanNet200 train ids, -1 ignore
                               instance.npy    int (N,) -1 = none

The test split has no label files; its scenes are all -1.
"""

import os
from collections.abc import Sequence

import numpy as np

from .base import DefaultDataset
from .builder import DATASETS
from .formats.scene_npy import check_label_range, load_scene_npy
from .label_maps import (
    SCANNET20_CLASS_NAMES,
    SCANNET20_VALID_IDS,
    SCANNET200_CLASS_NAMES,
    SCANNET200_VALID_IDS,
    check_prediction,
)


@DATASETS.register_module()
class ScanNetDataset(DefaultDataset):
    """ScanNet semantic segmentation on the 20 benchmark classes.

    Sample: ``coord`` (N,3) float32, ``color`` (N,3) float32 scaled to [0, 1], ``normal`` (N,3)
    float32, ``segment`` (N,) int64 (-1 ignore), ``instance`` (N,) int64, ``name`` = scene id.
    """

    class_names = list(SCANNET20_CLASS_NAMES)
    learning_map_inv = np.array(SCANNET20_VALID_IDS, dtype=np.int64)  # NYU40 ids
    segment_asset = "segment20"

    def __init__(self, data_root: str = "data/scannet", split: str | Sequence[str] = "train", **kwargs):
        super().__init__(data_root=data_root, split=split, **kwargs)

    def get_data_list(self) -> list[str]:
        scenes = []
        for split_dir in self.split_dirs("ScanNet split folder", "<data_root>/<split>/<scene>/"):
            scenes.extend(
                os.path.join(split_dir, s)
                for s in sorted(os.listdir(split_dir))
                if os.path.isdir(os.path.join(split_dir, s))
            )
        return scenes

    def get_data_name(self, idx: int) -> str:
        return os.path.basename(self.data_list[idx % len(self.data_list)])

    def get_data(self, idx: int) -> dict:
        folder = self.data_list[idx % len(self.data_list)]
        arrays = load_scene_npy(
            folder,
            ("coord", "color", "normal", self.segment_asset, "instance"),
            required=("coord", "color", "normal"),
            widths={"coord": 3, "color": 3, "normal": 3},
        )
        n = len(arrays["coord"])
        if self.segment_asset in arrays:
            path = os.path.join(folder, f"{self.segment_asset}.npy")
            segment = check_label_range(arrays[self.segment_asset], self.num_classes, path)
        else:
            segment = np.full(n, self.ignore_index, dtype=np.int64)
        instance = (
            arrays["instance"].astype(np.int64) if "instance" in arrays else np.full(n, -1, dtype=np.int64)
        )
        return dict(
            coord=arrays["coord"].astype(np.float32, copy=False),
            color=(arrays["color"].astype(np.float32) / 255.0).astype(np.float32),
            normal=arrays["normal"].astype(np.float32, copy=False),
            segment=segment,
            instance=instance,
            name=self.get_data_name(idx),
        )

    def get_column_source(self, idx: int, key: str) -> str:
        asset = self.segment_asset if key == "segment" else key
        return os.path.join(self.data_list[idx % len(self.data_list)], f"{asset}.npy")

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> str:
        """Write ``pred`` (N,) train ids as ``<save_path>/<scene>.txt``, one raw id per line (benchmark format)."""
        pred = check_prediction(pred, self.num_classes)
        os.makedirs(save_path, exist_ok=True)
        out = os.path.join(save_path, f"{name}.txt")
        np.savetxt(out, self.learning_map_inv[pred], fmt="%d")
        return out


@DATASETS.register_module()
class ScanNet200Dataset(ScanNetDataset):
    """ScanNet200: same scenes, labels from ``segment200.npy``; predictions are ScanNet200 raw ids."""

    class_names = list(SCANNET200_CLASS_NAMES)
    learning_map_inv = np.array(SCANNET200_VALID_IDS, dtype=np.int64)
    segment_asset = "segment200"
