import numpy as np
import pytest

from pointcept.datasets import WaymoDataset
from pointcept.datasets.label_maps import WAYMO_DETECTION_CLASSES
from pointcept.datasets.preprocessing.waymo import (
    LidarScan,
    convert_frame,
    convert_tfrecord,
    range_image_to_points,
    rotation_from_rpy,
    row_inclinations,
    save_frame,
)


def rotz(t):
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]])


def homog(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def range_image_from_points(points, extrinsic, row_incl, width):
    """Inverse model written independently: project vehicle-frame points into a (H, W) range image.

    Column j covers vehicle-frame azimuth ((W - j - 0.5) / W * 2 - 1) * pi (the lidar's yaw already
    removed), row i inclination row_incl[i] in the lidar frame.
    """
    local = (points - extrinsic[:3, 3]) @ extrinsic[:3, :3]  # into the lidar frame
    rng = np.linalg.norm(local, axis=1)
    incl = np.arcsin(local[:, 2] / rng)
    yaw = np.arctan2(extrinsic[1, 0], extrinsic[0, 0])
    az = np.arctan2(local[:, 1], local[:, 0])
    # Vehicle-frame azimuth of the ray = lidar azimuth + lidar yaw; invert the column formula.
    az_v = np.angle(np.exp(1j * (az + yaw)))
    col = np.rint(width - 0.5 - (az_v / np.pi + 1) / 2 * width).astype(int) % width
    row = np.abs(incl[:, None] - row_incl[None]).argmin(1)
    image = np.zeros((len(row_incl), width, 4), np.float32)
    image[row, col, 0] = rng
    return image, row, col


def test_row_inclinations_and_rotation():
    np.testing.assert_allclose(
        row_inclinations(np.array([-0.2, 0.0, 0.3]), 3, uniform=False), [0.3, 0.0, -0.2]
    )
    np.testing.assert_allclose(
        row_inclinations(np.array([-0.4, 0.4]), 4, uniform=True), [0.3, 0.1, -0.1, -0.3]
    )
    with pytest.raises(ValueError, match="3 beam inclinations for a range image of height 4"):
        row_inclinations(np.zeros(3), 4, uniform=False)
    # Rz(yaw) Ry(pitch) Rx(roll) with single-axis checks.
    np.testing.assert_allclose(rotation_from_rpy(0.0, 0.0, np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rotation_from_rpy(np.pi / 2, 0.0, 0.0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rotation_from_rpy(0.0, np.pi / 2, 0.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.0])
def test_range_image_points_roundtrip(yaw):
    # Points placed exactly on pixel rays come back where they were, whatever the lidar's mounting yaw.
    rng = np.random.default_rng(0)
    h, w = 5, 64
    incl = np.linspace(-0.3, 0.2, h)  # ascending, as in the calibration
    row_incl = row_inclinations(incl, h, uniform=False)
    E = homog(rotz(yaw), [1.2, -0.3, 2.0])
    rows, cols = rng.choice(h, 20), rng.choice(w, 20, replace=False)
    az_v = ((w - cols - 0.5) / w * 2 - 1) * np.pi
    dist = rng.uniform(3, 40, 20)
    local_dir = np.stack(
        [
            np.cos(az_v - yaw) * np.cos(row_incl[rows]),
            np.sin(az_v - yaw) * np.cos(row_incl[rows]),
            np.sin(row_incl[rows]),
        ],
        1,
    )
    points = (dist[:, None] * local_dir) @ E[:3, :3].T + E[:3, 3]
    image, r2, c2 = range_image_from_points(points, E, row_incl, w)
    np.testing.assert_array_equal((r2, c2), (rows, cols))
    xyz = range_image_to_points(image, E, row_incl)
    np.testing.assert_allclose(xyz[rows, cols], points, atol=1e-4)


def test_top_pixel_pose_compensation():
    h, w = 2, 8
    row_incl = row_inclinations(np.array([-0.1, 0.1]), h, uniform=False)
    image = np.zeros((h, w, 4), np.float32)
    image[..., 0] = 10.0
    E = homog(np.eye(3), [0, 0, 2.0])
    frame_pose = homog(rotz(0.5), [100.0, 50.0, 3.0])
    still = range_image_to_points(image, E, row_incl)
    # Every pixel captured 0.4 m further along the frame's x axis than the frame pose: the points
    # must move by exactly that in the frame's vehicle coordinates.
    moved = frame_pose @ homog(np.eye(3), [0.4, 0.0, 0.0])
    roll, pitch, yaw = 0.0, 0.0, 0.5
    top_pose = np.broadcast_to(np.array([roll, pitch, yaw, *moved[:3, 3]]), (h, w, 6))
    frame = convert_frame(
        [
            LidarScan(
                name=1, returns=[image, np.zeros_like(image)], extrinsic=E, inclinations=np.array([-0.1, 0.1])
            )
        ],
        frame_pose,
        top_pose,
    )
    np.testing.assert_allclose(frame["coord"], (still + [0.4, 0.0, 0.0]).reshape(-1, 3), atol=1e-4)


def _frame(rng):
    """TOP (labelled, explicit inclinations) and FRONT (unlabelled, uniform) lidars with 2 returns."""
    top_r = [rng.uniform(1, 50, (3, 16, 4)).astype(np.float32) for _ in range(2)]
    top_r[0][0, :5, 0] = 0.0  # invalid pixels (no return)
    top_r[1][:, 8:, 0] = -1.0
    labels = [
        np.stack([rng.integers(0, 9, (3, 16)), rng.integers(0, 23, (3, 16))], -1).astype(np.int32)
        for _ in range(2)
    ]
    front_r = [rng.uniform(1, 20, (2, 6, 4)).astype(np.float32) for _ in range(2)]
    front_r[1][1, :, 0] = 0.0
    top = LidarScan(1, top_r, homog(np.eye(3), [0, 0, 2.0]), np.array([-0.2, -0.05, 0.1]), labels)
    front = LidarScan(
        2, front_r, homog(rotz(0.1), [2.0, 0, 0.5]), np.array([-0.5, 0.5]), None, uniform_inclinations=True
    )
    return top, front


def test_convert_frame_order_labels_strength(tmp_path):
    rng = np.random.default_rng(1)
    top, front = _frame(rng)
    frame = convert_frame([front, top], np.eye(4))  # order of the input list does not matter
    parts = [(top, 0), (front, 0), (top, 1), (front, 1)]
    valid = [scan.returns[r][..., 0] > 0 for scan, r in parts]
    counts = [int(v.sum()) for v in valid]
    assert len(frame["coord"]) == sum(counts) == 48 - 5 + 12 + 24 + 6
    np.testing.assert_allclose(
        frame["strength"][:, 0],
        np.tanh(np.concatenate([s.returns[r][v][:, 1] for (s, r), v in zip(parts, valid)])),
        rtol=1e-6,
    )
    want_seg = np.concatenate(
        [
            top.labels[0][valid[0]][:, 1] - 1,
            np.full(counts[1], -1),
            top.labels[1][valid[2]][:, 1] - 1,
            np.full(counts[3], -1),
        ]
    )
    np.testing.assert_array_equal(frame["segment"], want_seg)
    assert frame["segment"].min() >= -1 and frame["segment"].max() <= 21
    # The FRONT lidar's first return sits where its own geometry says.
    front_xyz = range_image_to_points(
        front.returns[0], front.extrinsic, row_inclinations(front.inclinations, 2, True)
    )
    np.testing.assert_allclose(
        frame["coord"][counts[0] : counts[0] + counts[1]], front_xyz[valid[1]], atol=1e-4
    )
    both = convert_frame([top, front], np.eye(4), with_elongation=True)
    assert both["strength"].shape == (len(frame["coord"]), 2)
    unlabelled = convert_frame(
        [LidarScan(2, front.returns, front.extrinsic, front.inclinations, None, True)], np.eye(4)
    )
    assert "segment" not in unlabelled

    # Written frames load through the reader with the same arrays.
    save_frame(frame, str(tmp_path / "training" / "segment-123_with_camera_labels" / "1550000000000000"))
    ds = WaymoDataset(data_root=str(tmp_path), split="training")
    d = ds.get_data(0)
    assert d["name"] == "segment-123_with_camera_labels_1550000000000000"
    np.testing.assert_array_equal(d["segment"], want_seg)
    np.testing.assert_allclose(d["coord"], frame["coord"])
    masks = np.load(
        tmp_path / "training" / "segment-123_with_camera_labels" / "1550000000000000" / "mask.npz"
    )
    assert [masks[f"arr_{i}"].sum() for i in range(4)] == counts


def test_convert_tfrecord_without_waymo_package(tmp_path):
    try:
        import waymo_open_dataset  # noqa: F401

        pytest.skip("waymo-open-dataset is installed; this checks the message shown without it")
    except ImportError:
        pass
    with pytest.raises(ValueError, match="waymo-open-dataset"):
        convert_tfrecord(str(tmp_path / "x.tfrecord"), str(tmp_path), "training")


def test_laser_labels_to_boxes_and_reader(tmp_path):
    from pointcept.datasets.preprocessing.waymo_labels import LaserLabel, convert_laser_labels

    rng = np.random.default_rng(3)
    top, front = _frame(rng)
    labels = [
        LaserLabel(
            (10.0, -2.0, 1.0),
            4.5,
            2.0,
            1.6,
            0.3,
            (5.0, -1.0),
            type=1,
            id="veh",
            num_lidar_points=120,
            difficulty=1,
        ),
        LaserLabel(
            (3.0, 4.0, 0.9),
            0.8,
            0.6,
            1.8,
            3.5,
            (0.5, 0.2),
            type=2,
            id="ped",
            num_lidar_points=3,
            difficulty=2,
        ),
        LaserLabel((1.0, 1.0, 2.0), 0.1, 0.9, 0.9, 0.0, type=3, id="sign", num_lidar_points=7),  # dropped
        LaserLabel((-6.0, 2.0, 1.0), 1.8, 0.7, 1.7, -1.0, (2.0, 0.0), type=4, id="cyc", num_lidar_points=15),
        LaserLabel((0.0, 9.0, 1.0), 1.0, 1.0, 1.0, 0.0, type=0, id="unk", num_lidar_points=2),  # dropped
    ]
    arrays = convert_laser_labels(labels)
    np.testing.assert_allclose(
        arrays["gt_boxes"],
        [
            [10, -2, 1, 4.5, 2.0, 1.6, 0.3, 5, -1],
            [3, 4, 0.9, 0.8, 0.6, 1.8, 3.5 - 2 * np.pi, 0.5, 0.2],  # heading wrapped to [-pi, pi)
            [-6, 2, 1, 1.8, 0.7, 1.7, -1.0, 2, 0],
        ],
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_array_equal(arrays["gt_type"], [1, 2, 4])
    np.testing.assert_array_equal(arrays["gt_num_points"], [120, 3, 15])
    np.testing.assert_array_equal(arrays["gt_difficulty"], [1, 2, 0])
    assert arrays["gt_ids"].tolist() == ["veh", "ped", "cyc"]
    assert convert_laser_labels([])["gt_boxes"].shape == (0, 9)

    frame = convert_frame([top, front], np.eye(4), laser_labels=labels)
    folder = tmp_path / "training" / "segment-9_with_camera_labels" / "1550000000000000"
    save_frame(frame, str(folder))
    assert sorted(p.name for p in folder.glob("gt_*.npy")) == [
        "gt_boxes.npy", "gt_difficulty.npy", "gt_ids.npy", "gt_num_points.npy", "gt_type.npy"
    ]  # fmt: skip
    ds = WaymoDataset(data_root=str(tmp_path), split="training", box_classes=WAYMO_DETECTION_CLASSES)
    d = ds.get_data(0)
    np.testing.assert_allclose(d["gt_boxes"], arrays["gt_boxes"])
    np.testing.assert_array_equal(d["gt_labels"], [0, 1, 2])  # vehicle, pedestrian, cyclist
    np.testing.assert_array_equal(d["gt_num_points"], [120, 3, 15])
    only_peds = WaymoDataset(data_root=str(tmp_path), split="training", box_classes=["pedestrian"])
    np.testing.assert_array_equal(only_peds.get_data(0)["gt_labels"], [-1, 0, -1])
    assert "gt_boxes" not in WaymoDataset(data_root=str(tmp_path), split="training").get_data(0)

    # A frame without box files has no boxes; inconsistent box files name the file.
    unlabelled = tmp_path / "training" / "segment-9_with_camera_labels" / "1550000000100000"
    save_frame(convert_frame([top, front], np.eye(4)), str(unlabelled))
    ds = WaymoDataset(data_root=str(tmp_path), split="training", box_classes=WAYMO_DETECTION_CLASSES)
    assert ds.get_data(1)["gt_boxes"].shape == (0, 9)
    np.save(folder / "gt_type.npy", np.array([1, 2], np.int8))
    with pytest.raises(ValueError, match=r"gt_type\.npy: shape \(2,\), expected \(3,\)"):
        ds.get_data(0)
    bad = arrays["gt_boxes"].copy()
    bad[0, 4] = 0
    np.save(folder / "gt_boxes.npy", bad)
    with pytest.raises(ValueError, match=r"gt_boxes\.npy has non-positive sizes"):
        ds.get_data(0)
