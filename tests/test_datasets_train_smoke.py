"""tools/train.py runs a couple of DOS pretraining steps on a tiny sample of each new dataset."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _street(rng, n):
    """A ground plane with a few boxes: enough structure for crops, grids and masks."""
    ground = np.c_[rng.uniform(-20, 20, (n, 2)), rng.normal(-1.7, 0.02, n)]
    boxes = np.concatenate(
        [c + rng.uniform(-1, 1, (n // 8, 3)) for c in ([5, 3, -0.7], [-6, -4, -0.7], [2, -9, 0.3])]
    )
    return np.concatenate([ground, boxes]).astype(np.float32)


def write_nuscenes(root, rng):
    os.makedirs(os.path.join(root, "samples", "LIDAR_TOP"))
    os.makedirs(os.path.join(root, "info"))
    infos = []
    for i in range(2):
        xyz = _street(rng, 3000)
        pts = np.c_[xyz, rng.uniform(0, 255, len(xyz)), rng.integers(0, 32, len(xyz))].astype(np.float32)
        path = f"samples/LIDAR_TOP/frame{i}.pcd.bin"
        pts.tofile(os.path.join(root, path))
        infos.append(dict(lidar_token=f"tok{i}", sample_token=f"s{i}", scene_name="scene-0001", timestamp=i,
                          lidar_path=path, gt_segment_path=None, sweeps=[]))  # fmt: skip
    with open(os.path.join(root, "info", "nuscenes_infos_10sweeps_train.json"), "w") as f:
        json.dump(infos, f)


def write_waymo(root, rng):
    for ts in (100, 200):
        d = os.path.join(root, "training", "segment-1_with_camera_labels", str(ts))
        os.makedirs(d)
        xyz = _street(rng, 3000)
        np.save(os.path.join(d, "coord.npy"), xyz)
        np.save(os.path.join(d, "strength.npy"), np.tanh(rng.uniform(0, 2, (len(xyz), 1))).astype(np.float32))
        np.save(os.path.join(d, "segment.npy"), rng.integers(-1, 22, len(xyz)).astype(np.int32))


def write_scannet(root, rng):
    for name in ("scene0000_00", "scene0001_00"):
        d = os.path.join(root, "train", name)
        os.makedirs(d)
        floor = np.c_[rng.uniform(0, 5, (4000, 2)), np.zeros(4000)]
        wall = np.c_[np.zeros(2000), rng.uniform(0, 5, 2000), rng.uniform(0, 2.5, 2000)]
        xyz = np.concatenate([floor, wall]).astype(np.float32)
        normal = np.r_[np.tile([0, 0, 1], (4000, 1)), np.tile([1, 0, 0], (2000, 1))].astype(np.float32)
        np.save(os.path.join(d, "coord.npy"), xyz)
        np.save(os.path.join(d, "color.npy"), rng.integers(0, 256, (len(xyz), 3)).astype(np.uint8))
        np.save(os.path.join(d, "normal.npy"), normal)
        np.save(os.path.join(d, "segment20.npy"), np.r_[np.ones(4000), np.zeros(2000)].astype(np.int32))
        np.save(os.path.join(d, "segment200.npy"), np.r_[np.full(4000, 2), np.zeros(2000)].astype(np.int32))


WRITERS = {
    "nuscenes": write_nuscenes,
    "waymo": write_waymo,
    "scannet": write_scannet,
    "scannet200": write_scannet,
}


@pytest.mark.parametrize("dataset", sorted(WRITERS))
def test_pretrain_dos_tiny_runs(tmp_path, dataset):
    pytest.importorskip("pointcept.models.dos", reason="the DOS model has not landed")
    pytest.importorskip("pointcept.engines", reason="the engine has not landed")
    data_root, save = str(tmp_path / "data"), str(tmp_path / "exp")
    WRITERS[dataset](data_root, np.random.default_rng(0))
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"),
           "--config-file", os.path.join(ROOT, "configs", dataset, "pretrain-dos-tiny.py"),
           "--options", f"data.train.data_root={data_root}", f"save_path={save}", "max_steps=2",
           "save_interval=2", "log_interval=1", "num_worker=0", "seed=0", "enable_tensorboard=false"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert os.path.isfile(os.path.join(save, "model", "model_last.pth"))
    log = res.stdout + res.stderr
    assert "loss" in log


CONFIGS = ["pretrain-dos", "pretrain-dos-tiny", "semseg-dos-lin", "semseg-dos-ft", "semseg-ptv3"]
FEAT_WIDTH = {"coord": 3, "strength": 1, "color": 3, "normal": 3}


def _collects(transforms):
    from pointcept.datasets import TRANSFORMS
    from pointcept.utils.registry import build_from_cfg

    for t in transforms or []:
        if t["type"] == "Collect":
            yield t
        elif t["type"] == "DOSViewGenerator":
            # The view pipeline the generator runs: its standard one or a custom view_transform.
            yield from _collects(build_from_cfg(t, TRANSFORMS).view_transform_cfg)


@pytest.mark.parametrize("dataset", sorted(WRITERS))
@pytest.mark.parametrize("name", CONFIGS)
def test_configs_are_consistent(dataset, name):
    from pointcept.datasets import DATASETS
    from pointcept.utils.config import load_config

    cfg = load_config(os.path.join(ROOT, "configs", dataset, f"{name}.py"))
    want_type = {"nuscenes": "NuScenesDataset", "waymo": "WaymoDataset", "scannet": "ScanNetDataset"}.get(
        dataset, "ScanNet200Dataset"
    )
    splits = [s for s in ("train", "val", "test") if cfg.data.get(s)]
    in_channels = cfg.model.backbone.in_channels
    for split in splits:
        assert cfg.data[split].type == want_type
        for collect in _collects(cfg.data[split].get("transform")):
            assert sum(FEAT_WIDTH[k] for k in collect["feat_keys"]) == in_channels
    if name.startswith("semseg"):
        ds_cls = DATASETS.get(want_type)
        assert cfg.model.num_classes == cfg.data.num_classes == len(cfg.data.names) == len(ds_cls.class_names)
        assert list(cfg.data.names) == list(ds_cls.class_names)
        for collect in _collects(cfg.data.test.test_cfg.post_transform):
            assert (
                "index" in collect["keys"] and sum(FEAT_WIDTH[k] for k in collect["feat_keys"]) == in_channels
            )
