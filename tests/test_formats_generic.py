"""read_point_file: column rules, colour scaling, georeferenced shift and errors of every format."""

import sys

import numpy as np
import pytest

from pointcept.datasets.formats.generic import (
    MissingPackageError,
    PointFileError,
    find_point_files,
    parse_columns,
    read_point_file,
)


def _cloud(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-10, 10, (n, 3)).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


def test_bin_default_kitti_and_nuscenes_and_columns(tmp_path):
    xyz, s = _cloud()
    np.c_[xyz, s].astype(np.float32).tofile(tmp_path / "a.bin")
    d = read_point_file(tmp_path / "a.bin")
    np.testing.assert_array_equal(d["coord"], xyz)
    np.testing.assert_array_equal(d["strength"][:, 0], s)
    assert set(d) == {"coord", "origin", "strength"}
    ring = np.arange(len(xyz), dtype=np.float32)
    np.c_[xyz, s, ring].astype(np.float32).tofile(tmp_path / "b.pcd.bin")
    np.testing.assert_array_equal(read_point_file(tmp_path / "b.pcd.bin")["strength"][:, 0], s)
    d = read_point_file(tmp_path / "b.pcd.bin", columns="x,y,z,_,strength")
    np.testing.assert_array_equal(d["strength"][:, 0], ring)
    np.c_[xyz[:7], s[:7], ring[:7]].astype(np.float32).tofile(tmp_path / "c.bin")  # 7 * 20 bytes
    with pytest.raises(PointFileError, match=r"c\.bin: 140 bytes is not a multiple of 16.*--columns"):
        read_point_file(tmp_path / "c.bin")


def test_npy_width_rules_and_color_scaling(tmp_path):
    xyz, s = _cloud()
    rgb = np.random.default_rng(1).integers(0, 256, (len(xyz), 3)).astype(np.float32)
    np.save(tmp_path / "w3.npy", xyz)
    assert set(read_point_file(tmp_path / "w3.npy")) == {"coord", "origin"}
    np.save(tmp_path / "w6.npy", np.c_[xyz, rgb])
    np.testing.assert_allclose(read_point_file(tmp_path / "w6.npy")["color"], rgb / 255, rtol=1e-6)
    np.save(tmp_path / "w7.npy", np.c_[xyz, s, rgb / 255])  # colours already in [0, 1] are kept
    d = read_point_file(tmp_path / "w7.npy")
    np.testing.assert_array_equal(d["strength"][:, 0], s)
    np.testing.assert_allclose(d["color"], rgb / 255, rtol=1e-6)
    np.save(tmp_path / "w8.npy", np.c_[xyz, s, rgb, s])
    with pytest.raises(PointFileError, match=r"w8\.npy: 8 columns has no default meaning.*--columns"):
        read_point_file(tmp_path / "w8.npy")
    d = read_point_file(tmp_path / "w8.npy", columns="x,y,z,_,r,g,b,intensity")
    np.testing.assert_array_equal(d["strength"][:, 0], s)
    with pytest.raises(PointFileError, match="columns but the column spec has 4"):
        read_point_file(tmp_path / "w8.npy", columns="x,y,z,strength")


def test_parse_columns_refuses_bad_specs():
    assert parse_columns("X, Y, Z, Intensity") == ["x", "y", "z", "intensity"]
    with pytest.raises(PointFileError, match=r"unknown column name\(s\) \['w'\]"):
        parse_columns("x,y,z,w")
    with pytest.raises(PointFileError, match="x, y and z are required"):
        parse_columns("x,y,strength")
    with pytest.raises(PointFileError, match="named twice"):
        parse_columns("x,y,z,strength,intensity")
    with pytest.raises(PointFileError, match="'color' needs all 3 channels"):
        parse_columns("x,y,z,r,g")


def test_ply_fields(tmp_path):
    plyfile = pytest.importorskip("plyfile")
    xyz, s = _cloud()
    rgb = np.random.default_rng(2).integers(0, 256, (len(xyz), 3)).astype(np.uint8)
    names = ("x", "y", "z", "scalar_intensity", "red", "green", "blue", "nx", "ny", "nz")
    v = np.empty(len(xyz), dtype=[(n, "u1" if n in ("red", "green", "blue") else "f4") for n in names])
    v["x"], v["y"], v["z"] = xyz.T
    v["scalar_intensity"] = s
    v["red"], v["green"], v["blue"] = rgb.T
    v["nx"], v["ny"], v["nz"] = 0.0, 0.0, 1.0
    for text in (True, False):
        plyfile.PlyData([plyfile.PlyElement.describe(v, "vertex")], text=text).write(str(tmp_path / "a.ply"))
        d = read_point_file(tmp_path / "a.ply")
        np.testing.assert_allclose(d["coord"], xyz, rtol=1e-6)
        np.testing.assert_allclose(d["strength"][:, 0], s, rtol=1e-6)
        np.testing.assert_allclose(d["color"], rgb / 255, rtol=1e-6)
        np.testing.assert_array_equal(d["normal"], np.tile([0, 0, 1], (len(xyz), 1)))
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat nonsense\n")
    with pytest.raises(PointFileError, match=r"bad\.ply: cannot read PLY"):
        read_point_file(tmp_path / "bad.ply")


