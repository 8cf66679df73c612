"""Pointcept's nuScenes infos (``info/nuscenes_infos_{S}sweeps_{split}.pkl`` over ``raw/``) read as they are:
the same points and labels as our JSON index on the same real samples; a malicious .pkl is refused."""

import json
import os
import pickle
import shutil

import numpy as np
import pytest
from real_data import skip_unless_real
from test_datasets_nuscenes import FRAG_BIN, FRAG_LABEL, FRAGMENT, KEY_SAMPLE, NUSC, SWEEP_SAMPLE

from pointcept.datasets import NuScenesDataset
from pointcept.datasets.formats import read_lidarseg, read_pcd_bin
from pointcept.datasets.label_maps import NUSCENES_LUT, apply_lut
from pointcept.utils.safe_pickle import UnsafeCheckpointError

# The real samples (nuscenes/: an unlabelled keyframe and a sweep; the 40-point labelled fragment).
KEY, SWEEP, FRAG = KEY_SAMPLE, SWEEP_SAMPLE, FRAG_BIN
needs_keyframes = skip_unless_real("nuscenes")
needs_fragment = skip_unless_real("nuscenes_lidarseg_fragment")

# Sweep lidar -> keyframe lidar: 10 degrees about z and a 1.5 m shift, as a sweep 0.05 s earlier.
_T = np.array(
    [
        [np.cos(0.1745), -np.sin(0.1745), 0, 1.5],
        [np.sin(0.1745), np.cos(0.1745), 0, -0.3],
        [0, 0, 1, 0.02],
        [0, 0, 0, 1],
    ]
)


def place_files(root):
    for src_root, rel in ((FRAGMENT, FRAG), (FRAGMENT, FRAG_LABEL), (NUSC, KEY), (NUSC, SWEEP)):
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        shutil.copy(os.path.join(src_root, rel), os.path.join(root, rel))


def pointcept_infos(max_sweeps=10):
    """Two keyframes as Pointcept's preprocess_nuscenes_info.py pickles them (boxes etc. included)."""

    def padded(sweeps, key_path, key_token):
        if not sweeps:  # scene start: the keyframe itself with no transform, then repeats
            sweeps = [
                dict(lidar_path=key_path, sample_data_token=key_token, transform_matrix=None, time_lag=0)
            ]
        while len(sweeps) < max_sweeps - 1:
            sweeps.append(sweeps[-1])
        return sweeps

    common = dict(
        ref_from_car=np.eye(4), car_from_global=np.eye(4), cam_intrinsic=np.eye(3), timestamp=1532402927.647951,
        gt_boxes=np.zeros((2, 9)), gt_names=np.array(["car", "pedestrian"]), num_lidar_pts=np.array([4, 0]),
    )  # fmt: skip
    first = dict(common, lidar_path=FRAG, lidar_token="frag", token="sample_frag", gt_segment_path=FRAG_LABEL,
                 sweeps=padded([], FRAG, "frag"))  # fmt: skip
    sweep = dict(lidar_path=SWEEP, sample_data_token="sw1", transform_matrix=_T, time_lag=0.05,
                 global_from_car=np.eye(4), car_from_current=np.eye(4))  # fmt: skip
    second = dict(
        common, lidar_path=KEY, lidar_token="key", token="sample_key", sweeps=padded([sweep], KEY, "key")
    )
    return [first, second]


def our_index():
    """The same two keyframes in our JSON index (paths relative to data_root)."""
    return [
        dict(lidar_token="frag", sample_token="sample_frag", scene_name="s", timestamp=0, lidar_path=FRAG,
             gt_segment_path=FRAG_LABEL, sweeps=[]),
        dict(lidar_token="key", sample_token="sample_key", scene_name="s", timestamp=0, lidar_path=KEY,
             gt_segment_path=None, sweeps=[dict(lidar_path=SWEEP, time_lag=0.05, transform_matrix=_T.tolist())]),
    ]  # fmt: skip


