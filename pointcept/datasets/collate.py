"""Collate samples into one batch: per-point arrays are concatenated and ``offset`` delimits clouds.

A sample is a dict produced by the transforms (see ``transform.py``). ``collate_fn`` turns a list of
samples into one dict:

* tensors / numpy arrays with at least one dimension are concatenated along dim 0 (numpy arrays
  are converted with ``torch.from_numpy`` first); 0-d tensors are stacked into a (B,) tensor;
* any key whose name contains ``"offset"`` holds per-sample cumulative counts and is shifted by the
  running total before concatenation, so per-sample offsets become batch offsets;
* if a dict has ``coord`` but no ``offset``, ``offset`` (Tensor[B] int64, cumulative, no leading
  zero) is added from the number of rows of each sample's ``coord``;
* if a dict has ``gt_boxes`` (per-sample (M_i, 9) boxes, see ``boxes.py``) but no ``gt_offset``,
  ``gt_offset`` (Tensor[B] int64, cumulative box counts, no leading zero) is added the same way,
  so the boxes of cloud b are rows ``gt_offset[b-1]:gt_offset[b]`` of the concatenated
  ``gt_boxes``/``gt_labels``/``gt_num_points``;
* nested dicts (e.g. ``{"view1": {...}, "view2": {...}}``) are collated recursively, each level
  getting its own ``offset``;
* everything else (strings, numbers, lists, None) is collected into a list of length B.
"""

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def collate_fn(batch: Sequence[Any]) -> Any:
    """Collate a list of B samples (dicts, tensors or arrays) into one batch (see module docstring)."""
    if not isinstance(batch, Sequence) or isinstance(batch, str):
        raise TypeError(f"collate_fn expects a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("collate_fn got an empty list of samples")
    first = batch[0]
    if isinstance(first, Mapping):
        return _collate_dicts(batch)
    if isinstance(first, (torch.Tensor, np.ndarray)):
        return _concat([_as_tensor(b) for b in batch])
    return list(batch)


def point_collate_fn(batch: Sequence[Mapping], mix_prob: float = 0.0) -> dict:
    """``collate_fn`` plus Mix3D: with probability ``mix_prob`` merge consecutive pairs of clouds.

    Mix3D (Nekrasov et al., 3DV 2021) overlays two scenes as one training sample. It only touches
    the offsets: for every key containing ``"offset"`` the boundary between clouds 2i and 2i+1 is
    dropped, so B clouds become ceil(B/2). The decision uses Python's ``random`` (seeded per worker
    by the engine), so it is reproducible for a fixed seed.
    """
    if not 0.0 <= mix_prob <= 1.0:
        raise ValueError(f"mix_prob must be in [0, 1], got {mix_prob}")
    out = collate_fn(batch)
    if mix_prob > 0 and random.random() < mix_prob:
        _mix_offsets(out)
    return out


def _mix_offsets(data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _mix_offsets(value)
        elif "offset" in key and isinstance(value, torch.Tensor) and len(value) > 1:
            data[key] = torch.cat([value[1:-1:2], value[-1:]])


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    return x


def _concat(tensors: list[torch.Tensor]) -> torch.Tensor:
    if all(t.dim() == 0 for t in tensors):
        return torch.stack(tensors)
    return torch.cat(tensors, dim=0)


def _collate_offsets(values: list[Any]) -> torch.Tensor:
    parts, total = [], 0
    for v in values:
        v = _as_tensor(v).reshape(-1).long()
        parts.append(v + total)
        if len(v):
            total += int(v[-1])
    return torch.cat(parts)


def _collate_dicts(batch: Sequence[Mapping]) -> dict:
    keys = list(batch[0].keys())
    for i, sample in enumerate(batch[1:], start=1):
        if set(sample.keys()) != set(keys):
            raise ValueError(
                f"collate_fn: sample {i} has keys {sorted(sample.keys())} but sample 0 has {sorted(keys)}"
            )
    out: dict = {}
    for key in keys:
        values = [sample[key] for sample in batch]
        first = values[0]
        if isinstance(first, Mapping):
            out[key] = _collate_dicts(values)
        elif "offset" in key and isinstance(first, (torch.Tensor, np.ndarray)):
            out[key] = _collate_offsets(values)
        elif isinstance(first, (torch.Tensor, np.ndarray)):
            out[key] = _concat([_as_tensor(v) for v in values])
        else:
            out[key] = list(values)
    if "offset" not in out and "coord" in out:
        counts = torch.tensor([len(sample["coord"]) for sample in batch], dtype=torch.long)
        out["offset"] = torch.cumsum(counts, dim=0)
    if "gt_offset" not in out and "gt_boxes" in out:
        counts = torch.tensor([len(sample["gt_boxes"]) for sample in batch], dtype=torch.long)
        out["gt_offset"] = torch.cumsum(counts, dim=0)
    return out
