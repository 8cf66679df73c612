"""ConcatDataset: per-dataset weights, a seeded resumable epoch order, tags, and the collate check."""

import itertools
import os

import numpy as np
import pytest
import torch
from engine_toys import write_toy_config

from pointcept.datasets import ConcatDataset, build_dataset, collate_fn
from pointcept.datasets.concat import apportion
from pointcept.engines import Trainer
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.engines.sampler import TrainBatchSampler
from pointcept.utils.config import load_config


def toys(lengths, **kwargs):
    datasets = [
        dict(type="ToySegDataset", num_samples=n, num_points=8, seed=i) for i, n in enumerate(lengths)
    ]
    return ConcatDataset(datasets, **kwargs)


def sampler_for(ds, batch, seed=0, **kwargs):
    return TrainBatchSampler(ds.samples_per_epoch, batch, seed=seed, epoch_order=ds.epoch_order, **kwargs)


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_apportion_is_exact_and_proportional():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]  # the remainder goes to the lowest index on ties
    assert apportion(40, [1, 2, 1]) == [10, 20, 10]
    assert apportion(7, [0, 1]) == [0, 7]
    assert sum(apportion(1001, [0.3, 0.5, 0.2])) == 1001


def test_weights_are_respected_per_epoch_and_over_many_draws():
    ds = toys([5, 20, 7], weights=[1, 2, 1], samples_per_epoch=40, tags=["a", "b", "c"])
    assert len(ds) == 32 and ds.slots == [10, 20, 10]
    for epoch in range(5):
        order = ds.epoch_order(seed=3, epoch=epoch)
        k = np.searchsorted(ds.starts, order, side="right") - 1
        assert np.bincount(k, minlength=3).tolist() == [10, 20, 10]
        # Each dataset's slots are whole permutations of its samples, the last one cut short.
        assert np.bincount(order[k == 0], minlength=5).tolist() == [2] * 5
        assert np.bincount(order[k == 1] - 5, minlength=20).tolist() == [1] * 20
        assert sorted(set(np.bincount(order[k == 2] - 25, minlength=7).tolist())) == [1, 2]
    # Many draws through the trainer's sampler (not aligned to epochs): shares within 2 %.
    drawn = [i for b in take(sampler_for(ds, 6, seed=1), 500) for i, _ in b]
    share = np.bincount(np.searchsorted(ds.starts, drawn, side="right") - 1, minlength=3) / len(drawn)
    np.testing.assert_allclose(share, [0.25, 0.5, 0.25], atol=0.02)
    # The order changes with the epoch and the seed.
    assert not np.array_equal(ds.epoch_order(3, 0), ds.epoch_order(3, 1))
    assert not np.array_equal(ds.epoch_order(3, 0), ds.epoch_order(4, 0))


def test_default_weights_visit_every_sample_once():
    ds = toys([3, 5])
    assert ds.samples_per_epoch == 8 and ds.tags == ["toyseg0", "toyseg1"]
    assert sorted(ds.epoch_order(0, 2).tolist()) == list(range(8))


def test_sampler_resumes_the_same_stream():
    ds = toys([5, 20, 7], weights=[1, 2, 1], samples_per_epoch=40)
    full = take(sampler_for(ds, 8, seed=9), 17)  # 5 batches per epoch: crosses three epochs
    # A fresh dataset and sampler (a restarted run) continue from the saved position.
    again = toys([5, 20, 7], weights=[1, 2, 1], samples_per_epoch=40)
    s = sampler_for(again, 8, seed=9)
    s.set_position(*s.position(11))
    assert s.position(0) == (2, 1)
    assert take(s, 6) == full[11:17]
    # Two ranks split the same global batches.
    ranks = [take(sampler_for(ds, 8, seed=9, rank=r, world_size=2), 17) for r in range(2)]
    assert all(ranks[0][i] + ranks[1][i] == full[i] for i in range(17))


def test_samples_are_tagged_and_collate():
    ds = toys([2, 3], tags=["kitti", "waymo"])
    assert ds[0]["dataset"] == "kitti" and ds[4]["dataset"] == "waymo"
    assert ds.locate(2) == (1, 0)
    with pytest.raises(IndexError, match=r"index 5 outside \[0, 5\)"):
        ds[5]
    batch = collate_fn([ds[1], ds[2], ds[3]])
    assert batch["dataset"] == ["kitti", "waymo", "waymo"] and batch["offset"].tolist() == [8, 16, 24]


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 weights for 3 datasets"):
        toys([2, 2, 2], weights=[1, 1])
    with pytest.raises(ValueError, match="weights must be >= 0 with a positive sum"):
        toys([2, 2], weights=[0, 0])
    with pytest.raises(ValueError, match="tags must be 2 distinct names"):
        toys([2, 2], tags=["x", "x"])
    with pytest.raises(ValueError, match="non-empty list"):
        ConcatDataset([])


def _waymo_frame(root, seg, strength_cols, rng, n=300):
    d = os.path.join(root, "training", seg, "100")
    os.makedirs(d)
    np.save(os.path.join(d, "coord.npy"), rng.uniform(-20, 20, (n, 3)).astype(np.float32))
    np.save(os.path.join(d, "strength.npy"), rng.uniform(0, 1, (n, strength_cols)).astype(np.float32))
    np.save(os.path.join(d, "segment.npy"), rng.integers(-1, 22, n).astype(np.int32))


