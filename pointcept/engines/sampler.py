"""Deterministic, resumable, distributed-aware samplers.

Training draws an infinite sequence of epochs. Epoch ``e`` is a permutation of the dataset seeded by
``(seed, e)``; it is cut into ``len(dataset) // global_batch`` global batches (the remainder is
dropped so every step sees a full batch) and each global batch is split into contiguous per-rank
chunks; with gradient accumulation each per-rank chunk is further cut into ``micro_batches``
contiguous micro-batches, yielded one after the other. Every sample carries its own seed, derived from ``(seed, e, position in the epoch)``, so
the data a step sees is a pure function of ``(seed, step)``: independent of the number of ranks,
of dataloader workers, of ``micro_batches`` and of interruptions. The position ``(epoch, index)`` is saved in
checkpoints and restored with :meth:`TrainBatchSampler.set_position`.

A dataset with its own sampling rule (``ConcatDataset``'s per-dataset weights) provides
``epoch_order(seed, epoch)``, the dataset indices of one epoch in training order; it must be a pure
function of ``(seed, epoch)`` so that the same position resumes the same stream.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from pointcept.utils.errors import SampleError
from pointcept.utils.seed import derive_seed, seeded_rng

# Salts keep the permutation stream and the per-sample seed stream independent.
_PERM_SALT = 1
_SAMPLE_SALT = 2
_EVAL_SALT = 3


class TrainBatchSampler:
    """Yields per-rank batches of ``(dataset_index, sample_seed)`` forever.

    Positions (``batches_per_epoch``, :meth:`set_position`, :meth:`position`) count global batches,
    i.e. optimizer steps; each of them is yielded as ``micro_batches`` consecutive per-rank lists.

    Args:
        num_samples: dataset length.
        global_batch_size: samples per optimizer step over all ranks (divisible by
            ``world_size * micro_batches``).
        shuffle: permute each epoch (else dataset order).
        seed, rank, world_size: as named.
        epoch_order: ``epoch_order(seed, epoch)`` -> the ``num_samples`` dataset indices of that
            epoch in training order (replaces the permutation; ``shuffle`` is then unused).
        micro_batches: gradient-accumulation micro-batches per optimizer step.
    """

    def __init__(
        self,
        num_samples: int,
        global_batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_order: Callable[[int, int], Sequence[int]] | None = None,
        micro_batches: int = 1,
    ):
        if micro_batches < 1:
            raise ValueError(f"grad_accum_steps={micro_batches} must be >= 1")
        if global_batch_size <= 0 or global_batch_size % (world_size * micro_batches):
            what = f"the world size {world_size}"
            if micro_batches > 1:
                what += f" x grad_accum_steps {micro_batches} = {world_size * micro_batches}"
            raise ValueError(f"batch_size={global_batch_size} must be a positive multiple of {what}")
        if num_samples < global_batch_size:
            raise ValueError(
                f"the training set has {num_samples} samples, fewer than batch_size={global_batch_size}"
            )
        self.num_samples = num_samples
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.micro_batches = micro_batches
        self.micro_batch_size = self.local_batch_size // micro_batches
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, int(seed), rank, world_size
        self.epoch_order = epoch_order
        self.batches_per_epoch = num_samples // global_batch_size
        self.epoch, self.index = 0, 0

    def set_position(self, epoch: int, index: int) -> None:
        """Start the next iteration at batch ``index`` of ``epoch``."""
        if not 0 <= index < self.batches_per_epoch:
            raise ValueError(f"sampler index {index} outside [0, {self.batches_per_epoch})")
        self.epoch, self.index = int(epoch), int(index)

    def position(self, batches_consumed: int) -> tuple[int, int]:
        """``(epoch, index)`` of the batch after ``batches_consumed`` batches from the set position."""
        epoch, index = divmod(
            self.epoch * self.batches_per_epoch + self.index + batches_consumed, self.batches_per_epoch
        )
        return epoch, index

    def position_after_samples(self, epoch: int, samples: int) -> tuple[int, int]:
        """``(epoch, index)`` of the first batch that starts at or after ``samples`` samples of
        ``epoch`` (a position saved under another ``batch_size``; no sample of the epoch repeats)."""
        index = -(-int(samples) // self.global_batch_size)
        if index >= self.batches_per_epoch:
            return int(epoch) + 1, 0
        return int(epoch), index

    def permutation(self, epoch: int) -> torch.Tensor:
        if self.epoch_order is not None:
            order = torch.as_tensor(self.epoch_order(self.seed, epoch), dtype=torch.long)
            if order.shape != (self.num_samples,):
                raise ValueError(
                    f"epoch_order gave {tuple(order.shape)} indices for epoch {epoch}, expected ({self.num_samples},)"
                )
            return order
        if not self.shuffle:
            return torch.arange(self.num_samples)
        g = torch.Generator().manual_seed(derive_seed(self.seed, _PERM_SALT, epoch))
        return torch.randperm(self.num_samples, generator=g)

    def batch_indices(self, epoch: int, index: int) -> list[int]:
        """Dataset indices of this rank's share of batch ``index`` of ``epoch`` (for messages)."""
        first = index * self.global_batch_size + self.rank * self.local_batch_size
        return self.permutation(epoch)[first : first + self.local_batch_size].tolist()

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, start = self.epoch, self.index
        while True:
            perm = self.permutation(epoch).tolist()
            for b in range(start, self.batches_per_epoch):
                rank_first = b * self.global_batch_size + self.rank * self.local_batch_size
                for m in range(self.micro_batches):
                    first = rank_first + m * self.micro_batch_size
                    yield [
                        (perm[p], derive_seed(self.seed, _SAMPLE_SALT, epoch, p))
                        for p in range(first, first + self.micro_batch_size)
                    ]
            epoch, start = epoch + 1, 0


