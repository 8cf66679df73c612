"""``ConcatDataset``: several datasets, each with its own transforms, sampled with per-dataset weights.

Sampling rule (``epoch_order``; the trainer's ``TrainBatchSampler`` uses it when present). With
``L = samples_per_epoch`` and weights ``w``, dataset ``k`` gets ``n_k`` slots of every epoch,
``L * w_k / sum(w)`` apportioned by largest remainder (ties to the lower ``k``), so the ``n_k`` are
integers summing to ``L``. Dataset ``k`` fills its slots with whole permutations of its samples,
the last one cut short: every sample appears ``floor(n_k / len_k)`` or ``ceil(n_k / len_k)``
times per epoch. All ``L`` slots are then shuffled together. Every permutation is seeded by
``(seed, epoch, ...)`` only, so an epoch's order is a pure function of ``(seed, epoch)`` and the
sampler's saved ``(epoch, index)`` resumes the exact stream.

Without the trainer (``dataset[i]`` for ``0 <= i < len(dataset)``) it is the plain concatenation.

Every sample gets ``dataset`` = the tag of the dataset it came from (a list per batch after
collation); the trainer logs the share of each tag per step as ``mix/<tag>``.

Samples of different datasets must collate together: at construction the first sample of every
dataset is loaded (under a fixed seed, the global generators restored afterwards) and their
*signature* -- every array key (nested views included) with its dtype and per-point shape, e.g.
``view1.feat float32 (N, 4)`` -- must be equal; later samples are checked against it as they load.
For DOS pretraining across LiDAR datasets that means: ``feat`` = coord + one strength column in
[0, 1] for every dataset (SemanticKITTI remission, nuScenes intensity / 255 with ``sweeps=1``,
Waymo tanh(intensity) as Pointcept's preprocessing stores it), each view's coordinates centred by
the view pipeline's ``CenterShift``.
"""

import numpy as np
import torch.utils.data

from pointcept.utils.seed import derive_seed, seeded_rng

from .builder import DATASETS, build_dataset

_SLOT_SALT = 11  # a dataset's permutations of its own samples
_MIX_SALT = 12  # the shuffle of all slots of an epoch
_PROBE_SEED = 0


