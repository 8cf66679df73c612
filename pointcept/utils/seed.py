"""Seeding of python, numpy and torch, per-sample and per-worker seeds, and RNG state capture.

RNG states are returned as tensors and plain types so that checkpoints holding them load with
``torch.load(..., weights_only=True)``.
"""

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(*parts: int) -> int:
    """Mix integers into one 32-bit seed (stable across runs, platforms and python versions)."""
    if any(int(p) < 0 for p in parts):
        raise ValueError(f"derive_seed: parts must be non-negative integers, got {parts}")
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def set_seed(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    seed = int(seed) % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run a block with all global generators seeded by ``seed``, restoring them afterwards.

    Data loading uses this per sample, so a sample's augmentation depends only on its seed: not on
    the worker that loads it, nor on what the model drew from the global generator before.
    """
    state = get_rng_state(include_cuda=False)
    set_seed(seed)
    try:
        yield
    finally:
        set_rng_state(state)


class WorkerInit:
    """``worker_init_fn`` seeding each dataloader worker from ``(seed, rank, start, worker_id)``.

    ``start`` distinguishes loaders created at different points of a run (e.g. the resume step), so
    a restarted loader does not replay the streams of the first one. A class, not a closure, so it
    pickles under the ``spawn`` start method.
    """

    def __init__(self, seed: int, rank: int = 0, start: int = 0):
        self.seed, self.rank, self.start = int(seed), int(rank), int(start)

    def __call__(self, worker_id: int) -> None:
        set_seed(derive_seed(self.seed, self.rank, self.start, worker_id))


def get_rng_state(include_cuda: bool = True) -> dict:
    """Global RNG states as tensors / plain types: keys ``python``, ``numpy``, ``torch``, ``cuda``."""
    version, py_state, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = []
    if include_cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = list(torch.cuda.get_rng_state_all())
    return dict(
        python=dict(version=version, state=torch.tensor(py_state, dtype=torch.int64), gauss=gauss),
        numpy=dict(
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached=float(cached),
        ),
        torch=torch.get_rng_state(),
        cuda=cuda,
    )


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`; CUDA states are restored only if CUDA is available."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        ("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