class EvalBatchSampler:
    """Yields this rank's share (``rank::world_size``) of the dataset once, in batches, with seeds.

    No padding: ranks may get one sample less than others, so metrics summed over ranks count every
    sample exactly once.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.indices = list(range(rank, num_samples, world_size))
        self.batch_size, self.seed = batch_size, int(seed)

    def __len__(self) -> int:
        return (len(self.indices) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for i in range(0, len(self.indices), self.batch_size):
            yield [(j, derive_seed(self.seed, _EVAL_SALT, j)) for j in self.indices[i : i + self.batch_size]]


class SeededDataset(torch.utils.data.Dataset):
    """Wraps a dataset so that ``wrapped[(index, seed)]`` is ``(dataset[index] loaded under seed, seed)``.

    The global generators are seeded for the duration of the call and restored afterwards, so
    random augmentations are reproducible per sample and the caller's generator stream (the model's
    dropout, in a process without workers) is untouched. The seed is passed on to
    :class:`SeededCollate`.

    Any exception from loading becomes a :class:`SampleError` naming the index, the dataset and
    (through ``get_data_source``) the file, also when raised in a DataLoader worker.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Any, int]:
        index, seed = key
        try:
            with seeded_rng(seed):
                return self.dataset[index], seed
        except SampleError:
            raise
        except Exception as e:
            raise SampleError(describe_sample_failure(self.dataset, index, e)) from e


def describe_sample_failure(dataset, index: int, exc: BaseException) -> str:
    """``cannot load sample <index> of <Dataset> (<file>): <Error>: <message>``; the file comes
    from the dataset's ``get_data_source(index)`` when it has one."""
    source = ""
    if callable(getattr(dataset, "get_data_source", None)):
        try:
            source = f" ({dataset.get_data_source(index)})"
        except Exception:  # the message must not fail on a dataset that cannot name its files
            source = ""
    return f"cannot load sample {index} of {type(dataset).__name__}{source}: {type(exc).__name__}: {exc}"


class SeededCollate:
    """Collates ``(sample, seed)`` pairs under a seed derived from the batch's first sample seed,
    so random collate-time choices (Mix3D) are reproducible too."""

    def __init__(self, collate_fn: Callable[[list], Any]):
        self.collate_fn = collate_fn

    def __call__(self, batch: list[tuple[Any, int]]) -> Any:
        with seeded_rng(derive_seed(batch[0][1], len(batch))):
            return self.collate_fn([sample for sample, _ in batch])