def write_pkl(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


@pytest.fixture
def roots(tmp_path):
    pc, ours = str(tmp_path / "pointcept"), str(tmp_path / "ours")
    place_files(os.path.join(pc, "raw"))  # Pointcept links the nuScenes root as <data_root>/raw
    place_files(ours)
    os.makedirs(os.path.join(ours, "info"))
    with open(os.path.join(ours, "info", "nuscenes_infos_10sweeps_train.json"), "w") as f:
        json.dump(our_index(), f)
    return pc, ours


@needs_keyframes
@needs_fragment
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pointcept_pkl_matches_our_index(roots, protocol):
    pc, ours = roots
    write_pkl(os.path.join(pc, "info", "nuscenes_infos_10sweeps_train.pkl"), pointcept_infos(), protocol)
    for sweeps in (1, 3):
        theirs = NuScenesDataset(data_root=pc, split="train", sweeps=sweeps)  # auto: only the .pkl exists
        mine = NuScenesDataset(data_root=ours, split="train", sweeps=sweeps, info_format="json")
        assert len(theirs) == len(mine) == 2
        for i in range(2):
            a, b = theirs.get_data(i), mine.get_data(i)
            assert a["name"] == b["name"] == ["frag", "key"][i]
            for key in ("coord", "strength", "segment"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key} of sample {i}, sweeps={sweeps}")
    # What the arrays hold: the fragment's devkit labels mapped to the 16 classes; scene-start padding
    # (the keyframe itself) adds nothing; the real sweep is moved by its transform with its time lag.
    frag = read_pcd_bin(os.path.join(FRAGMENT, FRAG))
    labels = apply_lut(read_lidarseg(os.path.join(FRAGMENT, FRAG_LABEL), len(frag)), NUSCENES_LUT)
    d = theirs.get_data(0)
    assert d["coord"].shape == (40, 3)
    np.testing.assert_array_equal(d["segment"], labels)
    key, sweep = read_pcd_bin(os.path.join(NUSC, KEY)), read_pcd_bin(os.path.join(NUSC, SWEEP))
    d = theirs.get_data(1)
    assert d["coord"].shape == (len(key) + len(sweep), 3) and (d["segment"] == -1).all()
    moved = sweep[:, :3].astype(np.float64) @ _T[:3, :3].T + _T[:3, 3]
    np.testing.assert_allclose(d["coord"][len(key) :], moved, atol=1e-4)
    np.testing.assert_allclose(d["strength"][:, 1], [0.0] * len(key) + [0.05] * len(sweep), atol=1e-6)
    np.testing.assert_allclose(d["strength"][: len(key), 0], key[:, 3] / 255.0, rtol=1e-6)


@needs_keyframes
@needs_fragment
def test_pkl_without_raw_folder_and_format_choice(roots):
    _, ours = roots
    pkl = os.path.join(ours, "info", "nuscenes_infos_10sweeps_train.pkl")
    write_pkl(pkl, pointcept_infos()[:1])
    # Without <data_root>/raw the .pkl paths are relative to data_root itself.
    only_pkl = NuScenesDataset(data_root=ours, split="train", info_format="pointcept")
    assert len(only_pkl) == 1 and only_pkl.get_data(0)["coord"].shape == (40, 3)
    # auto prefers our JSON index when both exist.
    assert len(NuScenesDataset(data_root=ours, split="train")) == 2
    with pytest.raises(ValueError, match=r"nuscenes_infos_10sweeps_val\.pkl: nuScenes info index not found"):
        NuScenesDataset(data_root=ours, split="val", info_format="pointcept")
    with pytest.raises(
        ValueError, match=r"10sweeps_val\.json \(or Pointcept's .*10sweeps_val\.pkl\): nuScenes info"
    ):
        NuScenesDataset(data_root=ours, split="val")
    with pytest.raises(ValueError, match="info_format must be"):
        NuScenesDataset(data_root=ours, split="train", info_format="pkl")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_or_malformed_pkl_is_refused(tmp_path):  # needs no real data: refused before any read
    root = str(tmp_path)
    marker = tmp_path / "pwned"
    pkl = os.path.join(root, "info", "nuscenes_infos_10sweeps_train.pkl")
    infos = pointcept_infos()
    infos[1]["sweeps"][0]["time_lag"] = _Payload(marker)
    write_pkl(pkl, infos)
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load .*10sweeps_train\.pkl: .*\.system"):
        NuScenesDataset(data_root=root, split="train")
    assert not marker.exists()  # nothing ran
    write_pkl(pkl, {"infos": []})
    with pytest.raises(ValueError, match="holds a list, got dict"):
        NuScenesDataset(data_root=root, split="train")
    bad = pointcept_infos()
    bad[1]["sweeps"][0] = dict(bad[1]["sweeps"][0], transform_matrix=np.eye(3))
    write_pkl(pkl, bad)
    with pytest.raises(ValueError, match=r"entry 1: sweeps\[0\]\.transform_matrix must be a finite 4x4"):
        NuScenesDataset(data_root=root, split="train")
    write_pkl(pkl, [dict(lidar_path=KEY)])
    with pytest.raises(ValueError, match=r"entry 0: missing key\(s\) \['lidar_token'\]"):
        NuScenesDataset(data_root=root, split="train")


def test_pkl_poses_become_lidar_to_ego_and_ego_to_global(tmp_path):  # needs no real data: infos only
    root = str(tmp_path)
    pkl = os.path.join(root, "info", "nuscenes_infos_10sweeps_train.pkl")
    # ref_from_car = inverse calibrated_sensor (ego -> LiDAR), car_from_global = inverse ego_pose
    l2e, e2g = _T.copy(), np.eye(4)
    e2g[:3, :3] = _T[:3, :3].T
    e2g[:3, 3] = [600.0, 1600.0, 0.5]
    infos = pointcept_infos()
    infos[1] = dict(infos[1], ref_from_car=np.linalg.inv(l2e), car_from_global=np.linalg.inv(e2g))
    del infos[0]["ref_from_car"], infos[0]["car_from_global"]
    write_pkl(pkl, infos)
    ds = NuScenesDataset(data_root=root, split="train")
    info = ds.eval_info(1)
    assert info["sample_token"] == "sample_key" and info["bicycle_rack_boxes"].shape == (0, 9)
    np.testing.assert_allclose(info["lidar_to_ego"], l2e, atol=1e-12)
    np.testing.assert_allclose(info["ego_to_global"], e2g, atol=1e-9)
    assert ds.eval_info(0)["lidar_to_ego"] is None and ds.eval_info(0)["ego_to_global"] is None
    infos[1]["car_from_global"] = np.eye(3)
    write_pkl(pkl, infos)
    with pytest.raises(ValueError, match=r"entry 1: car_from_global must be a finite 4x4 matrix"):
        NuScenesDataset(data_root=root, split="train")