def apportion(total: int, weights: list[float]) -> list[int]:
    """Integers ``n_k >= 0`` summing to ``total``, proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    quota = total * w / w.sum()
    counts = np.floor(quota).astype(np.int64)
    rest = quota - counts
    order = sorted(range(len(w)), key=lambda k: (-rest[k], k))
    for k in order[: total - int(counts.sum())]:
        counts[k] += 1
    return counts.tolist()


def signature(sample, prefix: str = "") -> dict[str, str]:
    """``{key path: "dtype (N, C...)"}`` for every array/tensor of a sample (nested dicts included)."""
    out = {}
    if isinstance(sample, dict):
        for key, value in sample.items():
            if key == "dataset":
                continue
            out.update(signature(value, f"{prefix}{key}."))
    elif isinstance(sample, (np.ndarray, torch.Tensor)):
        dtype = str(sample.dtype).replace("torch.", "")
        shape = ("N",) + tuple(sample.shape[1:]) if sample.ndim else ()
        out[prefix[:-1]] = f"{dtype} ({', '.join(str(s) for s in shape)})"
    return out


@DATASETS.register_module()
class ConcatDataset(torch.utils.data.Dataset):
    """Several datasets as one training set (see the module doc for the sampling rule).

    Args:
        datasets: list of dataset configs, each a full ``dict(type=..., transform=[...], ...)``.
        weights: sampling weight per dataset (default: the dataset lengths, i.e. every sample of
            every dataset once per epoch when ``samples_per_epoch`` is the total).
        tags: name per dataset for samples and logs (default: the type without ``Dataset``,
            lower-cased, numbered when repeated).
        samples_per_epoch: slots per epoch ``L`` (default: the total length).
        check: load one sample of every dataset at construction and refuse datasets whose
            samples would not collate together, and check every later sample against it.
    """

    def __init__(
        self,
        datasets: list[dict],
        weights: list[float] | None = None,
        tags: list[str] | None = None,
        samples_per_epoch: int | None = None,
        check: bool = True,
    ):
        super().__init__()
        if not isinstance(datasets, (list, tuple)) or not datasets:
            raise ValueError("ConcatDataset: datasets must be a non-empty list of dataset configs")
        self.datasets = [
            build_dataset(cfg, where=f"data.train.datasets[{i}]") for i, cfg in enumerate(datasets)
        ]
        self.lengths = [len(d) for d in self.datasets]
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.tags = self._tags(datasets, tags)
        if weights is None:
            weights = list(self.lengths)
        if len(weights) != len(self.datasets):
            raise ValueError(
                f"ConcatDataset: {len(weights)} weights for {len(self.datasets)} datasets {self.tags}"
            )
        if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"ConcatDataset: weights must be >= 0 with a positive sum, got {list(weights)}")
        self.weights = [float(w) for w in weights]
        total = int(self.starts[-1])
        self.samples_per_epoch = total if samples_per_epoch is None else int(samples_per_epoch)
        if self.samples_per_epoch < 1:
            raise ValueError(f"ConcatDataset: samples_per_epoch must be >= 1, got {samples_per_epoch}")
        self.slots = apportion(self.samples_per_epoch, self.weights)
        self.check = bool(check)
        self.reference: dict[str, str] | None = None
        if self.check:
            self.reference = self._probe()

    @staticmethod
    def _tags(cfgs: list[dict], tags: list[str] | None) -> list[str]:
        if tags is not None:
            tags = [str(t) for t in tags]
            if len(tags) != len(cfgs) or len(set(tags)) != len(tags):
                raise ValueError(f"ConcatDataset: tags must be {len(cfgs)} distinct names, got {tags}")
            return tags
        base = [str(c.get("type", "dataset")).removesuffix("Dataset").lower() or "dataset" for c in cfgs]
        return [b if base.count(b) == 1 else f"{b}{base[:i].count(b)}" for i, b in enumerate(base)]

    def _probe(self) -> dict[str, str]:
        """The signature all datasets share, or a ValueError naming the datasets and keys that differ."""
        with seeded_rng(_PROBE_SEED):
            sigs = [signature(d[0]) for d in self.datasets]
        ref = sigs[0]
        for tag, sig in zip(self.tags[1:], sigs[1:]):
            if sig != ref:
                raise ValueError(self._mismatch(self.tags[0], ref, tag, sig))
        return ref

    @staticmethod
    def _mismatch(tag_a: str, sig_a: dict, tag_b: str, sig_b: dict) -> str:
        diffs = [
            f"{k}: {sig_a.get(k, 'missing')} vs {sig_b.get(k, 'missing')}"
            for k in sorted(set(sig_a) | set(sig_b))
            if sig_a.get(k) != sig_b.get(k)
        ]
        return (
            f"ConcatDataset: samples of '{tag_a}' and '{tag_b}' cannot be collated together "
            f"({'; '.join(diffs)}). Every dataset must give the same keys and feature channels, e.g. "
            "feat = coord + one strength column (nuScenes with sweeps=1, one Waymo strength column)"
        )

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, idx: int) -> tuple[int, int]:
        """``(dataset number, index in that dataset)`` of concatenated index ``idx``."""
        if not 0 <= idx < len(self):
            raise IndexError(f"ConcatDataset index {idx} outside [0, {len(self)})")
        k = int(np.searchsorted(self.starts, idx, side="right")) - 1
        return k, idx - int(self.starts[k])

    def __getitem__(self, idx: int):
        k, i = self.locate(int(idx))
        sample = self.datasets[k][i]
        if self.reference is not None:
            sig = signature(sample)
            if sig != self.reference:
                raise ValueError(
                    f"sample {i} of '{self.tags[k]}': "
                    + self._mismatch(self.tags[0], self.reference, self.tags[k], sig)
                )
        if isinstance(sample, dict):
            sample["dataset"] = self.tags[k]
        return sample

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """The ``samples_per_epoch`` concatenated indices of ``epoch`` in training order (module doc)."""
        parts = []
        for k, (n, length) in enumerate(zip(self.slots, self.lengths)):
            reps = -(-n // length)  # ceil
            perms = [
                np.random.default_rng(derive_seed(seed, _SLOT_SALT, epoch, k, r)).permutation(length)
                for r in range(reps)
            ]
            if perms:
                parts.append(np.concatenate(perms)[:n] + self.starts[k])
        order = np.concatenate(parts)
        return order[np.random.default_rng(derive_seed(seed, _MIX_SALT, epoch)).permutation(len(order))]
