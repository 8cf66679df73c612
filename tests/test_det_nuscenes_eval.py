"""nuScenes detection evaluation as the official server and devkit see it, on devkit-format tables
written by ``test_datasets_nuscenes_boxes.fabricate``: the submission in the global frame (a
round trip table -> LiDAR-frame index -> submission reproduces the tables), the attributes (GT ids
through the pipeline, the predicted-attribute rule, AAE and NDS over 10), and the class ranges from
the ego pose with the bicycle-rack filter (parity with the devkit's ``filter_eval_boxes``)."""

import json
import math
import os

import numpy as np
import pytest
import torch
from nuscenes_devkit import import_devkit
from test_datasets_nuscenes_boxes import ANNOTATIONS, CATEGORIES, VERSION, fabricate, quat_z

from pointcept.datasets import collate_fn
from pointcept.datasets.formats.nuscenes_lidar import pose_matrix
from pointcept.datasets.label_maps import NUSCENES_ATTRIBUTE_NAMES, NUSCENES_DETECTION_CLASSES
from pointcept.datasets.nuscenes import NuScenesDataset
from pointcept.datasets.preprocessing.nuscenes_boxes import annotation_velocity
from pointcept.datasets.preprocessing.nuscenes_info import build_nuscenes_infos, write_nuscenes_infos
from pointcept.datasets.transform import Compose
from pointcept.engines.det_eval import attach_eval_info, sample_eval_info
from pointcept.engines.det_metrics import (
    NUSCENES_CLASS_RANGE,
    DetectionEvalConfig,
    attribute_ids,
    evaluate_detections,
    filter_samples,
    sample_results,
)
from pointcept.engines.det_metrics.submission import attribute_from_velocity
from pointcept.engines.det_tester import DetTester
from pointcept.utils.config import Config

NAMES = list(NUSCENES_DETECTION_CLASSES)


def quat(axis, deg):
    t = math.radians(deg) / 2
    q = [math.cos(t), 0.0, 0.0, 0.0]
    q["xyz".index(axis) + 1] = math.sin(t)
    return q


