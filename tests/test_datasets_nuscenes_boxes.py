"""nuScenes 3D boxes from a devkit-format table set written here: hand-computed values and devkit parity."""

import json
import math
import os

import numpy as np
import pytest

from pointcept.datasets.label_maps import (
    NUSCENES_ATTRIBUTE_NAMES,
    NUSCENES_DETECTION_CLASSES,
    category_to_detection_name,
)
from pointcept.datasets.nuscenes import NuScenesDataset
from pointcept.datasets.preprocessing.nuscenes_boxes import annotation_velocity
from pointcept.datasets.preprocessing.nuscenes_info import build_nuscenes_infos, write_nuscenes_infos

VERSION = "v1.0-trainval"


def quat_z(deg):
    t = math.radians(deg) / 2
    return [math.cos(t), 0.0, 0.0, math.sin(t)]


# Ego pose of every keyframe: yaw 90 deg at (5, 0, 0); LiDAR calibration: yaw 90 deg at (1, 0, 2).
EGO = (quat_z(90), [5.0, 0.0, 0.0])
CALIB = (quat_z(90), [1.0, 0.0, 2.0])

CATEGORIES = [
    "vehicle.car",
    "human.pedestrian.adult",
    "movable_object.barrier",
    "vehicle.truck",
    "human.pedestrian.wheelchair",
    "static_object.bicycle_rack",
    "vehicle.bus.rigid",
]

# Scene A: samples a0, a1, a2 at 0, 0.5, 1.0 s. Scene B: b0, b1 at 10 and 14 s (a 4 s gap).
SAMPLES = {
    "a0": ("A", 0),
    "a1": ("A", 500_000),
    "a2": ("A", 1_000_000),
    "b0": ("B", 10_000_000),
    "b1": ("B", 14_000_000),
}

# token, instance, category, sample, translation (global), size wlh, yaw (deg), lidar pts, radar pts, attributes
ANNOTATIONS = [
    ("car0", "car", "vehicle.car", "a0", [10.0, 0.0, 1.0], [1.8, 4.5, 1.6], 30, 50, 3, ["att_moving"]),
    ("car1", "car", "vehicle.car", "a1", [12.0, 0.0, 1.0], [1.8, 4.5, 1.6], 30, 40, 2, ["att_moving"]),
    ("car2", "car", "vehicle.car", "a2", [14.0, 0.0, 1.0], [1.8, 4.5, 1.6], 30, 30, 1, ["att_moving"]),
    ("ped0", "ped", "human.pedestrian.adult", "a0", [3.0, 4.0, 0.9], [0.6, 0.7, 1.8], -45, 12, 0, []),
    ("bar1", "bar", "movable_object.barrier", "a1", [8.0, -3.0, 0.5], [2.0, 0.4, 1.0], 0, 0, 0, []),
    ("trk1", "trk", "vehicle.truck", "a1", [20.0, 5.0, 1.5], [2.5, 7.0, 3.0], 90, 0, 4, []),
    ("whl1", "whl", "human.pedestrian.wheelchair", "a1", [6.0, 6.0, 0.7], [0.8, 1.0, 1.3], 0, 9, 0, []),
    ("rack1", "rack", "static_object.bicycle_rack", "a1", [7.0, 7.0, 0.5], [1.0, 3.0, 1.0], 0, 5, 0, []),
    ("bus0", "bus", "vehicle.bus.rigid", "b0", [30.0, 0.0, 1.8], [2.9, 11.0, 3.5], 0, 80, 5, []),
    ("bus1", "bus", "vehicle.bus.rigid", "b1", [50.0, 0.0, 1.8], [2.9, 11.0, 3.5], 0, 70, 5, []),
]


def _write(root, name, rows):
    with open(os.path.join(root, VERSION, f"{name}.json"), "w") as f:
        json.dump(rows, f)


