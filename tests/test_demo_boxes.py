"""Boxes of the generated demo objects: exact for a hand-built car, enclosing every object point of
the scans, in the box files, and read back by ``SemanticKITTIDataset(box_classes=...)``."""

import math

import numpy as np
import pytest

from pointcept.datasets import SemanticKITTIDataset
from pointcept.datasets.boxes import points_in_boxes
from tools.demo_data import Scene, SensorConfig, drive_sequence, generate_sequence, write_semantic_kitti
from tools.demo_data.boxes import boxes_to_sensor, object_boxes
from tools.demo_data.materials import BICYCLIST, CAR, PERSON, ROAD
from tools.demo_data.objects import add_bicycle, add_person, add_vehicle

CLASSES = ["car", "truck", "pedestrian", "cyclist"]
SMALL = dict(beams=32, azimuth_steps=512)


def _scene():
    return Scene(lambda x, y: np.full(len(x), ROAD, dtype=np.int64))


def test_car_box_is_exact():
    scene = _scene()
    rng = np.random.default_rng(4)
    add_vehicle(scene, rng, 3.0, -2.0, 0.7, CAR, "car", instance=5)
    rng = np.random.default_rng(4)
    rng.uniform(0.08, 0.6)  # paint remission, then the size draws of add_vehicle
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    names, boxes, ids = object_boxes(scene)
    assert names == ["car"] and ids.tolist() == [5]
    # body from the wheels' bottom (z = 0) to the cabin top (1.38 + 0.25), centred at (3, -2)
    np.testing.assert_allclose(boxes[0], [3.0, -2.0, 0.815, length, width, 1.63, 0.7, 0, 0], atol=1e-9)


def test_person_and_cyclist_boxes():
    scene = _scene()
    rng = np.random.default_rng(0)
    add_person(scene, rng, 1.0, 2.0, 0.0, PERSON, 1)
    add_bicycle(scene, 5.0, 0.0, 0.0, BICYCLIST, 2)
    add_person(scene, rng, 4.9, 0.0, 0.75, BICYCLIST, 2)
    add_bicycle(scene, 9.0, 0.0, 0.0, 99, 0)  # no instance: not an object
    names, boxes, _ = object_boxes(scene)
    assert names == ["pedestrian", "cyclist"]
    radius = scene.params[0][4]
    np.testing.assert_allclose(boxes[0, [0, 1, 3, 4, 6]], [1.0, 2.0, 2 * radius, 2 * radius, 0.0])
    assert boxes[0, 2] - boxes[0, 5] / 2 == pytest.approx(0.0)  # standing on the ground
    np.testing.assert_allclose(boxes[1, [0, 3]], [5.0, 1.7])  # wheels at +-0.52, 0.66 across


def test_boxes_to_sensor_frame_matches_points():
    box = np.array([[10.0, 5.0, 1.0, 4.0, 2.0, 1.5, 0.3, 1.0, 0.0]])
    out = boxes_to_sensor(box, (2.0, 1.0, 1.73), math.pi / 2)
    np.testing.assert_allclose(
        out[0], [4.0, -8.0, -0.73, 4.0, 2.0, 1.5, 0.3 - math.pi / 2, 0.0, -1.0], atol=1e-12
    )


def test_scan_boxes_enclose_their_object_points():
    sensor = SensorConfig(range_noise=0.0, outlier_rate=0.0, **SMALL)
    scans = drive_sequence(3, 2, sensor)
    # boxes come from the scene only: points and labels are those of generate_sequence
    for scan, (points, labels) in zip(scans, generate_sequence(3, 2, sensor)):
        assert np.array_equal(scan["points"], points) and np.array_equal(scan["labels"], labels)
    checked = 0
    for scan in scans:
        inst = (scan["labels"] >> 16).astype(np.int64)
        boxes = scan["boxes"].copy()
        boxes[:, 3:6] += 2e-4  # float32 rounding of the points
        inside = points_in_boxes(scan["points"][:, :3], boxes)
        assert len(set(scan["box_names"]) & {"car", "pedestrian", "cyclist"}) == 3
        for j, i in enumerate(scan["box_instances"]):
            mask = inst == i
            assert inside[mask, j].all(), f"instance {i} ({scan['box_names'][j]}) has points outside its box"
            checked += int(mask.sum())
        # every object point of a boxed class belongs to a box of the scan (objects whose centre is
        # beyond max_range have no box, but may show points within it)
        sem = scan["labels"] & 0xFFFF
        near = np.hypot(scan["points"][:, 0], scan["points"][:, 1]) < sensor.max_range - 6
        boxed = (inst > 0) & np.isin(sem, [CAR, PERSON, BICYCLIST]) & near
        assert np.isin(inst[boxed], scan["box_instances"]).all()
    assert checked > 1000


def test_reader_yields_boxes(tmp_path):
    stats = write_semantic_kitti(str(tmp_path), {"08": 1}, SensorConfig(**SMALL), seed=2)
    assert stats["boxes"] > 10
    ds = SemanticKITTIDataset(str(tmp_path), split="val", box_classes=CLASSES)
    data = ds[0]
    boxes, labels, counts = data["gt_boxes"], data["gt_labels"], data["gt_num_points"]
    assert boxes.dtype == np.float32 and boxes.shape == (stats["boxes"], 9)
    names = [line.split()[0] for line in open(ds.box_path(0)) if not line.startswith("#")]
    expected = [CLASSES.index(n) if n in CLASSES else -1 for n in names]
    assert labels.tolist() == expected and (labels == 0).sum() >= 5
    inst = data["instance"]
    ids = [int(line.split()[-1]) for line in open(ds.box_path(0)) if not line.startswith("#")]
    own = np.array([(inst == i).sum() for i in ids])
    # boxes are exact, so the range noise (2 cm) moves surface points out of them, never most
    assert (counts >= own // 2).all() and counts.max() > 50
    assert "gt_boxes" not in SemanticKITTIDataset(str(tmp_path), split="val")[0]


def test_reader_rejects_bad_box_file(tmp_path):
    write_semantic_kitti(str(tmp_path), {"08": 1}, SensorConfig(beams=8, azimuth_steps=128), seed=2)
    ds = SemanticKITTIDataset(str(tmp_path), split="val", box_classes=CLASSES)
    with open(ds.box_path(0), "a") as f:
        f.write("car 1 2 3 4 5\n")
    with pytest.raises(ValueError, match=r"000000\.txt:\d+: expected 11 columns"):
        ds[0]
    with open(ds.box_path(0), "w") as f:
        f.write("car 1 2 3 0 5 1 0 0 0 7\n")
    with pytest.raises(ValueError, match="non-positive sizes"):
        ds[0]
    with pytest.raises(ValueError, match="box_classes"):
        SemanticKITTIDataset(str(tmp_path), split="val", box_classes="car")
