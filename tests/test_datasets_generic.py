"""GenericNpyDataset: Pointcept-style scene folders of .npy files, whatever assets they hold."""

import os
import subprocess
import sys

import numpy as np
import pytest

from pointcept.datasets import DATASETS, GenericNpyDataset, build_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "generic", "semseg-ptv3-tiny.py")


def _scene(folder, rng, n=3000, color=True, strength=None, normal=True, segment=True, num_classes=3):
    os.makedirs(folder)
    floor = np.c_[rng.uniform(0, 6, (n // 2, 2)), np.zeros(n // 2)]
    wall = np.c_[np.zeros(n - n // 2), rng.uniform(0, 6, n - n // 2), rng.uniform(0, 2.5, n - n // 2)]
    xyz = np.concatenate([floor, wall]).astype(np.float32)
    arrays = {"coord": xyz}
    if color:
        arrays["color"] = rng.integers(0, 256, (n, 3)).astype(np.uint8)
    if strength is not None:
        arrays["strength"] = rng.uniform(0, 1, strength).astype(np.float32)
    if normal:
        arrays["normal"] = np.r_[np.tile([0, 0, 1], (n // 2, 1)), np.tile([1, 0, 0], (n - n // 2, 1))].astype(
            np.float32
        )
    if segment:
        arrays["segment"] = np.r_[np.zeros(n // 2), rng.integers(-1, num_classes, n - n // 2)].astype(
            np.int32
        )[:, None]
    for k, v in arrays.items():
        np.save(os.path.join(folder, f"{k}.npy"), v)
    return arrays


@pytest.fixture
def data_root(tmp_path):
    rng = np.random.default_rng(0)
    root = str(tmp_path / "data")
    scenes = {
        "train/room_a": _scene(os.path.join(root, "train", "room_a"), rng, strength=(3000,)),
        "train/building/floor1": _scene(
            os.path.join(root, "train", "building", "floor1"),
            rng,
            color=False,
            strength=(3000, 2),
            segment=False,
        ),
        "val/room_c": _scene(os.path.join(root, "val", "room_c"), rng),
    }
    return root, scenes


def test_reads_whatever_each_scene_has(data_root):
    root, scenes = data_root
    ds = GenericNpyDataset(data_root=root, split="train", num_classes=3)
    assert len(ds) == 2 and ds.class_names == ["class_0", "class_1", "class_2"]
    by_name = {ds.get_data_name(i): ds.get_data(i) for i in range(len(ds))}
    assert sorted(by_name) == ["building/floor1", "room_a"]
    a, ref = by_name["room_a"], scenes["train/room_a"]
    np.testing.assert_array_equal(a["coord"], ref["coord"])
    np.testing.assert_allclose(a["color"], ref["color"] / 255.0, rtol=1e-6)
    assert a["color"].dtype == np.float32 and a["strength"].shape == (3000, 1)
    np.testing.assert_array_equal(a["segment"], ref["segment"][:, 0])
    np.testing.assert_array_equal(a["normal"], ref["normal"])
    b = by_name["building/floor1"]
    assert "color" not in b and b["strength"].shape == (3000, 2)
    assert (b["segment"] == -1).all() and b["segment"].dtype == np.int64
    both = GenericNpyDataset(data_root=root, split=["train", "val"], names=["floor", "wall", "other"])
    assert len(both) == 3 and both.num_classes == 3


def test_errors_name_the_file(data_root, tmp_path):
    root, _ = data_root
    with pytest.raises(ValueError, match=r"segment\.npy: label 2 outside -1\.\.1"):
        GenericNpyDataset(data_root=root, split="val", num_classes=2).get_data(0)
    with pytest.raises(ValueError, match=r"test: split folder not found"):
        GenericNpyDataset(data_root=root, split="test")
    with pytest.raises(ValueError, match="2 names for num_classes=3"):
        GenericNpyDataset(data_root=root, names=["a", "b"], num_classes=3)
    np.save(os.path.join(root, "val", "room_c", "normal.npy"), np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"normal\.npy: 5 rows for a scan of 3000 points"):
        GenericNpyDataset(data_root=root, split="val", num_classes=3).get_data(0)


def test_test_mode_and_predictions(data_root, tmp_path):
    root, scenes = data_root
    cfg = dict(
        type="GenericNpyDataset",
        data_root=root,
        split="val",
        num_classes=3,
        test_mode=True,
        test_cfg=dict(
            voxelize=dict(type="GridSample", grid_size=0.1, mode="test"),
            post_transform=[
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "index"), feat_keys=("color",)),
            ],
        ),
    )
    assert DATASETS.get("GenericNpyDataset") is GenericNpyDataset
    ds = build_dataset(cfg)
    sample = ds[0]
    assert sample["name"] == "room_c" and len(sample["segment"]) == 3000
    assert sample["fragment_list"][0]["feat"].shape[1] == 3
    pred = np.arange(3000) % 3
    path = ds.save_prediction(pred, "sub/room_c", str(tmp_path / "res"))
    np.testing.assert_array_equal(np.load(path), pred)
    with pytest.raises(ValueError):
        ds.save_prediction(np.full(3000, 3), "room_c", str(tmp_path / "res"))


def test_generic_config_trains_two_steps(data_root, tmp_path):
    """configs/generic/semseg-ptv3-tiny.py trains on the folders through tools/train.py."""
    root, _ = data_root
    save = str(tmp_path / "exp")
    opts = [f"data.{s}.data_root={root}" for s in ("train", "val", "test")]
    opts += [f"data.{s}.num_classes=3" for s in ("train", "val", "test")]
    opts.append("data.train.split=val")  # the train split has a scene without color
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "--config-file", CONFIG, "--options", *opts,
           "data.num_classes=3", "model.num_classes=3", f"save_path={save}", "max_steps=2", "save_interval=2",
           "eval_interval=2", "log_interval=1", "num_worker=0", "batch_size=1", "batch_size_val=1", "seed=0",
           "enable_tensorboard=false"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert os.path.isfile(os.path.join(save, "model", "model_last.pth"))
    assert "mIoU" in res.stdout + res.stderr