def qmul(a, b):
    """Hamilton product a * b of [w, x, y, z] quaternions (rotation b, then a)."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return [
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ]


# A tilted sensor on a tilted car (a few degrees of roll and pitch each), far from the map origin.
TILTED_EGO = (qmul(quat_z(130), qmul(quat("x", 2.5), quat("y", -3.0))), [612.0, 1650.0, 0.0])
TILTED_CALIB = (qmul(quat_z(-90), qmul(quat("x", 1.5), quat("y", 4.0))), [0.94, 0.0, 1.84])

# Headings in all four quadrants, centres whose z changes between samples (a vertical velocity).
ROUND_TRIP = [
    ("c0", "c", "vehicle.car", "a0", [620.0, 1655.0, 1.0], [1.9, 4.6, 1.7], 20, 30, 0, []),
    ("c1", "c", "vehicle.car", "a1", [622.0, 1656.5, 1.4], [1.9, 4.6, 1.7], 110, 30, 0, []),
    ("c2", "c", "vehicle.car", "a2", [624.5, 1657.0, 1.1], [1.9, 4.6, 1.7], -160, 30, 0, []),
    ("t0", "t", "vehicle.truck", "a0", [600.0, 1640.0, 1.6], [2.5, 8.0, 3.1], -70, 9, 0, []),
    ("t1", "t", "vehicle.truck", "a1", [599.0, 1641.5, 1.7], [2.5, 8.0, 3.1], -75, 9, 0, []),
    ("p0", "p", "human.pedestrian.adult", "a1", [615.0, 1645.0, 0.9], [0.6, 0.7, 1.8], 179, 4, 0, []),
]


def read_table(root, name):
    with open(os.path.join(root, VERSION, f"{name}.json")) as f:
        return json.load(f)


def test_submission_round_trip_reproduces_the_global_tables(tmp_path):
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0), ROUND_TRIP, TILTED_EGO, TILTED_CALIB)
    infos = build_nuscenes_infos(root, VERSION, json.load(open(split_file)), max_sweeps=1)["train"]
    anns = {a["token"]: a for a in read_table(root, "sample_annotation")}
    times = {s["token"]: s["timestamp"] for s in read_table(root, "sample")}
    checked = moving = 0
    for info in infos:
        # The index carries the keyframe's poses as the tables give them.
        np.testing.assert_allclose(info["lidar_to_ego"], pose_matrix(*TILTED_CALIB), atol=1e-12)
        np.testing.assert_allclose(info["ego_to_global"], pose_matrix(*TILTED_EGO), atol=1e-12)
        l2g = np.array(info["ego_to_global"]) @ np.array(info["lidar_to_ego"])
        boxes = np.array(info["gt_boxes"])
        labels = [NAMES.index(n) for n in info["gt_names"]]
        scores = np.linspace(0.9, 0.5, len(boxes))  # decreasing: results keep the box order
        results = sample_results(info["sample_token"], boxes, scores, labels, NAMES, l2g)
        for r, token, valid in zip(results, info["gt_annotation_tokens"], info["gt_velocity_valid"]):
            ann = anns[token]
            assert r["sample_token"] == ann["sample_token"] == info["sample_token"]
            np.testing.assert_allclose(r["translation"], ann["translation"], atol=1e-6)
            np.testing.assert_allclose(r["size"], ann["size"], atol=1e-9)
            q, q_table = np.array(r["rotation"]), np.array(ann["rotation"])
            assert min(np.abs(q - q_table).max(), np.abs(q + q_table).max()) < 1e-6, (token, q, q_table)
            if valid:
                v = annotation_velocity(ann, anns, times)
                assert abs(v[2]) > 0.05 or token.startswith("t")  # the car climbs and drops
                np.testing.assert_allclose(r["velocity"], v[:2], atol=1e-6)
                moving += 1
            else:
                assert r["velocity"] == [0.0, 0.0]
            checked += 1
    assert checked == 6 and moving == 5


def test_dataset_eval_info_keys_results_by_sample_token(tmp_path):
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0), ROUND_TRIP, TILTED_EGO, TILTED_CALIB)
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=split_file)
    ds = NuScenesDataset(data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=NAMES)
    names = [ds.get_data_name(i) for i in range(len(ds))]
    assert names == ["lidar_a0", "lidar_a1", "lidar_a2"]
    info = ds.eval_info(1)
    assert info["sample_token"] == "a1" and info["bicycle_rack_boxes"].shape == (0, 9)
    np.testing.assert_allclose(info["lidar_to_ego"], pose_matrix(*TILTED_CALIB), atol=1e-12)
    infos = sample_eval_info(ds, names + ["elsewhere"])
    assert [i["sample_token"] for i in infos] == ["a0", "a1", "a2", "elsewhere"]
    l2e, e2g = pose_matrix(*TILTED_CALIB), pose_matrix(*TILTED_EGO)
    np.testing.assert_allclose(infos[0]["lidar_to_global"], e2g @ l2e, atol=1e-12)
    # range frame: LiDAR point -> its global offset from the ego position
    p = np.array([3.0, -7.0, 0.5])
    offset = (e2g @ l2e @ np.append(p, 1.0))[:3] - e2g[:3, 3]
    np.testing.assert_allclose(infos[0]["range_frame"][:3, :3] @ p + infos[0]["range_frame"][:3, 3], offset)
    assert infos[3]["lidar_to_global"] is None and infos[3]["range_frame"] is None
    # sample_results of the first sample's predictions, as DetTester writes them
    res = sample_results(
        "a0", ds.get_data(0)["gt_boxes"], [0.9, 0.8], [0, 1], NAMES, infos[0]["lidar_to_global"]
    )
    np.testing.assert_allclose(res[0]["translation"], ROUND_TRIP[0][4], atol=1e-4)  # float32 boxes


# ---------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    "name, static, moving",
    [
        ("car", "vehicle.parked", "vehicle.moving"),
        ("truck", "vehicle.parked", "vehicle.moving"),
        ("construction_vehicle", "vehicle.parked", "vehicle.moving"),
        ("trailer", "vehicle.parked", "vehicle.moving"),
        ("bus", "vehicle.stopped", "vehicle.moving"),
        ("bicycle", "cycle.without_rider", "cycle.with_rider"),
        ("motorcycle", "cycle.without_rider", "cycle.with_rider"),
        ("pedestrian", "pedestrian.standing", "pedestrian.moving"),
        ("barrier", "", ""),
        ("traffic_cone", "", ""),
    ],
)
def test_predicted_attribute_rule(name, static, moving):
    assert attribute_from_velocity(name, [0.0, 0.0]) == static
    assert attribute_from_velocity(name, [0.2, 0.0]) == static  # moving means faster than 0.2 m/s
    assert attribute_from_velocity(name, [0.15, -0.15]) == moving  # 0.212 m/s
    assert attribute_from_velocity(name, [-3.0, 4.0]) == moving


def test_gt_attributes_follow_the_boxes_through_the_pipeline(tmp_path):
    root = str(tmp_path)
    rows = ANNOTATIONS + [
        ("ped9", "ped9", "human.pedestrian.adult", "a0", [4.0, 10.0, 0.9], [0.6, 0.7, 1.8], 0, 5, 0,
         ["att_pedestrian.sitting_lying_down"]),
    ]  # fmt: skip
    write_nuscenes_infos(
        root, VERSION, max_sweeps=1, split_file=fabricate(root, np.random.default_rng(0), rows)
    )
    kw = dict(data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=NAMES, empty_boxes="keep")
    assert "gt_attrs" not in NuScenesDataset(**kw).get_data(0)
    ds = NuScenesDataset(**kw, box_attributes=True)
    a0 = ds.get_data(0)  # car (vehicle.moving), pedestrian (none), pedestrian (sitting)
    moving, sitting = (
        NUSCENES_ATTRIBUTE_NAMES.index(a) for a in ("vehicle.moving", "pedestrian.sitting_lying_down")
    )
    np.testing.assert_array_equal(a0["gt_attrs"], [moving, -1, sitting])
    # A clip that drops the car (LiDAR x = -5) keeps the other attributes aligned with their boxes.
    clip = Compose(
        [dict(type="PointClip", point_cloud_range=(-4, -20, -5, 20, 20, 5)), dict(type="ToTensor")]
    )
    out = clip(dict(a0))
    np.testing.assert_array_equal(out["gt_labels"], [NAMES.index("pedestrian")] * 2)
    np.testing.assert_array_equal(out["gt_attrs"], [-1, sitting])
    batch = collate_fn([out, Compose([dict(type="ToTensor")])(ds.get_data(1))])  # car, barrier, truck
    assert batch["gt_attrs"].tolist() == [-1, sitting, moving, -1, -1]
    assert batch["gt_offset"].tolist() == [2, 5]
    # an index naming an attribute the devkit does not have is refused
    info = ds.data_list[0]
    info["gt_attributes"] = ["vehicle.flying", "", ""]
    with pytest.raises(ValueError, match=r"lidar_a0: unknown attribute names \['vehicle.flying'\]"):
        ds.get_data(0)


def _box(x, y, yaw=0.0, size=(4.0, 2.0, 1.5), v=(0.0, 0.0)):
    return [x, y, 0.0, *size, yaw, *v]


def test_attribute_error_skips_classes_without_attributes_and_nds_divides_by_ten():
    car, barrier = NAMES.index("car"), NAMES.index("barrier")
    parked, moving = (
        NUSCENES_ATTRIBUTE_NAMES.index("vehicle.parked"),
        NUSCENES_ATTRIBUTE_NAMES.index("vehicle.moving"),
    )
    gt = [dict(boxes=np.array([_box(10, 0), _box(20, 0), _box(0, 10)]), labels=np.array([car, car, barrier]),
               attrs=np.array([parked, moving, -1]))]  # fmt: skip
    # Both cars found exactly, the first standing still, the second moving.
    boxes = np.array([_box(10, 0), _box(20, 0, v=(0.3, 0.0)), _box(0, 10)])
    labels = np.array([car, car, barrier])
    attrs = attribute_ids(NAMES, boxes, labels)
    np.testing.assert_array_equal(attrs, [parked, moving, -1])
    pred = [dict(boxes=boxes, labels=labels, scores=np.array([0.9, 0.8, 0.7]), attrs=attrs)]
    r = evaluate_detections(gt, pred, DetectionEvalConfig(NAMES))
    assert math.isnan(r["tp"]["barrier"]["attr_err"]) and math.isnan(r["tp"]["traffic_cone"]["attr_err"])
    assert r["tp"]["car"]["attr_err"] == 0.0
    # NaN-mean over the 8 classes with attributes: car 0, the 7 without GT 1 (barrier and cone skipped)
    assert r["tp_errors"]["attr_err"] == pytest.approx(7 / 8)
    wrong = [dict(pred[0], attrs=np.array([moving, parked, -1]))]
    assert evaluate_detections(gt, wrong, DetectionEvalConfig(NAMES))["tp"]["car"]["attr_err"] == 1.0
    m_ap = r["mAP"]
    assert m_ap == pytest.approx(0.2)  # car and barrier AP 1, the 8 other classes 0
    scores = r["tp_scores"]
    assert set(scores) == {"trans_err", "scale_err", "orient_err", "vel_err", "attr_err"}
    assert r["NDS"] == pytest.approx((5 * m_ap + sum(scores.values())) / 10)


# ---------------------------------------------------------------- range from the ego, bicycle racks


FILTER_CATEGORIES = CATEGORIES + ["vehicle.bicycle", "vehicle.motorcycle", "movable_object.trafficcone"]
# Ego at (5, 0, 0) heading +y, LiDAR 1 m ahead of it (global (5, 1, 2)); a rack at (20, 10) turned 30 deg.
FILTER_ROWS = [
    ("rk", "rk", "static_object.bicycle_rack", "a1", [20.0, 10.0, 0.5], [1.0, 3.0, 1.0], 30, 3, 0, []),
    # ranges: 50 m for cars, 40 m for bikes/pedestrians, 30 m for cones, measured from the ego
    ("cf", "cf", "vehicle.car", "a1", [5.0, 50.6, 1.0], [1.8, 4.5, 1.6], 0, 9, 0, []),  # LiDAR: 49.6 m
    ("cn", "cn", "vehicle.car", "a1", [5.0, -49.5, 1.0], [1.8, 4.5, 1.6], 0, 9, 0, []),  # LiDAR: 50.5 m
    ("ko", "ko", "movable_object.trafficcone", "a1", [-24.9, 0.0, 0.4], [0.4, 0.4, 0.8], 0, 9, 0, []),
    ("kf", "kf", "movable_object.trafficcone", "a1", [35.2, 0.0, 0.4], [0.4, 0.4, 0.8], 0, 9, 0, []),
    # in the rack (centre inside its rotated box): dropped; beside or above it, or a pedestrian: kept
    ("b1", "b1", "vehicle.bicycle", "a1", [20.6, 10.7, 0.6], [0.6, 1.7, 1.1], 80, 6, 0, []),
    ("m1", "m1", "vehicle.motorcycle", "a1", [19.5, 9.4, 0.4], [0.8, 2.0, 1.3], 30, 6, 0, []),
    ("b2", "b2", "vehicle.bicycle", "a1", [21.0, 9.0, 0.6], [0.6, 1.7, 1.1], 0, 6, 0, []),  # beside
    ("b3", "b3", "vehicle.bicycle", "a1", [20.0, 10.0, 1.6], [0.6, 1.7, 1.1], 0, 6, 0, []),  # above
    ("pr", "pr", "human.pedestrian.adult", "a1", [20.1, 10.1, 0.9], [0.6, 0.7, 1.8], 0, 6, 0, []),
    ("b4", "b4", "vehicle.bicycle", "a0", [20.6, 10.7, 0.6], [0.6, 1.7, 1.1], 80, 0, 2, []),  # a0: no rack
    ("b5", "b5", "vehicle.bicycle", "a0", [5.0, 30.0, 0.6], [0.6, 1.7, 1.1], 80, 0, 0, []),  # 0 points
]


def devkit_loaders():
    """The devkit's ``loaders``, ``DetectionBox`` and ``EvalBoxes``, or a visible skip."""
    loaders, data, common = import_devkit(
        "nuscenes.eval.common.loaders",
        "nuscenes.eval.detection.data_classes",
        "nuscenes.eval.common.data_classes",
    )
    return loaders, data.DetectionBox, common.EvalBoxes