def fabricate(root, rng, annotations=ANNOTATIONS, ego=EGO, calib=CALIB, categories=CATEGORIES):
    """Write the devkit tables (complete enough for ``nuscenes.NuScenes``) and one cloud per keyframe.

    ``annotations`` (rows as ``ANNOTATIONS``, a yaw in degrees or a quaternion), ``ego`` and
    ``calib`` ((rotation, translation) of every keyframe) default to the set the tests here check.
    """
    os.makedirs(os.path.join(root, VERSION))
    os.makedirs(os.path.join(root, "samples", "LIDAR_TOP"))
    os.makedirs(os.path.join(root, "maps"))
    scene_samples = {"A": ["a0", "a1", "a2"], "B": ["b0", "b1"]}
    samples, sample_data, ego_poses = [], [], []
    for scene, tokens in scene_samples.items():
        for i, tok in enumerate(tokens):
            ts = SAMPLES[tok][1]
            samples.append(dict(token=tok, timestamp=ts, scene_token=scene,
                                prev=tokens[i - 1] if i else "", next=tokens[i + 1] if i + 1 < len(tokens) else ""))  # fmt: skip
            filename = f"samples/LIDAR_TOP/lidar_{tok}.pcd.bin"
            cloud = rng.uniform(-20, 20, size=(300, 5)).astype(np.float32)
            cloud[:, 3:] = rng.integers(0, 32, (300, 2))
            cloud.tofile(os.path.join(root, filename))
            sample_data.append(dict(token=f"lidar_{tok}", sample_token=tok, ego_pose_token=f"ego_{tok}",
                                    calibrated_sensor_token="cal_lidar", timestamp=ts + 100, fileformat="pcd",
                                    is_key_frame=True, height=0, width=0, filename=filename, prev="", next=""))  # fmt: skip
            ego_poses.append(
                dict(token=f"ego_{tok}", timestamp=ts + 100, rotation=ego[0], translation=ego[1])
            )
    _write(root, "sample", samples)
    _write(root, "sample_data", sample_data)
    _write(root, "ego_pose", ego_poses)
    _write(root, "scene", [
        dict(token=s, name=f"scene-000{i + 1}", log_token="log0", nbr_samples=len(t), first_sample_token=t[0],
             last_sample_token=t[-1], description="") for i, (s, t) in enumerate(scene_samples.items())])  # fmt: skip
    _write(root, "sensor", [dict(token="sen_lidar", channel="LIDAR_TOP", modality="lidar")])
    _write(root, "calibrated_sensor", [dict(token="cal_lidar", sensor_token="sen_lidar", rotation=calib[0],
                                            translation=calib[1], camera_intrinsic=[])])  # fmt: skip
    _write(root, "category", [dict(token=f"cat_{c}", name=c, description="") for c in categories])
    _write(root, "attribute", [
        dict(token="att_moving" if a == "vehicle.moving" else f"att_{a}", name=a, description="")
        for a in NUSCENES_ATTRIBUTE_NAMES])  # fmt: skip
    _write(root, "visibility", [dict(token="4", level="v80-100", description="")])
    _write(
        root, "log", [dict(token="log0", logfile="", vehicle="", date_captured="", location="boston-seaport")]
    )
    _write(
        root,
        "map",
        [dict(token="map0", log_tokens=["log0"], category="semantic_prior", filename="maps/m.png")],
    )
    _write_png(os.path.join(root, "maps", "m.png"))
    by_instance = {}
    for row in annotations:
        by_instance.setdefault(row[1], []).append(row)
    anns, instances = [], []
    for inst, rows in by_instance.items():
        instances.append(dict(token=inst, category_token=f"cat_{rows[0][2]}", nbr_annotations=len(rows),
                              first_annotation_token=rows[0][0], last_annotation_token=rows[-1][0]))  # fmt: skip
        for i, (tok, _, _, sample, t, wlh, yaw, n_lidar, n_radar, attrs) in enumerate(rows):
            anns.append(dict(token=tok, sample_token=sample, instance_token=inst, visibility_token="4",
                             attribute_tokens=attrs, translation=t, size=wlh,
                             rotation=yaw if isinstance(yaw, list) else quat_z(yaw),
                             prev=rows[i - 1][0] if i else "", next=rows[i + 1][0] if i + 1 < len(rows) else "",
                             num_lidar_pts=n_lidar, num_radar_pts=n_radar))  # fmt: skip
    _write(root, "instance", instances)
    _write(root, "sample_annotation", anns)
    split_file = os.path.join(root, "splits.json")
    with open(split_file, "w") as f:
        json.dump({"train": ["scene-0001"], "val": ["scene-0002"]}, f)
    return split_file


