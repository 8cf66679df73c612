import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pointcept.datasets import ScanNet200Dataset, ScanNetDataset
from pointcept.datasets.formats import read_ply
from pointcept.datasets.preprocessing.normals import mesh_vertex_normals
from pointcept.datasets.preprocessing.scannet import convert_scene, read_label_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VERTEX_DTYPE = [
    ("x", "f4"),
    ("y", "f4"),
    ("z", "f4"),
    ("red", "u1"),
    ("green", "u1"),
    ("blue", "u1"),
    ("alpha", "u1"),
]


def write_ply(path, vertices, faces=None, extra=(), endian="<", face_count_type="u1"):
    """Binary PLY writer for tests: vertices (N,3), colours derived from the index, triangle faces."""
    n = len(vertices)
    vdtype = [(k, endian + t) for k, t in VERTEX_DTYPE] + [(k, endian + t) for k, t, _ in extra]
    v = np.zeros(n, dtype=vdtype)
    v["x"], v["y"], v["z"] = np.asarray(vertices).T
    v["red"], v["green"], v["blue"] = (np.arange(n) * 7) % 256, (np.arange(n) * 13) % 256, 200
    for k, _, values in extra:
        v[k] = values
    ply_types = {"f4": "float", "u1": "uchar", "u2": "ushort", "i4": "int"}
    header = [
        "ply",
        f"format binary_{'little' if endian == '<' else 'big'}_endian 1.0",
        "comment test",
        f"element vertex {n}",
    ]
    header += [f"property {ply_types[t]} {k}" for k, t in VERTEX_DTYPE] + [
        f"property {ply_types[t]} {k}" for k, t, _ in extra
    ]
    body = v.tobytes()
    if faces is not None:
        faces = np.asarray(faces)
        header += [
            f"element face {len(faces)}",
            f"property list {ply_types[face_count_type]} int vertex_indices",
        ]
        f = np.zeros(len(faces), dtype=[("n", endian + face_count_type), ("idx", endian + "i4", (3,))])
        f["n"], f["idx"] = 3, faces
        body += f.tobytes()
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\nend_header\n").encode("ascii") + body)


def grid_mesh(nx, ny, z=0.0):
    """A flat nx*ny vertex grid in the plane z, triangles wound counter-clockwise seen from +z."""
    xs, ys = np.meshgrid(np.arange(nx, dtype=np.float32), np.arange(ny, dtype=np.float32), indexing="ij")
    verts = np.c_[xs.ravel(), ys.ravel(), np.full(nx * ny, z, np.float32)]
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.c_[a, b, c], np.c_[a, c, d]])
    return verts, faces


@pytest.mark.parametrize("endian", ["<", ">"])
def test_read_ply_roundtrip(tmp_path, endian):
    verts, faces = grid_mesh(4, 3, z=1.5)
    path = str(tmp_path / "m.ply")
    write_ply(path, verts, faces, extra=[("label", "u2", np.arange(12))], endian=endian)
    ply = read_ply(path)
    np.testing.assert_array_equal(np.c_[ply["vertex"]["x"], ply["vertex"]["y"], ply["vertex"]["z"]], verts)
    np.testing.assert_array_equal(ply["vertex"]["label"], np.arange(12))
    np.testing.assert_array_equal(ply["vertex"]["red"], (np.arange(12) * 7) % 256)
    np.testing.assert_array_equal(ply["face"]["vertex_indices"], faces)