class TableLookup:
    """``nusc.get(table, token)`` over the written tables, with the fields ``NuScenes`` adds on load
    that the devkit's filters read (``sample['data']``, ``sample['anns']``, ``category_name``)."""

    def __init__(self, root):
        names = ("sample", "sample_data", "ego_pose", "sample_annotation", "instance", "category")
        self.tables = {n: {r["token"]: r for r in read_table(root, n)} for n in names}
        for s in self.tables["sample"].values():
            s["data"], s["anns"] = {}, []
        for sd in self.tables["sample_data"].values():
            self.tables["sample"][sd["sample_token"]]["data"]["LIDAR_TOP"] = sd["token"]
        for a in self.tables["sample_annotation"].values():
            inst = self.tables["instance"][a["instance_token"]]
            a["category_name"] = self.tables["category"][inst["category_token"]]["name"]
            self.tables["sample"][a["sample_token"]]["anns"].append(a["token"])

    def get(self, table, token):
        return self.tables[table][token]


def test_range_from_ego_and_bicycle_racks_match_the_devkit(tmp_path):
    loaders, DetectionBox, EvalBoxes = devkit_loaders()
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0), FILTER_ROWS, categories=FILTER_CATEGORIES)
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=split_file)
    ds = NuScenesDataset(
        data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=NAMES, empty_boxes="keep"
    )
    names = [ds.get_data_name(i) for i in range(len(ds))]
    infos = sample_eval_info(ds, names)
    gts, preds = [], []
    for info in ds.data_list:
        boxes = np.array(info["gt_boxes"]).reshape(-1, 9)
        labels = np.array([NAMES.index(n) for n in info["gt_names"]], dtype=np.int64)
        points = np.array(info["gt_num_lidar_pts"]) + np.array(
            info["gt_num_radar_pts"]
        )  # the devkit's num_pts
        gts.append(dict(boxes=boxes, labels=labels, num_points=points, idx=np.arange(len(boxes))))
        scores = np.linspace(0.9, 0.1, len(boxes))
        preds.append(dict(boxes=boxes.copy(), labels=labels, scores=scores, idx=np.arange(len(boxes))))
    attach_eval_info(gts, infos)
    cfg = DetectionEvalConfig(NAMES, class_range=NUSCENES_CLASS_RANGE)
    kept_g, kept_p = filter_samples(gts, preds, cfg)
    ours_gt = {
        (infos[i]["sample_token"], ds.data_list[i]["gt_annotation_tokens"][j])
        for i, g in enumerate(kept_g)
        for j in g["idx"]
    }
    ours_pred = {
        (infos[i]["sample_token"], ds.data_list[i]["gt_annotation_tokens"][j])
        for i, p in enumerate(kept_p)
        for j in p["idx"]
    }

    # The devkit: GT boxes from the tables, predictions = our submission of the same boxes.
    nusc = TableLookup(root)
    gt_boxes, pred_boxes, token_of = EvalBoxes(), EvalBoxes(), {}
    for i, info in enumerate(ds.data_list):
        sample = info["sample_token"]
        g, p = [], []
        for token, name in zip(info["gt_annotation_tokens"], info["gt_names"]):
            ann = nusc.get("sample_annotation", token)
            g.append(DetectionBox(sample_token=sample, translation=ann["translation"], size=ann["size"],
                                  rotation=ann["rotation"], num_pts=ann["num_lidar_pts"] + ann["num_radar_pts"],
                                  detection_name=name))  # fmt: skip
            token_of[(sample, "gt", tuple(np.round(ann["translation"], 4)))] = token
        for r, token in zip(
            sample_results(
                sample,
                preds[i]["boxes"],
                preds[i]["scores"],
                preds[i]["labels"],
                NAMES,
                infos[i]["lidar_to_global"],
            ),
            info["gt_annotation_tokens"],
        ):
            r["attribute_name"] = ""
            p.append(DetectionBox(**r))
            token_of[(sample, "pred", tuple(np.round(r["translation"], 4)))] = token
        gt_boxes.add_boxes(sample, g)
        pred_boxes.add_boxes(sample, p)
    kept = {}
    for kind, boxes in (("gt", gt_boxes), ("pred", pred_boxes)):
        boxes = loaders.filter_eval_boxes(nusc, loaders.add_center_dist(nusc, boxes), NUSCENES_CLASS_RANGE)
        kept[kind] = {
            (s, token_of[(s, kind, tuple(np.round(b.translation, 4)))])
            for s in boxes.sample_tokens
            for b in boxes[s]
        }
    assert ours_gt == kept["gt"]
    assert ours_pred == kept["pred"]
    # What the filter did here: ranges from the ego (not the LiDAR), bikes in the rack, empty GT.
    assert ("a1", "cf") not in ours_gt and ("a1", "cn") in ours_gt and ("a1", "kf") not in ours_pred
    assert ("a1", "ko") in ours_gt
    dropped_bikes = {("a1", "b1"), ("a1", "m1")}
    assert not dropped_bikes & (ours_gt | ours_pred)
    assert {("a1", t) for t in ("b2", "b3", "pr")} <= ours_gt & ours_pred
    assert ("a0", "b4") in ours_gt and ("a0", "b5") not in ours_gt and ("a0", "b5") in ours_pred


