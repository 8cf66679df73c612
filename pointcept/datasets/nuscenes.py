"""nuScenes-lidarseg read from the raw release plus our JSON info index.

Layout::

    <data_root>/samples/LIDAR_TOP/*.pcd.bin         keyframes, float32 (N, 5): x, y, z, intensity, ring
    <data_root>/sweeps/LIDAR_TOP/*.pcd.bin          intermediate sweeps (unlabelled)
    <data_root>/lidarseg/<version>/*_lidarseg.bin   uint8 (N,) raw class ids 0..31 per keyframe point
    <data_root>/info/nuscenes_infos_{S}sweeps_{split}.json   built by tools/preprocess/nuscenes_infos.py

or Pointcept's layout, read as it is (``formats/nuscenes_pointcept_infos.py``)::

    <data_root>/raw/{samples,sweeps,lidarseg}/...             the nuScenes root (Pointcept links it as raw/)
    <data_root>/info/nuscenes_infos_{S}sweeps_{split}.pkl    Pointcept's preprocess_nuscenes_info.py

With ``info_format="auto"`` each split uses the JSON index when it exists, else the ``.pkl``; paths
in a ``.pkl`` are relative to ``<data_root>/raw`` (or to ``<data_root>`` when there is no ``raw/``).
A ``.pkl`` is loaded with the restricted unpickler, so a file that would run code is refused.

Raw ids map to the 16 evaluation classes with the official devkit mapping (``label_maps.nuscenes``);
ignored classes and keyframes without lidarseg become -1. With ``box_classes`` set a sample also
carries the keyframe's 3D boxes from the index (``gt_boxes``/``gt_labels``/``gt_num_points``, the
convention of ``boxes.py``; rules in ``preprocessing/nuscenes_boxes.py``). With ``sweeps > 1`` the ``sweeps - 1``
previous sweeps are loaded, moved into the keyframe's lidar frame with the full ego-pose and
calibration transforms stored in the index, and appended (their points are unlabelled, -1).
"""

import json
import os
from collections.abc import Sequence

import numpy as np

from .base import DefaultDataset
from .boxes import box_labels, check_box_classes
from .builder import DATASETS
from .formats.nuscenes_lidar import aggregate_sweeps, count_pcd_bin_points, read_lidarseg, read_pcd_bin
from .formats.nuscenes_pointcept_infos import read_pointcept_infos
from .label_maps import (
    NUSCENES_ATTRIBUTE_NAMES,
    NUSCENES_CLASS_NAMES,
    NUSCENES_LEARNING_MAP_INV,
    NUSCENES_LUT,
    apply_lut,
    check_prediction,
)
from .preprocessing.nuscenes_info import info_path
from .transform import register_box_key

register_box_key("gt_attrs")