def _write_png(path):
    """A 1x1 greyscale PNG (the devkit opens the map mask of every log)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + chunk(
        b"IDAT", zlib.compress(b"\x00\xff")
    )
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))


def to_lidar(p):
    """Global -> LiDAR by hand: both rotations are +90 deg about z, whose inverse maps (x, y) to (y, -x)."""
    x, y, z = np.asarray(p, dtype=np.float64) - EGO[1]
    x, y, z = np.array([y, -x, z]) - CALIB[1]
    return np.array([y, -x, z])


def infos_by_sample(root, split_file):
    infos = build_nuscenes_infos(root, VERSION, json.load(open(split_file)), max_sweeps=1)
    return {info["sample_token"]: info for split in infos.values() for info in split}


def test_category_mapping_is_the_devkits():
    assert len(NUSCENES_DETECTION_CLASSES) == 10
    assert category_to_detection_name("vehicle.bus.bendy") == "bus"
    assert category_to_detection_name("human.pedestrian.police_officer") == "pedestrian"
    for not_a_target in ("human.pedestrian.wheelchair", "human.pedestrian.stroller", "vehicle.emergency.police",
                         "static_object.bicycle_rack", "animal", "movable_object.debris"):  # fmt: skip
        assert category_to_detection_name(not_a_target) is None


def test_boxes_hand_computed(tmp_path):
    root = str(tmp_path)
    infos = infos_by_sample(root, fabricate(root, np.random.default_rng(0)))
    a0, a1, a2 = infos["a0"], infos["a1"], infos["a2"]
    assert a0["gt_names"] == ["car", "pedestrian"]
    # Car at (10, 0, 1), yaw 30 deg: the LiDAR frame is rotated 180 deg from the global one.
    np.testing.assert_allclose(to_lidar([10, 0, 1]), [-5, 1, -1])
    car = np.array(a0["gt_boxes"][0])
    np.testing.assert_allclose(car[:3], [-5, 1, -1], atol=1e-9)
    np.testing.assert_allclose(car[3:6], [4.5, 1.8, 1.6])  # wlh -> lwh
    assert car[6] == pytest.approx(math.radians(30 - 180))
    # One-sided difference to the next annotation: 2 m in 0.5 s along global +x = -x in the LiDAR frame.
    np.testing.assert_allclose(car[7:], [-4.0, 0.0], atol=1e-9)
    # Centred difference in the middle sample (4 m over 1 s), one-sided at the end.
    np.testing.assert_allclose(a1["gt_boxes"][0][7:], [-4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(a2["gt_boxes"][0][7:], [-4.0, 0.0], atol=1e-9)
    assert a0["gt_velocity_valid"] == [True, False]  # the pedestrian has a single annotation
    ped = np.array(a0["gt_boxes"][1])
    np.testing.assert_allclose(ped[:3], to_lidar([3.0, 4.0, 0.9]), atol=1e-9)
    np.testing.assert_allclose(ped[3:], [0.7, 0.6, 1.8, math.radians(-45 - 180 + 360), 0, 0], atol=1e-9)
    assert a0["gt_attributes"] == ["vehicle.moving", ""]
    assert a0["gt_num_lidar_pts"] == [50, 12] and a0["gt_num_radar_pts"] == [3, 0]
    assert a0["gt_instance_tokens"] == ["car", "ped"] and a0["gt_annotation_tokens"] == ["car0", "ped0"]
    # a1: the wheelchair is no detection class; the rack is kept apart; the empty barrier stays in the index.
    assert a1["gt_names"] == ["car", "barrier", "truck"]
    assert a1["gt_num_lidar_pts"] == [40, 0, 0] and a1["gt_num_radar_pts"] == [2, 0, 4]
    np.testing.assert_allclose(
        a1["bicycle_rack_boxes"][0][:6], [*to_lidar([7, 7, 0.5]), 3.0, 1.0, 1.0], atol=1e-9
    )
    # lidar_to_global maps the LiDAR-frame centre back to the table's translation.
    T = np.array(a1["lidar_to_global"])
    np.testing.assert_allclose(
        T[:3, :3] @ np.array(a1["gt_boxes"][2][:3]) + T[:3, 3], [20, 5, 1.5], atol=1e-9
    )


def test_velocity_max_time_gap(tmp_path):
    root = str(tmp_path)
    infos = infos_by_sample(root, fabricate(root, np.random.default_rng(0)))
    # The bus's annotations are 4 s apart (> 1.5 s): no velocity, stored as 0 with the flag down.
    for tok in ("b0", "b1"):
        assert infos[tok]["gt_velocity_valid"] == [False]
        assert infos[tok]["gt_boxes"][0][7:] == [0.0, 0.0]
    anns = {
        r[0]: dict(token=r[0], sample_token=r[3], translation=r[4], prev="", next="") for r in ANNOTATIONS
    }
    times = {k: v[1] for k, v in SAMPLES.items()}
    anns["car1"].update(prev="car0", next="car2")
    np.testing.assert_allclose(annotation_velocity(anns["car1"], anns, times), [4, 0, 0])
    # A centred difference may span up to 2 x 1.5 s; one-sided at most 1.5 s.
    times_wide = dict(times, a0=-1_900_000, a2=1_000_000)
    np.testing.assert_allclose(annotation_velocity(anns["car1"], anns, times_wide), [4 / 2.9, 0, 0])
    times_too_wide = dict(times, a0=-2_100_000)
    assert np.isnan(annotation_velocity(anns["car1"], anns, times_too_wide)).all()
    anns["car1"].update(next="")
    times_one_sided = dict(times, a0=-1_100_000)
    assert np.isnan(annotation_velocity(anns["car1"], anns, times_one_sided)).all()


def test_dataset_boxes_and_empty_box_modes(tmp_path):
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0))
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=split_file)

    def a1_boxes(mode):
        ds = NuScenesDataset(
            data_root=root,
            split="train",
            sweeps=1,
            info_sweeps=1,
            box_classes=NUSCENES_DETECTION_CLASSES,
            empty_boxes=mode,
        )
        return ds.get_data(1)

    train = a1_boxes("drop")  # car (40 lidar pts) only
    assert train["gt_boxes"].dtype == np.float32 and train["gt_boxes"].shape == (1, 9)
    np.testing.assert_array_equal(train["gt_labels"], [NUSCENES_DETECTION_CLASSES.index("car")])
    np.testing.assert_array_equal(train["gt_num_points"], [40])
    devkit = a1_boxes("devkit")  # + the truck seen by radar only
    np.testing.assert_array_equal(devkit["gt_labels"], [0, 1])
    keep = a1_boxes("keep")
    np.testing.assert_array_equal(keep["gt_labels"], [0, 5, 1])
    np.testing.assert_array_equal(keep["gt_num_points"], [40, 0, 0])
    # Classes outside box_classes become ignore (-1); the point cloud is unchanged by boxes.
    ds = NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1,
                         box_classes=["pedestrian", "car"], empty_boxes="keep")  # fmt: skip
    np.testing.assert_array_equal(ds.get_data(1)["gt_labels"], [1, -1, -1])
    assert ds[0]["coord"].shape == (300, 3)
    plain = NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1)
    assert "gt_boxes" not in plain.get_data(0)
    with pytest.raises(ValueError, match="empty_boxes must be one of"):
        NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1, empty_boxes="all")


def test_index_without_annotations_has_no_boxes(tmp_path):
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0))
    os.remove(os.path.join(root, VERSION, "sample_annotation.json"))
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=split_file)
    ds = NuScenesDataset(data_root=root, split="val", sweeps=1, info_sweeps=1, box_classes=["car"])
    assert "gt_boxes" not in ds.data_list[0]
    assert ds.get_data(0)["gt_boxes"].shape == (0, 9)


def test_boxes_match_nuscenes_devkit(tmp_path):
    nuscenes = pytest.importorskip(
        "nuscenes.nuscenes", reason="nuscenes-devkit not installed: devkit parity not run"
    )
    from nuscenes.utils.data_classes import Box
    from pyquaternion import Quaternion

    root = str(tmp_path)
    infos = infos_by_sample(root, fabricate(root, np.random.default_rng(0)))
    nusc = nuscenes.NuScenes(version=VERSION, dataroot=root, verbose=False)
    compared = 0
    for sample_token, info in infos.items():
        lidar_token = nusc.get("sample", sample_token)["data"]["LIDAR_TOP"]
        _, boxes, _ = nusc.get_sample_data(lidar_token)
        by_token = {b.token: b for b in boxes}
        sd = nusc.get("sample_data", lidar_token)
        pose = nusc.get("ego_pose", sd["ego_pose_token"])
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        for ann_token, ours in zip(info["gt_annotation_tokens"], info["gt_boxes"]):
            ref = by_token[ann_token]
            np.testing.assert_allclose(ours[:3], ref.center, atol=1e-6)
            np.testing.assert_allclose(ours[3:6], ref.wlh[[1, 0, 2]], atol=1e-9)
            dyaw = (ours[6] - ref.orientation.yaw_pitch_roll[0] + math.pi) % (2 * math.pi) - math.pi
            assert abs(dyaw) < 1e-6
            # The devkit's velocity, moved into the LiDAR frame with the devkit's own Box.
            ann = nusc.get("sample_annotation", ann_token)
            vel = Box(
                ann["translation"],
                ann["size"],
                Quaternion(ann["rotation"]),
                velocity=nusc.box_velocity(ann_token),
            )
            vel.translate(-np.array(pose["translation"]))
            vel.rotate(Quaternion(pose["rotation"]).inverse)
            vel.translate(-np.array(cs["translation"]))
            vel.rotate(Quaternion(cs["rotation"]).inverse)
            np.testing.assert_allclose(ours[7:], np.nan_to_num(vel.velocity[:2]), atol=1e-6)
            compared += 1
    assert compared == 8


def test_box_classes_argument_is_checked(tmp_path):
    root = str(tmp_path)
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=fabricate(root, np.random.default_rng(0)))
    for bad in ("car", []):
        with pytest.raises(ValueError, match="box_classes must be a non-empty list"):
            NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=bad)
