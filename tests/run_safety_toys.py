"""Registered toys for the run-safety tests (imported by ``tools/train.py`` subprocesses through
``custom_imports`` with ``tests/`` on ``PYTHONPATH``).

``ExitAtStep``: a hook that kills the process (``os._exit``) right after a step, once (a marker file
remembers it), like a preempted job. ``ToyFileDataset``: a ``DefaultDataset`` reader of
``<data_root>/scan_*.npy`` files (rows ``x, y, z, label``), so the base class's ``on_error`` policy
is exercised with real files. ``PartlyUnlabelledToy``: ``ToySegDataset`` where chosen scans have no
valid label at all. ``MeanOverValidToySegmentor``: a toy segmentor with loss 0 on label-less batches.
"""

import glob
import os

import numpy as np
import torch
import torch.nn.functional as F
from engine_toys import ToySegDataset, ToySegmentor, toy_labels

from pointcept.datasets.base import DefaultDataset
from pointcept.datasets.builder import DATASETS
from pointcept.engines.hooks.base import HOOKS, HookBase
from pointcept.models.builder import MODELS


@HOOKS.register_module()
class ExitAtStep(HookBase):
    def __init__(self, step: int, marker: str):
        self.step, self.marker = step, marker

    def after_step(self) -> None:
        if self.trainer.step == self.step and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(17)


@DATASETS.register_module()
class ToyFileDataset(DefaultDataset):
    class_names = ["ground", "car", "pole", "tree"]

    def get_data_list(self) -> list:
        return sorted(glob.glob(os.path.join(self.data_root, "scan_*.npy")))

    def get_data(self, idx: int) -> dict:
        path = self.data_list[idx]
        try:
            rows = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ValueError(f"{path}: not a scan file ({e})") from e
        return dict(
            coord=rows[:, :3].astype(np.float32),
            segment=rows[:, 3].astype(np.int64),
            name=os.path.basename(path)[: -len(".npy")],
        )

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> None:
        os.makedirs(save_path, exist_ok=True)
        np.save(os.path.join(save_path, f"{name}.npy"), pred)


def write_toy_scans(
    root: str, num_scans: int, num_points: int = 40, broken: tuple = (), labelled: bool = True
) -> None:
    """``scan_000.npy``... under ``root``; the indices in ``broken`` hold garbage instead; with
    ``labelled=False`` every label is -1."""
    os.makedirs(root, exist_ok=True)
    for i in range(num_scans):
        path = os.path.join(root, f"scan_{i:03d}.npy")
        if i in broken:
            with open(path, "w") as f:
                f.write("not a scan\n")
            continue
        coord = np.random.default_rng(i).uniform(-1, 1, size=(num_points, 3)).astype(np.float32)
        labels = toy_labels(coord) if labelled else np.full(num_points, -1)
        np.save(path, np.concatenate([coord, labels[:, None]], axis=1).astype(np.float32))


@DATASETS.register_module()
class PartlyUnlabelledToy(ToySegDataset):
    def __init__(self, unlabelled: tuple = (), **kwargs):
        super().__init__(**kwargs)
        self.unlabelled = set(unlabelled)

    def __getitem__(self, idx: int) -> dict:
        data = super().__getitem__(idx)
        if idx in self.unlabelled:
            data["segment"] = torch.full_like(data["segment"], -1)
        return data


@MODELS.register_module()
class MeanOverValidToySegmentor(ToySegmentor):
    """``ToySegmentor`` whose loss is 0, not NaN, on a batch without valid labels (like the real
    segmentor's criteria), so label-less training would otherwise run on silently."""

    def forward(self, batch: dict, momentum: float = 0.9) -> dict:
        out = super().forward({k: v for k, v in batch.items() if k != "segment"}, momentum)
        if "segment" in batch:
            logits = self.head(self.backbone(batch["feat"]))
            valid = batch["segment"] != -1
            total = F.cross_entropy(logits, batch["segment"], ignore_index=-1, reduction="sum")
            out["loss"] = total / valid.sum().clamp(min=1)
        return out
