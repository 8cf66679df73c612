"""Vectorised raw-id -> train-id lookup tables shared by the dataset readers."""

import numpy as np


def build_lut(mapping: dict[int, int], ignore_index: int = -1) -> np.ndarray:
    """Dense lookup table from a sparse ``{raw_id: train_id}`` dict.

    Returns:
        lut (np.ndarray[max_raw_id + 1] int64): ``lut[raw] = train id``, ``ignore_index`` for ids the
        mapping does not list.
    """
    if not mapping:
        raise ValueError("label mapping is empty")
    if min(mapping) < 0:
        raise ValueError(f"raw label ids must be >= 0, got {min(mapping)}")
    lut = np.full(max(mapping) + 1, ignore_index, dtype=np.int64)
    lut[np.fromiter(mapping.keys(), dtype=np.int64)] = np.fromiter(mapping.values(), dtype=np.int64)
    return lut


def apply_lut(raw: np.ndarray, lut: np.ndarray, ignore_index: int = -1) -> np.ndarray:
    """Map raw ids through ``lut``; ids outside the table (negative or too large) become ``ignore_index``.

    Args:
        raw (np.ndarray[N] int): raw dataset label ids.
        lut (np.ndarray[R] int64): table from ``build_lut``.

    Returns:
        np.ndarray[N] int64 train ids.
    """
    raw = np.asarray(raw).astype(np.int64, copy=False)
    inside = (raw >= 0) & (raw < len(lut))
    out = np.full(raw.shape, ignore_index, dtype=np.int64)
    out[inside] = lut[raw[inside]]
    return out


def check_prediction(pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return ``pred`` as an array after checking it is (N,) integer train ids in ``0..num_classes-1``."""
    pred = np.asarray(pred)
    if pred.ndim != 1 or not np.issubdtype(pred.dtype, np.integer):
        raise ValueError(f"pred must be a 1-D integer array, got shape {pred.shape} dtype {pred.dtype}")
    if len(pred) and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"pred values must be in [0, {num_classes}), got [{pred.min()}, {pred.max()}]")
    return pred