def test_read_ply_errors(tmp_path):
    verts, faces = grid_mesh(3, 3)
    path = str(tmp_path / "m.ply")
    write_ply(path, verts, faces)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-5])
    with pytest.raises(ValueError, match=r"m\.ply: truncated PLY body in element 'face'"):
        read_ply(path)
    open(path, "wb").write(data.replace(b"binary_little_endian", b"ascii", 1))
    with pytest.raises(ValueError, match="format 'ascii' not supported"):
        read_ply(path)
    open(path, "wb").write(b"nope\n" + data)
    with pytest.raises(ValueError, match="not a PLY file"):
        read_ply(path)
    # A quad among triangles: ragged lists are refused rather than misread.
    body_start = data.index(b"end_header\n") + len(b"end_header\n")
    v_bytes = len(verts) * 16
    tri = np.zeros(1, dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    quad = np.zeros(1, dtype=[("n", "u1"), ("idx", "<i4", (4,))])
    quad["n"], tri["n"] = 4, 3
    header = data[:body_start].replace(f"element face {len(faces)}".encode(), b"element face 2")
    open(path, "wb").write(header + data[body_start : body_start + v_bytes] + tri.tobytes() + quad.tobytes())
    with pytest.raises(ValueError, match="ragged list property 'vertex_indices'"):
        read_ply(path)


def test_mesh_vertex_normals_area_weighted():
    verts, faces = grid_mesh(5, 4)
    np.testing.assert_allclose(mesh_vertex_normals(verts, faces), np.tile([0, 0, 1], (20, 1)), atol=1e-7)
    # Two triangles hinged on the edge (0,1): a big one in z=0 and a small one in the plane x+z... tilted.
    v = np.array([[0, 0, 0], [0, 1, 0], [4, 0, 0], [-0.5, 0, 0.5]], dtype=np.float64)
    f = np.array([[0, 2, 1], [0, 1, 3]])
    n_big = np.cross(v[2] - v[0], v[1] - v[0])  # length = 2 * area
    n_small = np.cross(v[1] - v[0], v[3] - v[0])
    shared = (n_big + n_small) / np.linalg.norm(n_big + n_small)
    out = mesh_vertex_normals(v, f)
    np.testing.assert_allclose(out[0], shared, atol=1e-6)
    np.testing.assert_allclose(out[2], n_big / np.linalg.norm(n_big), atol=1e-6)
    np.testing.assert_allclose(out[3], n_small / np.linalg.norm(n_small), atol=1e-6)
    assert np.linalg.norm(n_big) > 5 * np.linalg.norm(n_small)  # the weighting matters here
    with pytest.raises(ValueError, match="face indices"):
        mesh_vertex_normals(v, np.array([[0, 1, 4]]))


TSV = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyu40class\n" + "\n".join(
    [
        "1\twall\twall\t8277\t1\t12\twall",
        "2\tchair\tchair\t4646\t5\t4\tchair",
        "3\tfloor\tfloor\t2\t2\t5\tfloor",
        "10\toffice chair\toffice chair\t595\t5\t4\tchair",
        "12\tkitchen island\tcounter\t14\t12\t6\tcounter",
    ]
)


def fabricate_raw_scene(raw_root, scene, sub="scans", labels="aggregation"):
    """A 6x5 floor grid (segments 0/1 by x) plus a raised 3x3 'chair' grid (segment 2), and a lone vertex."""
    floor_v, floor_f = grid_mesh(6, 5)
    seat_v, seat_f = grid_mesh(3, 3, z=0.5)
    verts = np.concatenate([floor_v, seat_v + [1, 1, 0], [[9, 9, 9]]]).astype(np.float32)
    faces = np.concatenate([floor_f, seat_f + len(floor_v)])
    seg = np.r_[np.where(floor_v[:, 0] < 3, 0, 1), np.full(9, 2), [3]]
    d = os.path.join(raw_root, sub, scene)
    os.makedirs(d)
    write_ply(os.path.join(d, f"{scene}_vh_clean_2.ply"), verts, faces)
    if labels == "aggregation":
        with open(os.path.join(d, f"{scene}_vh_clean_2.0.010000.segs.json"), "w") as f:
            json.dump({"sceneId": scene, "segIndices": seg.tolist()}, f)
        groups = [
            {"id": 0, "objectId": 0, "segments": [0], "label": "floor"},
            {"id": 1, "objectId": 1, "segments": [1], "label": "kitchen island"},
            {"id": 2, "objectId": 2, "segments": [2, 77], "label": "office chair"},
            {"id": 3, "objectId": 3, "segments": [3], "label": "mystery object"},
        ]
        with open(os.path.join(d, f"{scene}.aggregation.json"), "w") as f:
            json.dump({"sceneId": scene, "segGroups": groups}, f)
    elif labels == "labels_ply":
        nyu = np.r_[np.full(30, 2), np.full(9, 5), [40]]
        write_ply(
            os.path.join(d, f"{scene}_vh_clean_2.labels.ply"), verts, faces, extra=[("label", "u2", nyu)]
        )
    return verts, seg