def test_pcd_intensity_and_packed_rgb(tmp_path):
    pypcd4 = pytest.importorskip("pypcd4")
    xyz, s = _cloud()
    rgb = np.random.default_rng(3).integers(0, 256, (len(xyz), 3)).astype(np.uint8)
    packed = pypcd4.PointCloud.encode_rgb(rgb)
    pc = pypcd4.PointCloud.from_points(
        [xyz[:, 0], xyz[:, 1], xyz[:, 2], s, packed], ("x", "y", "z", "intensity", "rgb"), [np.float32] * 5
    )
    pc.save(tmp_path / "a.pcd")
    d = read_point_file(tmp_path / "a.pcd")
    np.testing.assert_array_equal(d["coord"], xyz)
    np.testing.assert_array_equal(d["strength"][:, 0], s)
    np.testing.assert_allclose(d["color"], rgb / 255, rtol=1e-6)


@pytest.mark.parametrize("ext", [".las", ".laz"])
def test_las_laz_georeferenced_shift(tmp_path, ext):
    laspy = pytest.importorskip("laspy")
    xyz, _ = _cloud()
    xyz = xyz.astype(np.float64) + [612345.6, 5123456.7, 300.0]
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales, header.offsets = np.array([0.001] * 3), np.floor(xyz.min(0))
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz.T
    las.intensity = np.arange(len(xyz), dtype=np.uint16)
    las.red, las.green, las.blue = (np.full(len(xyz), 65535, np.uint16),) * 3
    las.write(tmp_path / f"a{ext}")
    d = read_point_file(tmp_path / f"a{ext}")
    origin = np.r_[np.round((xyz[:, :2].min(0) + xyz[:, :2].max(0)) / 2), 0.0]
    np.testing.assert_array_equal(d["origin"], origin)
    np.testing.assert_allclose(d["coord"] + origin, xyz, atol=2e-3)
    assert np.abs(d["coord"][:, :2]).max() < 20  # shifted before the float32 cast
    np.testing.assert_array_equal(d["strength"][:, 0], np.arange(len(xyz)))
    np.testing.assert_array_equal(d["color"], 1.0)


def test_errors_name_the_file_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / "a.xyz").write_text("1 2 3\n")
    with pytest.raises(PointFileError, match=r"a\.xyz: unsupported point cloud format '\.xyz'"):
        read_point_file(tmp_path / "a.xyz")
    with pytest.raises(PointFileError, match=r"missing\.ply: point cloud file not found"):
        read_point_file(tmp_path / "missing.ply")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(PointFileError, match=r"empty\.bin: empty point cloud"):
        read_point_file(tmp_path / "empty.bin")
    np.save(tmp_path / "nan.npy", np.full((4, 3), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"nan\.npy: 4 points with NaN/Inf coordinates"):
        read_point_file(tmp_path / "nan.npy")
    (tmp_path / "a.laz").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "laspy", None)
    with pytest.raises(
        MissingPackageError, match=r'needs the \'laspy\' package \(pip install "laspy\[lazrs\]"\)'
    ):
        read_point_file(tmp_path / "a.laz")
    monkeypatch.setitem(sys.modules, "pypcd4", None)
    (tmp_path / "a.pcd").write_bytes(b"x")
    with pytest.raises(MissingPackageError, match=r"a\.pcd: .*\(pip install pypcd4\)"):
        read_point_file(tmp_path / "a.pcd")


def test_find_point_files(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/b.npy", "d/e/a.ply", "d/notes.txt", "c.LAZ"):
        (tmp_path / name).write_bytes(b"")
    assert find_point_files(tmp_path) == [str(tmp_path / p) for p in ("c.LAZ", "d/b.npy", "d/e/a.ply")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(PointFileError, match="no point cloud files"):
        find_point_files(tmp_path / "empty")
