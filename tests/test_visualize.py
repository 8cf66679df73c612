import importlib.util
import json
import math
import os

import numpy as np
import pytest

from pointcept.datasets.label_maps import SEMANTIC_KITTI_PALETTE
from pointcept.utils.visualization import (
    CORRECT_COLOR,
    IGNORE_COLOR,
    WRONG_COLOR,
    distinct_palette,
    draw_bev_boxes,
    error_colors,
    label_colors,
    rasterize_bev,
    read_ply_header,
    scalar_colors,
    write_ply,
)
from tools.demo_data import SensorConfig, write_semantic_kitti

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_tool():
    spec = importlib.util.spec_from_file_location("visualize", os.path.join(ROOT, "tools", "visualize.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_colors():
    assert SEMANTIC_KITTI_PALETTE.shape == (19, 3)
    colors = label_colors(np.array([8, -1, 19, 0]), SEMANTIC_KITTI_PALETTE)
    assert colors.tolist() == [[255, 0, 255], list(IGNORE_COLOR), list(IGNORE_COLOR), [100, 150, 245]]
    err = error_colors(np.array([1, 2, 3]), np.array([1, 5, -1]))
    assert err.tolist() == [list(CORRECT_COLOR), list(WRONG_COLOR), list(IGNORE_COLOR)]
    with pytest.raises(ValueError, match="pred has 2 points"):
        error_colors(np.zeros(2), np.zeros(3))
    pal = distinct_palette(64)
    assert len(np.unique(pal, axis=0)) == 64
    ramp = scalar_colors(np.array([0.0, 0.5, 1.0, np.nan]))
    assert ramp[0].tolist() == [68, 1, 84] and ramp[2].tolist() == [253, 231, 37]
    assert ramp[3].tolist() == list(IGNORE_COLOR)


def test_rasterize_bev_places_points_and_keeps_highest():
    coord = np.array([[5.0, 0.0, 0.0], [5.0, 0.0, 2.0], [-9.95, 9.95, 0.0]])
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    image = rasterize_bev(coord, colors, extent=10.0, resolution=0.1, point_size=1, background=(0, 0, 0))
    assert image.shape == (200, 200, 3)
    # +x is up: x = 5 m -> row (10 - 5) / 0.1 = 50; y = 0 -> column 100; the higher point wins
    assert image[50, 100].tolist() == [0, 255, 0]
    # x = -9.95 (bottom), y = +9.95 (left)
    assert image[199, 0].tolist() == [0, 0, 255]
    assert (image.reshape(-1, 3).sum(1) > 0).sum() == 2


@pytest.mark.parametrize("binary", [True, False])
def test_write_ply_roundtrip(tmp_path, binary):
    rng = np.random.default_rng(0)
    coord = rng.normal(size=(50, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    labels = rng.integers(-1, 19, 50)
    path = str(tmp_path / "a.ply")
    write_ply(path, coord, colors, {"label": labels, "remission": rng.random(50)}, binary=binary)
    info = read_ply_header(path)
    assert info["vertex_count"] == 50
    assert info["format"] == ("binary_little_endian" if binary else "ascii")
    assert [n for _, n in info["properties"]] == ["x", "y", "z", "red", "green", "blue", "label", "remission"]
    with open(path, "rb") as f:
        f.seek(info["header_bytes"])
        payload = f.read()
    if binary:
        dtype = [("xyz", "<f4", 3), ("rgb", "u1", 3), ("label", "<i4"), ("remission", "<f4")]
        rec = np.frombuffer(payload, dtype=dtype)
        np.testing.assert_array_equal(rec["xyz"], coord)
        np.testing.assert_array_equal(rec["rgb"], colors)
        np.testing.assert_array_equal(rec["label"], labels)
    else:
        table = np.loadtxt(payload.decode().splitlines())
        np.testing.assert_allclose(table[:, :3], coord, atol=1e-5)
        np.testing.assert_array_equal(table[:, 6], labels)
    with pytest.raises(ValueError, match="scalar 'bad'"):
        write_ply(path, coord, scalars={"bad": np.zeros(3)})


def test_visualize_cli_on_demo_scan(tmp_path):
    write_semantic_kitti(str(tmp_path / "demo"), {"00": 1}, SensorConfig(beams=32, azimuth_steps=512), seed=1)
    seq = tmp_path / "demo/dataset/sequences/00"
    label = np.fromfile(seq / "labels/000000.label", dtype=np.uint32)
    pred = label.copy()
    pred[::7] = 50  # building everywhere on every 7th point
    pred.tofile(tmp_path / "pred.label")
    out, ply = str(tmp_path / "scan.png"), str(tmp_path / "scan.ply")
    tool = _load_tool()
    tool.main(["--scan", str(seq / "velodyne/000000.bin"), "--label", str(seq / "labels/000000.label"),
               "--pred", str(tmp_path / "pred.label"), "--out", out, "--ply", ply])  # fmt: skip
    with open(out, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert os.path.getsize(out) > 20000
    info = read_ply_header(ply)
    assert info["vertex_count"] == len(label)
    assert ("int", "label") in info["properties"] and ("int", "pred") in info["properties"]
    row = 3 * 4 + 3 + 4 + 4 + 4  # xyz, rgb, remission, label, pred
    assert os.path.getsize(ply) == info["header_bytes"] + row * len(label)
    # unlabelled scan: coloured by remission, still a PNG
    tool.main(["--scan", str(seq / "velodyne/000000.bin"), "--out", str(tmp_path / "plain.png")])
    with open(tmp_path / "plain.png", "rb") as f:
        assert f.read(8) == PNG_MAGIC


def test_draw_bev_boxes_outline_and_heading():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    # 4 m x 2 m box at (2, 1) heading +y (yaw pi/2), 0.1 m pixels over [-5, 5]
    draw_bev_boxes(
        image, np.array([[2.0, 1.0, 0.0, 4.0, 2.0, 1.0, math.pi / 2, 0, 0]]), (9, 8, 7), extent=5.0
    )
    hit = np.argwhere((image == (9, 8, 7)).all(-1))
    # rows: x from 1 to 3 -> rows 20..40; cols: y from -1 to 3 -> cols 20..60 (+x up, +y left)
    assert hit[:, 0].min() == 20 and hit[:, 0].max() == 40 and hit[:, 1].min() == 20 and hit[:, 1].max() == 60
    assert (image[30, 20:41] == (9, 8, 7)).all()  # heading tick from the centre to the front (+y, left)
    assert not image[30, 41:60].any() and not image[25, 25].any()  # interior behind the centre stays empty
    with pytest.raises(ValueError, match="boxes must be"):
        draw_bev_boxes(image, np.zeros((2, 3)), (1, 1, 1))


def test_visualize_cli_draws_boxes(tmp_path):
    write_semantic_kitti(str(tmp_path / "demo"), {"00": 1}, SensorConfig(beams=16, azimuth_steps=256), seed=1)
    seq = tmp_path / "demo/dataset/sequences/00"
    gt_line = next(line for line in open(seq / "boxes/000000.txt") if line.startswith("car"))
    x, y, z, length, width, height, yaw = (float(v) for v in gt_line.split()[1:8])
    pred = dict(
        sample_token="00_000000",
        translation=[x, y, z],
        size=[width, length, height],
        rotation=[math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)],
        velocity=[0.0, 0.0],
        detection_name="car",
        detection_score=0.9,
        attribute_name="",
    )
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps(dict(meta={}, results={"00_000000": [pred, dict(pred, detection_score=0.1)]})))
    tool = _load_tool()
    assert tool.read_pred_boxes(str(sub), "00_000000", 0.3) == pytest.approx(
        np.array([[x, y, z, length, width, height, yaw, 0.0, 0.0]])
    )
    out = str(tmp_path / "boxes.png")
    tool.main(["--scan", str(seq / "velodyne/000000.bin"), "--boxes", str(seq / "boxes/000000.txt"),
               "--pred-boxes", str(sub), "--out", out])  # fmt: skip
    with open(out, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    with pytest.raises(ValueError, match="no sample '00_000001'"):
        tool.read_pred_boxes(str(sub), "00_000001", 0.3)