def test_convert_scene_from_aggregation(tmp_path):
    (tmp_path / "labels.tsv").write_text(TSV)
    table = read_label_table(str(tmp_path / "labels.tsv"))
    assert table["office chair"] == (10, 5)
    verts, seg = fabricate_raw_scene(str(tmp_path), "scene0000_00")
    out = convert_scene(str(tmp_path / "scans" / "scene0000_00"), "scene0000_00", table)
    np.testing.assert_array_equal(out["coord"], verts)
    assert out["color"].dtype == np.uint8 and out["color"][1].tolist() == [7, 13, 200]
    # floor -> (ScanNet-20 floor 1, ScanNet200 floor 2); kitchen island -> (counter 11, not a 200 class);
    # office chair -> (chair 4, office chair 9); unknown category and the lone vertex -> ignore.
    want20 = np.select([seg == 0, seg == 1, seg == 2], [1, 11, 4], -1)
    want200 = np.select([seg == 0, seg == 2], [2, 9], -1)
    np.testing.assert_array_equal(out["segment20"], want20)
    np.testing.assert_array_equal(out["segment200"], want200)
    np.testing.assert_array_equal(out["instance"], np.select([seg == 0, seg == 1, seg == 2], [0, 1, 2], -1))
    np.testing.assert_allclose(out["normal"][:-1], np.tile([0, 0, 1], (len(verts) - 1, 1)), atol=1e-6)
    assert out["normal"][-1].tolist() == [0, 0, 0]  # a vertex in no face has no normal
    with pytest.raises(ValueError, match="label table"):
        convert_scene(str(tmp_path / "scans" / "scene0000_00"), "scene0000_00", None)


def test_cli_end_to_end(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    (tmp_path / "labels.tsv").write_text(TSV)
    fabricate_raw_scene(str(raw), "scene0000_00")
    fabricate_raw_scene(str(raw), "scene0001_00", labels="labels_ply")
    fabricate_raw_scene(str(raw), "scene0707_00", sub="scans_test", labels=None)
    (tmp_path / "train.txt").write_text("scene0000_00\nscene0001_00\n")
    (tmp_path / "test.txt").write_text("scene0707_00\n")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "preprocess", "scannet.py"), "--raw-root", str(raw),
           "--out-root", str(out), "--label-table", str(tmp_path / "labels.tsv"),
           "--split", f"train={tmp_path / 'train.txt'}", "--split", f"test={tmp_path / 'test.txt'}"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert res.returncode == 0, res.stderr
    assert "train: 2 scenes" in res.stdout and "test: 1 scenes" in res.stdout
    assert sorted(os.listdir(out / "test" / "scene0707_00")) == ["color.npy", "coord.npy", "normal.npy"]
    # labels.ply scenes give ScanNet-20 only.
    assert not (out / "train" / "scene0001_00" / "segment200.npy").exists()
    ds = ScanNetDataset(data_root=str(out), split="train")
    d1 = ds.get_data(1)
    np.testing.assert_array_equal(d1["segment"], np.r_[np.full(30, 1), np.full(9, 4), [-1]])
    d200 = ScanNet200Dataset(data_root=str(out), split="train").get_data(1)
    assert (d200["segment"] == -1).all()
    assert (ScanNetDataset(data_root=str(out), split="test").get_data(0)["segment"] == -1).all()
