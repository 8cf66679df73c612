"""Box heading conventions end to end (issue 9, car AOE): the demo generator's vehicle boxes point
to the vehicle's front, the box transforms keep a heading on the points it belongs to, the
sin/cos target decodes to the same yaw in every quadrant, and the metric compares headings
over 2 pi. Together they rule out a convention bug behind the demo detector's flipped headings."""

import math

import numpy as np
import pytest
import torch

from pointcept.datasets.boxes import flip_boxes, limit_yaw, points_to_box_frame
from pointcept.datasets.transform import RandomFlip, RandomRotate
from pointcept.engines.det_metrics import accumulate, calc_tp
from pointcept.models.detection.bev import BEVGrid
from pointcept.models.detection.targets import decode_regression, encode_targets
from tools.demo_data import Scene
from tools.demo_data.boxes import boxes_to_sensor, object_boxes
from tools.demo_data.materials import CAR, ROAD, TRUCK
from tools.demo_data.objects import add_vehicle

# Every quadrant, both sides of +-pi/2 and of the +-pi seam, and the seam itself.
YAWS = [
    0.0,
    0.3,
    math.pi / 2 - 1e-3,
    math.pi / 2,
    2.0,
    math.pi - 1e-3,
    -math.pi,
    -math.pi + 1e-3,
    -2.5,
    -math.pi / 2,
    -0.4,
]


def test_sin_cos_target_decodes_to_the_same_yaw_in_every_quadrant():
    grid = BEVGrid((-20.0, -20.0, -3.0, 20.0, 20.0, 3.0), 0.5)
    n = len(YAWS)
    boxes = torch.tensor(
        [
            [-15.0 + 3 * i, 2.0 * (i % 3) - 2.0, 0.1, 4.2, 1.8, 1.5, yaw, 1.0, -0.5]
            for i, yaw in enumerate(YAWS)
        ],
        dtype=torch.float64,
    )
    target = encode_targets(boxes, torch.zeros(n, dtype=torch.long), torch.tensor([n]), grid, 1)
    assert target["box_index"].tolist() == list(range(n))
    cell = target["cell"]
    decoded = decode_regression(target["reg"].double(), cell % grid.nx, cell // grid.nx, grid)
    yaw = decoded[:, 6].numpy()
    assert ((yaw >= -math.pi) & (yaw < math.pi)).all()
    np.testing.assert_allclose(np.cos(yaw - np.array(YAWS)), 1.0, atol=1e-9)
    np.testing.assert_allclose(decoded[:, :6], boxes[:, :6], atol=1e-5)


def _car_with_nose(yaw, centre=(6.0, -3.0, 0.8)):
    """A 4 x 2 x 1.5 box and points filling it, plus a nose cluster at its front face."""
    rng = np.random.default_rng(0)
    local = rng.uniform(-0.5, 0.5, (200, 3)) * [4.0, 2.0, 1.5]
    nose = np.column_stack([np.full(30, 1.9), rng.uniform(-0.3, 0.3, 30), rng.uniform(-0.2, 0.2, 30)])
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    pts = np.concatenate([local, nose]) @ rot.T + centre
    box = np.array([[*centre, 4.0, 2.0, 1.5, yaw, 2.0 * c, 2.0 * s]], dtype=np.float32)
    return pts.astype(np.float32), box


@pytest.mark.parametrize("yaw", YAWS)
@pytest.mark.parametrize("flips", [(), (0,), (1,), (0, 1)])
def test_flips_and_rotations_keep_the_heading_on_the_nose(yaw, flips):
    pts, box = _car_with_nose(yaw)
    data = dict(coord=pts, gt_boxes=box, gt_labels=np.zeros(1, np.int64), gt_num_points=np.array([230]))
    np.random.seed(1)
    data = RandomRotate(angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0)(data)
    if flips == (0, 1):
        data = RandomFlip(p=1.0)(data)  # both axes
    for axis in flips if flips != (0, 1) else ():  # one axis, as RandomFlip does it
        data["coord"][:, axis] *= -1
        data["gt_boxes"] = flip_boxes(data["gt_boxes"], axis)
    b = data["gt_boxes"][0]
    local = points_to_box_frame(data["coord"], b)
    assert (np.abs(local) <= np.array([2.0, 1.0, 0.75]) + 1e-4).all()  # the box still holds its points
    nose = local[200:]
    assert nose[:, 0].min() > 1.85 and np.abs(nose[:, 1]).max() < 0.31  # the heading points at the nose
    # the velocity stays along the heading
    np.testing.assert_allclose(b[7:9], 2.0 * np.array([math.cos(b[6]), math.sin(b[6])]), atol=1e-5)


@pytest.mark.parametrize("yaw", YAWS)
@pytest.mark.parametrize("kind, label", [("car", CAR), ("truck", TRUCK)])
def test_demo_vehicle_boxes_point_to_the_front(yaw, kind, label):
    """A car's cabin sits 0.2 m behind its body's centre, a truck's cab ahead of its cargo box: seen
    from the box (in the world and from sensors at other headings) they lie where the heading says."""
    scene = Scene(lambda x, y: np.full(len(x), ROAD, dtype=np.int64))
    add_vehicle(scene, np.random.default_rng(3), 10.0, 4.0, yaw, label, kind, instance=1)
    names, boxes, _ = object_boxes(scene)
    assert names == [kind] and boxes[0, 6] == pytest.approx(float(limit_yaw(np.array(yaw))), abs=1e-12)
    first, second = scene.params[0][0], scene.params[1][0]  # body and cabin, or cab and cargo box
    for position, sensor_yaw in (((0.0, 0.0, 1.7), 0.0), ((25.0, -6.0, 1.7), 2.4), ((-3.0, 9.0, 1.7), -1.9)):
        b = boxes_to_sensor(boxes, position, sensor_yaw)[0]
        c, s = math.cos(sensor_yaw), math.sin(sensor_yaw)
        d = np.array([first, second]) - np.asarray(position)
        in_sensor = np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]])
        u_first, u_second = points_to_box_frame(in_sensor, b)[:, 0]
        if kind == "car":
            assert u_first == pytest.approx(0.0, abs=1e-9) and u_second == pytest.approx(-0.2, abs=1e-9)
        else:
            assert u_first > 2.0 and u_second < -1.0


def test_metric_counts_a_flipped_car_as_pi_and_a_barrier_as_aligned():
    def sample(yaw, label):
        return dict(boxes=np.array([[0, 0, 0, 4, 2, 1.5, yaw, 0, 0]]), labels=np.array([label]))

    for gt_yaw in (0.1, 3.0, -2.0):
        gt = [sample(gt_yaw, 0)]
        pred = [dict(sample(limit_yaw(np.array(gt_yaw + math.pi)), 0), scores=np.array([0.9]))]
        assert calc_tp(accumulate(gt, pred, 0, 2.0), "orient_err") == pytest.approx(math.pi)
        assert calc_tp(accumulate(gt, pred, 0, 2.0, math.pi), "orient_err") == pytest.approx(0.0, abs=1e-9)