def test_radar_only_gt_stays_when_the_reader_applied_the_devkit_rule(tmp_path):
    root = str(tmp_path)
    split_file = fabricate(root, np.random.default_rng(0), FILTER_ROWS, categories=FILTER_CATEGORIES)
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=split_file)
    kw = dict(data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=NAMES)
    cfg = DetectionEvalConfig(NAMES)
    for mode, kept in (("devkit", ["b4"]), ("keep", [])):
        ds = NuScenesDataset(**kw, empty_boxes=mode)
        a0 = ds.get_data(0)  # b4: 0 LiDAR and 2 radar points; b5: none (dropped by "devkit")
        n = len(a0["gt_boxes"])
        # as the pipeline gives them: LiDAR points recounted in the clipped, voxelised scan (none here)
        gts = [
            dict(
                boxes=a0["gt_boxes"],
                labels=a0["gt_labels"],
                num_points=np.zeros(n, np.int64),
                idx=np.arange(n),
            )
        ]
        attach_eval_info(gts, sample_eval_info(ds, [ds.get_data_name(0)]))
        filtered, _ = filter_samples(gts, [dict(boxes=np.zeros((0, 9)), labels=np.zeros(0, np.int64))], cfg)
        tokens = ds.data_list[0]["gt_annotation_tokens"]
        assert [tokens[i] for i in filtered[0]["idx"]] == kept, mode