@DATASETS.register_module()
class NuScenesDataset(DefaultDataset):
    """nuScenes lidar semantic segmentation (16 classes).

    Args:
        data_root: the nuScenes root (see module docstring).
        split: split name(s) of the info index, e.g. ``"train"``, ``"val"``, ``["train", "val"]``.
        sweeps: frames per sample including the keyframe (1 = keyframe only). With more than one,
            ``strength`` gets a second column, the time lag (s) of each point's sweep (0 for the
            keyframe), so models see how old a point is.
        info_sweeps: the ``max_sweeps`` the index was built with (part of its file name).
        info_dir: folder of the index files; default ``<data_root>/info``.
        box_classes: detection class names (e.g. ``NUSCENES_DETECTION_CLASSES``); when set, every
            sample carries the keyframe's 3D boxes, ``gt_labels`` being the position in this list
            (-1, ignore, for a class not in it). None (default): no boxes.
        empty_boxes: which boxes without points stay: ``"drop"`` (default, for training) removes
            boxes with ``num_lidar_pts == 0``; ``"devkit"`` removes only boxes with no LiDAR and no
            radar point, the ground truth the devkit evaluates against; ``"keep"`` keeps all.
        info_format: ``"json"`` (our index), ``"pointcept"`` (Pointcept's ``.pkl``) or ``"auto"``
            (per split, the JSON index if present, else the ``.pkl``).
        box_attributes: with boxes, also give ``gt_attrs`` (M,) int64, the index of each box's
            attribute in ``NUSCENES_ATTRIBUTE_NAMES`` (-1 = none), for the evaluation's attribute
            error (not for training: ``GTSample`` cannot fill it for pasted objects).

    Sample: ``coord`` (N,3) float32 in the keyframe lidar frame, ``strength`` (N,1) float32 =
    intensity / 255 (or (N,2) with the time lag), ``segment`` (N,) int64, ``name`` = lidar token;
    with boxes also ``gt_boxes`` (M,9) float32 (LiDAR frame of the keyframe), ``gt_labels`` (M,)
    int64, ``gt_num_points`` (M,) int64 = the annotation's ``num_lidar_pts``.

    ``eval_info(idx)`` gives what the detection evaluation and submission need beyond the sample:
    the ``sample_token``, the keyframe's ``lidar_to_ego`` and ``ego_to_global`` (4x4, None when the
    index lacks them), its ``bicycle_rack_boxes`` (K, 9) float64 in the LiDAR frame, and
    ``empty_boxes_dropped`` (True with ``empty_boxes="devkit"``: the boxes left are exactly those
    the devkit evaluates, so the evaluation must not drop boxes by their recounted LiDAR points).
    """

    class_names = list(NUSCENES_CLASS_NAMES)
    learning_map_inv = NUSCENES_LEARNING_MAP_INV
    empty_box_modes = ("drop", "devkit", "keep")

    def __init__(
        self,
        data_root: str = "data/nuscenes",
        split: str | Sequence[str] = "train",
        sweeps: int = 1,
        info_sweeps: int = 10,
        info_dir: str | None = None,
        box_classes: Sequence[str] | None = None,
        empty_boxes: str = "drop",
        info_format: str = "auto",
        box_attributes: bool = False,
        **kwargs,
    ):
        if info_format not in ("auto", "json", "pointcept"):
            raise ValueError(f"info_format must be 'auto', 'json' or 'pointcept', got {info_format!r}")
        self.info_format = info_format
        if int(sweeps) < 1:
            raise ValueError(f"sweeps must be >= 1 (1 = keyframe only), got {sweeps}")
        if int(sweeps) > int(info_sweeps):
            raise ValueError(f"sweeps={sweeps} exceeds info_sweeps={info_sweeps} the index was built with")
        if empty_boxes not in self.empty_box_modes:
            raise ValueError(f"empty_boxes must be one of {self.empty_box_modes}, got {empty_boxes!r}")
        self.sweeps = int(sweeps)
        self.box_classes = check_box_classes(box_classes)
        self.empty_boxes = empty_boxes
        self.box_attributes = bool(box_attributes)
        self.info_sweeps = int(info_sweeps)
        self.info_dir = info_dir or os.path.join(str(data_root), "info")
        super().__init__(data_root=data_root, split=split, **kwargs)
        self._info_by_token = {info["lidar_token"]: info for info in self.data_list}

    def get_data_list(self) -> list[dict]:
        infos = []
        for split in [self.split] if isinstance(self.split, str) else list(self.split):
            path = info_path(self.info_dir, self.info_sweeps, split)
            pkl = os.path.splitext(path)[0] + ".pkl"
            fmt = self.info_format
            if fmt == "auto":
                fmt = "json" if os.path.isfile(path) else "pointcept" if os.path.isfile(pkl) else "auto"
            if fmt == "pointcept" and os.path.isfile(pkl) and self.box_classes is not None:
                raise ValueError(
                    f"{pkl}: boxes are not read from Pointcept's .pkl infos; build this project's index "
                    f"(python tools/preprocess/nuscenes_infos.py --data-root {self.data_root}) for detection"
                )
            if fmt == "pointcept" and os.path.isfile(pkl):
                raw = os.path.join(self.data_root, "raw")
                infos.extend(read_pointcept_infos(pkl, "raw" if os.path.isdir(raw) else ""))
                continue
            if fmt != "json" or not os.path.isfile(path):
                wanted = {"json": path, "pointcept": pkl}.get(fmt, f"{path} (or Pointcept's {pkl})")
                raise ValueError(
                    f"{wanted}: nuScenes info index not found; build it with `python tools/preprocess/"
                    f"nuscenes_infos.py --data-root {self.data_root} --max-sweeps {self.info_sweeps}` "
                    "or with Pointcept's preprocess_nuscenes_info.py"
                )
            with open(path) as f:
                try:
                    infos.extend(json.load(f))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: invalid JSON info index ({e})") from e
        return infos

    def get_data_name(self, idx: int) -> str:
        return self.data_list[idx % len(self.data_list)]["lidar_token"]

    def get_data_source(self, idx: int) -> str:
        return os.path.join(self.data_root, self.data_list[idx % len(self.data_list)]["lidar_path"])

    def get_data(self, idx: int) -> dict:
        info = self.data_list[idx % len(self.data_list)]
        key_path = os.path.join(self.data_root, info["lidar_path"])
        key = read_pcd_bin(key_path)
        if info.get("gt_segment_path"):
            raw = read_lidarseg(os.path.join(self.data_root, info["gt_segment_path"]), len(key), key_path)
            segment = apply_lut(raw, NUSCENES_LUT, self.ignore_index)
        else:
            segment = np.full(len(key), self.ignore_index, dtype=np.int64)
        sweeps = [
            (
                read_pcd_bin(os.path.join(self.data_root, s["lidar_path"])),
                np.asarray(s["transform_matrix"]),
                s["time_lag"],
            )
            for s in info["sweeps"][: self.sweeps - 1]
        ]
        coord, intensity, time_lag = aggregate_sweeps(key, sweeps)
        strength = (intensity / 255.0).astype(np.float32)[:, None]
        if self.sweeps > 1:
            strength = np.concatenate([strength, time_lag[:, None]], axis=1)
            segment = np.concatenate(
                [segment, np.full(len(coord) - len(key), self.ignore_index, dtype=np.int64)]
            )
        data = dict(coord=coord, strength=strength, segment=segment, name=info["lidar_token"])
        if self.box_classes is not None:
            data.update(self.get_boxes(idx))
        return data

    def get_boxes(self, idx: int) -> dict:
        """``gt_boxes``/``gt_labels``/``gt_num_points`` (and ``gt_attrs`` with ``box_attributes``) of
        sample ``idx`` after the ``empty_boxes`` filter.

        An index without boxes (built without annotation tables, e.g. the test split) gives none.
        """
        info = self.data_list[idx % len(self.data_list)]
        boxes = np.asarray(info.get("gt_boxes", []), dtype=np.float32).reshape(-1, 9)
        names = list(info.get("gt_names", []))
        lidar = np.asarray(info.get("gt_num_lidar_pts", []), dtype=np.int64)
        radar = np.asarray(info.get("gt_num_radar_pts", np.zeros(len(boxes))), dtype=np.int64)
        if not (len(names) == len(lidar) == len(radar) == len(boxes)):
            raise ValueError(
                f"{info['lidar_token']}: info index has {len(boxes)} gt_boxes, {len(names)} gt_names, "
                f"{len(lidar)} gt_num_lidar_pts and {len(radar)} gt_num_radar_pts"
            )
        if self.empty_boxes == "drop":
            keep = lidar > 0
        elif self.empty_boxes == "devkit":
            keep = lidar + radar > 0
        else:
            keep = np.ones(len(boxes), dtype=bool)
        labels = box_labels(names, self.box_classes)
        out = dict(gt_boxes=boxes[keep], gt_labels=labels[keep], gt_num_points=lidar[keep])
        if self.box_attributes:
            attrs = list(info.get("gt_attributes", [""] * len(boxes)))
            if len(attrs) != len(boxes):
                raise ValueError(
                    f"{info['lidar_token']}: info index has {len(boxes)} gt_boxes and {len(attrs)} gt_attributes"
                )
            unknown = sorted({a for a in attrs if a and a not in NUSCENES_ATTRIBUTE_NAMES})
            if unknown:
                raise ValueError(f"{info['lidar_token']}: unknown attribute names {unknown}")
            ids = [NUSCENES_ATTRIBUTE_NAMES.index(a) if a else -1 for a in attrs]
            out["gt_attrs"] = np.asarray(ids, dtype=np.int64).reshape(-1)[keep]
        return out

    def eval_info(self, idx: int) -> dict:
        """Sample token, keyframe poses and bicycle racks of sample ``idx`` (class docstring)."""
        info = self.data_list[idx % len(self.data_list)]

        def pose(key):
            value = info.get(key)
            return None if value is None else np.asarray(value, dtype=np.float64).reshape(4, 4)

        racks = np.asarray(info.get("bicycle_rack_boxes", []), dtype=np.float64).reshape(-1, 9)
        return dict(
            sample_token=info.get("sample_token") or info["lidar_token"],
            lidar_to_ego=pose("lidar_to_ego"),
            ego_to_global=pose("ego_to_global"),
            bicycle_rack_boxes=racks,
            empty_boxes_dropped=self.empty_boxes == "devkit",
        )

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> str:
        """Write the keyframe part of ``pred`` as ``<save_path>/lidarseg/<split>/<token>_lidarseg.bin``.

        ``pred`` (N,) train ids over the keyframe points, or over keyframe + sweeps (the sweep part
        is dropped: only keyframes are evaluated). Values written: uint8 challenge ids 1..16.
        """
        pred = check_prediction(pred, self.num_classes)
        info = self._info_by_token.get(name)
        if info is None:
            raise ValueError(f"{name!r} is not a lidar token of this dataset's index")
        n_key = count_pcd_bin_points(os.path.join(self.data_root, info["lidar_path"]))
        n_all = n_key + sum(
            count_pcd_bin_points(os.path.join(self.data_root, s["lidar_path"]))
            for s in info["sweeps"][: self.sweeps - 1]
        )
        if len(pred) not in (n_key, n_all):
            raise ValueError(
                f"{name}: pred has {len(pred)} values, expected {n_key} (keyframe) or {n_all} (with sweeps)"
            )
        split = self.split if isinstance(self.split, str) else "test"
        out_dir = os.path.join(save_path, "lidarseg", split)
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, f"{name}_lidarseg.bin")
        self.learning_map_inv[pred[:n_key]].astype(np.uint8).tofile(out)
        return out