def _dos_waymo(root):
    return dict(
        type="WaymoDataset",
        data_root=str(root),
        split="training",
        transform=[dict(type="DOSViewGenerator", grid_size=0.5, max_points=200), dict(type="ToTensor")],
    )


def test_feature_channels_must_match(tmp_path):
    rng = np.random.default_rng(0)
    _waymo_frame(str(tmp_path / "one"), "s1", 1, rng)
    _waymo_frame(str(tmp_path / "two"), "s2", 2, rng)
    _waymo_frame(str(tmp_path / "three"), "s3", 1, rng)
    with pytest.raises(
        ValueError, match=r"'a' and 'b' cannot be collated.*view1\.feat: float32 \(N, 4\) vs float32 \(N, 5\)"
    ):
        ConcatDataset([_dos_waymo(tmp_path / "one"), _dos_waymo(tmp_path / "two")], tags=["a", "b"])
    ok = build_dataset(
        dict(type="ConcatDataset", datasets=[_dos_waymo(tmp_path / "one"), _dos_waymo(tmp_path / "three")])
    )
    assert ok.tags == ["waymo0", "waymo1"] and ok.reference["view2.feat"] == "float32 (N, 4)"
    batch = collate_fn([ok[0], ok[1]])
    assert batch["view1"]["feat"].shape[1] == 4 and batch["dataset"] == ["waymo0", "waymo1"]
    # A later sample that differs from the probed signature is refused when it loads.
    _waymo_frame(str(tmp_path / "three"), "s4", 2, rng)
    late = ConcatDataset([_dos_waymo(tmp_path / "one"), _dos_waymo(tmp_path / "three")])
    with pytest.raises(ValueError, match=r"sample 1 of 'waymo1'.*view1\.feat"):
        late[2]


def test_multi_configs_reuse_each_datasets_pretraining_set():
    from pointcept.utils.config import config_entry, load_config
    from pointcept.utils.registry import ConfigError

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
    cfg = load_config(os.path.join(root, "multi", "pretrain-dos.py"))
    train = cfg.data.train.to_dict()
    assert train["type"] == "ConcatDataset" and train["tags"] == ["semantic_kitti", "nuscenes", "waymo"]
    for name, part in zip(train["tags"], train["datasets"]):
        assert part == config_entry(os.path.join(root, name, "pretrain-dos.py"), "data.train")
    assert [p["type"] for p in train["datasets"]] == [
        "SemanticKITTIDataset",
        "NuScenesDataset",
        "WaymoDataset",
    ]
    assert train["datasets"][1]["sweeps"] == 1  # one strength column, as the other two datasets
    # Everything else is the SemanticKITTI recipe.
    sk = load_config(os.path.join(root, "semantic_kitti", "pretrain-dos.py"))
    assert cfg.model == sk.model and cfg.hooks == sk.hooks and cfg.optimizer == sk.optimizer
    tiny = load_config(os.path.join(root, "multi", "pretrain-dos-tiny.py")).data.train
    assert [d["split"] for d in tiny.datasets] == ["train", "val"] and tiny.weights == [2, 1]
    with pytest.raises(ConfigError, match="has no config key 'data.nothing'"):
        config_entry(os.path.join(root, "multi", "pretrain-dos.py"), "data.nothing.x")


@HOOKS.register_module()
class MixRecorder(HookBase):
    """Records every step's logged ``mix/<tag>`` shares; raises after step ``crash_at``."""

    def __init__(self, crash_at: int | None = None):
        self.crash_at, self.shares = crash_at, []

    def after_step(self):
        t = self.trainer
        self.shares.append({k: t.storage.latest(k) for k in t.storage.names() if k.startswith("mix/")})
        if t.step == self.crash_at:
            raise RuntimeError(f"crash at step {t.step}")


def test_trainer_logs_the_mix_and_resumes_it_exactly(tmp_path):
    def cfg(name, crash_at=None, **extra):
        c = load_config(write_toy_config(str(tmp_path / f"{name}.py"), str(tmp_path / name), **extra))
        c.data.train = dict(
            type="ConcatDataset",
            datasets=[
                dict(type="ToySegDataset", num_samples=n, num_points=64, seed=s) for n, s in ((5, 1), (9, 4))
            ],
            tags=["a", "b"],
            weights=[3, 1],
            samples_per_epoch=12,
        )
        c.max_steps, c.save_interval, c.eval_interval, c.log_interval = 7, 3, 100, 1
        c.hooks.append(dict(type="MixRecorder", crash_at=crash_at))
        return c

    reference = Trainer(cfg("ref"))
    assert reference.train_sampler.batches_per_epoch == 3 and reference.train_tags == ("a", "b")
    reference.train()
    shares = reference.hooks[-1].shares
    assert len(shares) == 7 and all(set(s) == {"mix/a", "mix/b"} for s in shares)
    assert all(s["mix/a"] + s["mix/b"] == 1.0 for s in shares)
    # Each epoch is 9 slots of 'a' and 3 of 'b' (12 samples, 3 batches of 4).
    per_epoch = [sum(s["mix/a"] for s in shares[e * 3 : e * 3 + 3]) * 4 for e in range(2)]
    assert per_epoch == [9.0, 9.0]
    with pytest.raises(RuntimeError, match="crash at step 4"):
        Trainer(cfg("crash", crash_at=4)).train()
    resumed = Trainer(cfg("crash", resume=True))
    resumed.train()
    assert resumed.hooks[-1].shares == shares[3:]  # the same batches from the step-3 checkpoint on
    ref_state = reference.model_without_ddp.state_dict()
    for key, value in resumed.model_without_ddp.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