class EchoDetector(torch.nn.Module):
    """Predicts the batch's GT boxes (score 0.9): an exact detector."""

    def forward(self, batch):
        keep = batch["gt_labels"] >= 0
        counts = torch.stack([keep[: int(e)].sum() for e in batch["gt_offset"]])
        return dict(
            pred_boxes=batch["gt_boxes"][keep],
            pred_scores=torch.full((int(keep.sum()),), 0.9),
            pred_labels=batch["gt_labels"][keep],
            pred_offset=counts,
        )


def test_det_tester_writes_a_server_submission_and_scores_attributes(tmp_path):
    root, out = str(tmp_path / "nusc"), str(tmp_path / "out")
    os.makedirs(root)
    write_nuscenes_infos(root, VERSION, max_sweeps=1, split_file=fabricate(root, np.random.default_rng(0)))
    keys = ("coord", "gt_boxes", "gt_labels", "gt_num_points", "gt_attrs")
    test = dict(type="NuScenesDataset", data_root=root, split="train", sweeps=1, info_sweeps=1, box_classes=NAMES,
                empty_boxes="devkit", box_attributes=True,
                transform=[dict(type="ToTensor"), dict(type="Collect", keys=keys, feat_keys=("coord",))])  # fmt: skip
    cfg = Config(save_path=out, seed=0, data=Config(names=NAMES, test=Config(test)))
    metrics = DetTester(cfg, model=EchoDetector()).test()
    # a0: car, pedestrian; a1: car, truck seen by radar only (kept, as by the devkit); a2: car
    assert (
        metrics["num_gt"]["car"] == 3
        and metrics["num_gt"]["truck"] == 1
        and metrics["num_gt"]["pedestrian"] == 1
    )
    assert set(metrics["tp_errors"]) == {"trans_err", "scale_err", "orient_err", "vel_err", "attr_err"}
    assert metrics["tp"]["car"]["attr_err"] == 0.0  # 4 m/s: vehicle.moving, as annotated
    assert metrics["NDS"] == pytest.approx((5 * metrics["mAP"] + sum(metrics["tp_scores"].values())) / 10)
    sub = json.load(open(os.path.join(out, "result", "submission.json")))
    assert sub["meta"]["use_lidar"] is True and set(sub["results"]) == {"a0", "a1", "a2"}
    car0 = next(r for r in sub["results"]["a0"] if r["detection_name"] == "car")
    np.testing.assert_allclose(car0["translation"], ANNOTATIONS[0][4], atol=1e-4)
    np.testing.assert_allclose(car0["rotation"], quat_z(30), atol=1e-6)
    np.testing.assert_allclose(car0["velocity"], [4.0, 0.0], atol=1e-5)
    assert car0["attribute_name"] == "vehicle.moving" and car0["sample_token"] == "a0"
