"""Resumable seeded sampling: determinism, rank split of the global batch, resume, per-sample seeds."""

import itertools
import random

import numpy as np
import pytest
import torch

from pointcept.engines.sampler import EvalBatchSampler, SeededCollate, SeededDataset, TrainBatchSampler


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_epochs_are_seeded_permutations():
    s = TrainBatchSampler(10, 4, seed=3)
    assert s.batches_per_epoch == 2  # 10 // 4, remainder dropped
    batches = take(s, 6)
    again = take(TrainBatchSampler(10, 4, seed=3), 6)
    assert batches == again
    epoch0 = [i for b in batches[:2] for i, _ in b]
    assert len(set(epoch0)) == 8 and set(epoch0) <= set(range(10))
    assert [i for i, _ in batches[2]] != [i for i, _ in batches[0]]  # a new permutation each epoch
    other = take(TrainBatchSampler(10, 4, seed=4), 2)
    assert other != batches[:2]
    ordered = take(TrainBatchSampler(8, 4, shuffle=False), 3)
    assert [[i for i, _ in b] for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]]


def test_ranks_split_the_global_batch_with_identical_seeds():
    single = take(TrainBatchSampler(12, 4, seed=1), 7)
    ranks = [take(TrainBatchSampler(12, 4, seed=1, rank=r, world_size=2), 7) for r in range(2)]
    for step in range(7):
        assert ranks[0][step] + ranks[1][step] == single[step]
        assert len(ranks[0][step]) == 2


def test_set_position_resumes_the_same_stream():
    full = take(TrainBatchSampler(9, 3, seed=5), 8)
    s = TrainBatchSampler(9, 3, seed=5)
    assert s.position(5) == (1, 2)
    s.set_position(*s.position(5))
    assert take(s, 3) == full[5:8]
    with pytest.raises(ValueError, match=r"sampler index 3 outside \[0, 3\)"):
        s.set_position(0, 3)


def test_invalid_batch_sizes():
    with pytest.raises(ValueError, match="batch_size=3 must be a positive multiple of the world size 2"):
        TrainBatchSampler(10, 3, world_size=2)
    with pytest.raises(ValueError, match="the training set has 2 samples, fewer than batch_size=4"):
        TrainBatchSampler(2, 4)


def test_eval_sampler_covers_each_sample_once():
    shards = [list(EvalBatchSampler(7, 2, rank=r, world_size=3)) for r in range(3)]
    seen = sorted(i for shard in shards for b in shard for i, _ in b)
    assert seen == list(range(7))
    assert len(EvalBatchSampler(7, 2, rank=0, world_size=3)) == 2  # samples 0, 3, 6


class NoisyDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return np.random.rand() + random.random() + torch.rand(()).item() + i


def test_seeded_dataset_is_reproducible_and_restores_rng():
    ds = SeededDataset(NoisyDataset())
    a, seed = ds[(2, 123)]
    assert seed == 123
    torch.manual_seed(0)
    before = torch.get_rng_state()
    b, _ = ds[(2, 123)]
    assert a == b and ds[(2, 124)][0] != a
    assert torch.equal(torch.get_rng_state(), before)  # the caller's stream is untouched
    collate = SeededCollate(lambda samples: [s + random.random() for s in samples])
    assert collate([(1.0, 5), (2.0, 6)]) == collate([(1.0, 5), (2.0, 6)])


def test_loader_output_independent_of_workers():
    def run(workers):
        sampler = TrainBatchSampler(4, 2, seed=9)
        loader = torch.utils.data.DataLoader(
            SeededDataset(NoisyDataset()),
            batch_sampler=sampler,
            collate_fn=SeededCollate(lambda s: torch.tensor(s)),
            num_workers=workers,
        )
        return torch.stack(take(loader, 4))

    assert torch.equal(run(0), run(2))


def test_micro_batches_cut_each_rank_chunk_in_order():
    whole = take(TrainBatchSampler(12, 4, seed=1, rank=1, world_size=2), 6)
    micro = take(TrainBatchSampler(12, 4, seed=1, rank=1, world_size=2, micro_batches=2), 12)
    assert all(len(m) == 1 for m in micro)
    assert [micro[2 * i] + micro[2 * i + 1] for i in range(6)] == whole
    s = TrainBatchSampler(12, 4, seed=1, rank=1, world_size=2, micro_batches=2)
    assert s.batches_per_epoch == 3 and s.micro_batch_size == 1  # positions count optimizer steps
    s.set_position(1, 2)
    assert take(s, 2) == micro[10:12]
    with pytest.raises(
        ValueError,
        match=r"batch_size=6 must be a positive multiple of the world size 2 x grad_accum_steps 2 = 4",
    ):
        TrainBatchSampler(12, 6, world_size=2, micro_batches=2)
