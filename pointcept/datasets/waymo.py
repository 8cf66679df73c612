"""Waymo Open Dataset (3D semantic segmentation) in Pointcept's preprocessed per-frame layout.

Layout (written by ``tools/preprocess/waymo.py``)::

    <data_root>/<split>/<segment_name>/<timestamp_micros>/
        coord.npy     float32 (N, 3)  vehicle frame; first returns of all lidars, then second returns
        strength.npy  float32 (N, 1)  tanh(intensity) (or (N, C) with extra columns, e.g. elongation)
        segment.npy   int (N,)        Segmentation.Type - 1: TYPE_UNDEFINED (unlabelled) -> -1
        pose.npy      float32 (4, 4)  vehicle -> world (unused for single frames)
        gt_boxes.npy, gt_type.npy, gt_num_points.npy, ...   3D box labels (``preprocessing/waymo_labels.py``)

Splits are the folder names (``training``, ``validation``, ``testing``). Frames without
``segment.npy`` (the test split) are all -1. With ``box_classes`` set (e.g. ``WAYMO_DETECTION_CLASSES``) a sample also carries the
frame's boxes (vehicle, pedestrian, cyclist) as ``gt_boxes``/``gt_labels``/``gt_num_points``; a
frame without box files has none.
"""

import os
from collections.abc import Sequence

import numpy as np

from .base import DefaultDataset
from .boxes import box_labels, check_box_classes, check_boxes
from .builder import DATASETS
from .formats.scene_npy import check_label_range, load_scene_npy
from .label_maps import WAYMO_BOX_TYPE_NAMES, WAYMO_CLASS_NAMES, WAYMO_LEARNING_MAP_INV, check_prediction


@DATASETS.register_module()
class WaymoDataset(DefaultDataset):
    """Waymo lidar semantic segmentation (22 classes), one sample per frame.

    Sample: ``coord`` (N,3) float32, ``strength`` (N,C) float32, ``segment`` (N,) int64 (-1
    ignore), ``name`` = ``"<segment_name>_<timestamp>"``; with boxes also ``gt_boxes`` (M,9)
    float32 (vehicle frame), ``gt_labels`` (M,) int64 (position in ``box_classes``, -1 for a type
    not in it), ``gt_num_points`` (M,) int64 (Waymo's ``num_lidar_points_in_box``).
    """

    class_names = list(WAYMO_CLASS_NAMES)
    learning_map_inv = WAYMO_LEARNING_MAP_INV

    def __init__(
        self,
        data_root: str = "data/waymo",
        split: str | Sequence[str] = "training",
        box_classes: Sequence[str] | None = None,
        **kwargs,
    ):
        self.box_classes = check_box_classes(box_classes)
        super().__init__(data_root=data_root, split=split, **kwargs)

    def get_data_list(self) -> list[str]:
        frames = []
        layout = "<data_root>/<split>/<segment>/<timestamp>/"
        for split_dir in self.split_dirs("Waymo split folder", layout):
            for seg in sorted(os.listdir(split_dir)):
                seg_dir = os.path.join(split_dir, seg)
                if os.path.isdir(seg_dir):
                    frames.extend(os.path.join(seg_dir, t) for t in sorted(os.listdir(seg_dir)))
        return frames

    def get_data_name(self, idx: int) -> str:
        path = self.data_list[idx % len(self.data_list)]
        return f"{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}"

    def get_data(self, idx: int) -> dict:
        folder = self.data_list[idx % len(self.data_list)]
        arrays = load_scene_npy(
            folder,
            ("coord", "strength", "segment"),
            required=("coord", "strength"),
            widths={"coord": 3, "strength": None},
        )
        n = len(arrays["coord"])
        if "segment" in arrays:
            segment = check_label_range(
                arrays["segment"], self.num_classes, os.path.join(folder, "segment.npy")
            )
        else:
            segment = np.full(n, self.ignore_index, dtype=np.int64)
        data = dict(
            coord=arrays["coord"].astype(np.float32, copy=False),
            strength=arrays["strength"].astype(np.float32, copy=False),
            segment=segment,
            name=self.get_data_name(idx),
        )
        if self.box_classes is not None:
            data.update(self.get_boxes(idx))
        return data

    def get_boxes(self, idx: int) -> dict:
        """``gt_boxes``/``gt_labels``/``gt_num_points`` of frame ``idx`` (none if it has no ``gt_boxes.npy``)."""
        folder = self.data_list[idx % len(self.data_list)]
        arrays = {}
        for stem in ("gt_boxes", "gt_type", "gt_num_points"):
            path = os.path.join(folder, f"{stem}.npy")
            if os.path.isfile(path):
                try:
                    arrays[stem] = np.load(path, allow_pickle=False)
                except (ValueError, OSError, EOFError) as e:
                    raise ValueError(f"{path}: cannot read .npy ({e})") from e
        if "gt_boxes" not in arrays:
            return dict(
                gt_boxes=np.zeros((0, 9), np.float32),
                gt_labels=np.zeros(0, np.int64),
                gt_num_points=np.zeros(0, np.int64),
            )
        boxes_path = os.path.join(folder, "gt_boxes.npy")
        boxes = check_boxes(arrays["gt_boxes"], boxes_path).astype(np.float32)
        for stem in ("gt_type", "gt_num_points"):
            if stem not in arrays:
                raise ValueError(
                    f"{os.path.join(folder, stem + '.npy')}: required with gt_boxes.npy, missing"
                )
            if arrays[stem].shape != (len(boxes),):
                raise ValueError(
                    f"{os.path.join(folder, stem + '.npy')}: shape {arrays[stem].shape}, expected ({len(boxes)},)"
                )
        labels = box_labels(
            (WAYMO_BOX_TYPE_NAMES.get(int(t), "") for t in arrays["gt_type"]), self.box_classes
        )
        return dict(gt_boxes=boxes, gt_labels=labels, gt_num_points=arrays["gt_num_points"].astype(np.int64))

    def get_column_source(self, idx: int, key: str) -> str:
        asset = key
        return os.path.join(self.data_list[idx % len(self.data_list)], f"{asset}.npy")

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> str:
        """Write ``pred`` (N,) train ids as ``<save_path>/<name>.npy``, uint8 raw Segmentation.Type."""
        pred = check_prediction(pred, self.num_classes)
        os.makedirs(save_path, exist_ok=True)
        out = os.path.join(save_path, f"{name}.npy")
        np.save(out, self.learning_map_inv[pred].astype(np.uint8))
        return out
