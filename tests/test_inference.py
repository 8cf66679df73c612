"""tools/inference.py: labels and features for point files of every supported format.

One CLI subprocess (segmentation on a folder of every format and the real scan); features, the
tester comparison and the error messages run the CLI's ``main`` in-process (each subprocess pays
~15 s of spconv import on a loaded machine).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from real_data import REAL_DATA

plyfile = pytest.importorskip("plyfile")
pypcd4 = pytest.importorskip("pypcd4")
laspy = pytest.importorskip("laspy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEG_CONFIG = os.path.join(ROOT, "configs", "semantic_kitti", "semseg-ptv3-tiny.py")
DOS_CONFIG = os.path.join(ROOT, "configs", "semantic_kitti", "pretrain-dos-tiny.py")
REAL_SCAN = os.path.join(REAL_DATA, "semantic_kitti", "dataset", "sequences", "08", "velodyne", "000000.bin")
# Every 16th point of the real scan: 7.7k points, 3 test fragments at the 0.1 m grid (the full
# scan has 20 fragments of 69k points, minutes on a loaded CPU).
REAL_STEP = 16


def _cli_module():
    spec = importlib.util.spec_from_file_location(
        "inference_cli", os.path.join(ROOT, "tools", "inference.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, os.path.join(ROOT, "tools", "inference.py"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _build_checkpoint(config: str, path: str, perturb_teacher: bool = False) -> None:
    from pointcept.engines.checkpoint import save_checkpoint
    from pointcept.models.builder import build_model
    from pointcept.utils.config import load_config

    torch.manual_seed(0)
    model = build_model(load_config(config).model)
    state = model.state_dict()
    if perturb_teacher:  # so that loading the student instead of the teacher would show
        for k, v in state.items():
            if k.startswith("teacher.backbone.") and v.is_floating_point():
                state[k] = v + 0.05 * torch.randn_like(v)
    save_checkpoint(path, {"model": state})


def _street(rng, n, offset=(0.0, 0.0, 0.0)):
    ground = np.c_[rng.uniform(-15, 15, (n, 2)), rng.normal(-1.7, 0.03, n)]
    box = np.array([4.0, 2.0, -0.8]) + rng.uniform(-1, 1, (n // 4, 3))
    return np.concatenate([ground, box]) + np.asarray(offset)


def write_inputs(folder: str, rng) -> dict:
    """One small file per format with intensity (the KITTI model reads coord + strength).

    Returns name -> (coord as written, float64; strength).
    """
    os.makedirs(os.path.join(folder, "sub"))
    written = {}

    xyz = _street(rng, 1600).astype(np.float32)
    s = rng.uniform(0, 1, len(xyz)).astype(np.float32)
    np.save(os.path.join(folder, "cloud_npy.npy"), np.c_[xyz, s])
    written["cloud_npy"] = (xyz, s)

    xyz = _street(rng, 1200).astype(np.float32)
    s = rng.uniform(0, 1, len(xyz)).astype(np.float32)
    vertex = np.empty(len(xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4")])
    vertex["x"], vertex["y"], vertex["z"], vertex["intensity"] = *xyz.T, s
    plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")], text=True).write(
        os.path.join(folder, "sub", "cloud_ply.ply")
    )
    written["sub/cloud_ply"] = (xyz, s)

    xyz = _street(rng, 1000).astype(np.float32)
    s = rng.uniform(0, 1, len(xyz)).astype(np.float32)
    pypcd4.PointCloud.from_xyzi_points(np.c_[xyz, s]).save(os.path.join(folder, "cloud_pcd.pcd"))
    written["cloud_pcd"] = (xyz, s)

    for name, offset in (("cloud_las.las", (500123.4, 4100456.7, 50.0)), ("cloud_laz.laz", (0.0, 0.0, 0.0))):
        xyz = _street(rng, 900, offset)
        s = rng.integers(0, 2, len(xyz)).astype(np.uint16)  # 0/1, as the model's remission scale
        header = laspy.LasHeader(point_format=3, version="1.2")
        header.scales = np.array([0.001, 0.001, 0.001])
        header.offsets = np.floor(xyz.min(0))
        las = laspy.LasData(header)
        las.x, las.y, las.z = xyz.T
        las.intensity = s
        las.write(os.path.join(folder, name))
        written[name.split(".")[0]] = (xyz, s)
    return written


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    seg, dos = str(d / "seg.pth"), str(d / "dos.pth")
    _build_checkpoint(SEG_CONFIG, seg)
    _build_checkpoint(DOS_CONFIG, dos, perturb_teacher=True)
    return dict(seg=seg, dos=dos)


@pytest.fixture(scope="module")
def kitti_root(tmp_path_factory):
    """A SemanticKITTI layout holding the subsampled real scan (sequence 08), or None without real data."""
    if not os.path.isfile(REAL_SCAN):
        return None
    root = tmp_path_factory.mktemp("kitti")
    velodyne = root / "dataset" / "sequences" / "08" / "velodyne"
    velodyne.mkdir(parents=True)
    np.fromfile(REAL_SCAN, dtype=np.float32).reshape(-1, 4)[::REAL_STEP].tofile(velodyne / "000000.bin")
    return str(root)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory, checkpoints, kitti_root):
    """One CLI run over a folder of every format (and the real scan when present)."""
    inputs = tmp_path_factory.mktemp("inputs")
    written = write_inputs(str(inputs), np.random.default_rng(0))
    if kitti_root is not None:
        os.symlink(
            os.path.join(kitti_root, "dataset", "sequences", "08", "velodyne", "000000.bin"),
            inputs / "real.bin",
        )
    out = str(tmp_path_factory.mktemp("out"))
    proc = _run(
        ["--config", SEG_CONFIG, "--checkpoint", checkpoints["seg"], "--input", str(inputs), "--output", out]
    )
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(out, "inference.json")) as f:
        summary = json.load(f)
    return dict(out=out, written=written, summary=summary, stderr=proc.stderr, stdout=proc.stdout)


def _ply_vertex(path):
    return plyfile.PlyData.read(path)["vertex"].data


def test_every_format_gets_one_label_per_point(seg_run):
    from pointcept.datasets.label_maps import SEMANTIC_KITTI_LEARNING_MAP_INV

    out, summary = seg_run["out"], seg_run["summary"]
    by_name = {f["name"]: f for f in summary["files"]}
    assert set(seg_run["written"]) <= set(by_name)
    for name, (xyz, _) in seg_run["written"].items():
        pred = np.load(os.path.join(out, name + ".npy"))
        assert pred.shape == (len(xyz),) and pred.dtype == np.int32, name
        assert pred.min() >= 0 and pred.max() < 19, name
        raw = np.fromfile(os.path.join(out, name + ".label"), dtype=np.uint32)
        np.testing.assert_array_equal(raw, SEMANTIC_KITTI_LEARNING_MAP_INV[pred])
        vertex = _ply_vertex(os.path.join(out, name + ".ply"))
        np.testing.assert_array_equal(vertex["label"], pred)
        origin = np.asarray(by_name[name]["origin"])
        # Coordinates come back in the file's frame minus origin (LAS stores them at 1 mm).
        np.testing.assert_allclose(np.c_[vertex["x"], vertex["y"], vertex["z"]] + origin, xyz, atol=2e-3)
        with open(os.path.join(out, name + ".png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert by_name[name]["num_points"] == len(xyz)
    # The georeferenced LAS tile is shifted by its rounded bounding-box centre in x and y.
    xyz = seg_run["written"]["cloud_las"][0]
    expected = np.r_[np.round((xyz[:, :2].min(0) + xyz[:, :2].max(0)) / 2), 0.0]
    np.testing.assert_array_equal(by_name["cloud_las"]["origin"], expected)
    assert by_name["cloud_npy"]["origin"] == [0.0, 0.0, 0.0]
    assert "file/s" in seg_run["stderr"] or "s/file" in seg_run["stderr"]  # tqdm rate (with ETA)


def test_real_scan_matches_the_tester(seg_run, kitti_root, checkpoints, tmp_path):
    if kitti_root is None:
        pytest.skip(f"real SemanticKITTI scan not found at {REAL_SCAN}")
    from pointcept.engines.tester import SemSegTester
    from pointcept.utils.config import load_config

    cfg = load_config(SEG_CONFIG)
    cfg.weight = checkpoints["seg"]
    cfg.save_path = str(tmp_path)
    cfg.data.test.data_root = kitti_root
    cfg.data.test.split = "val"
    tester = SemSegTester(cfg, fragment_batch_size=4, save_predictions=False)
    tester.model.eval()
    data = tester.dataset[0]
    expected = tester.predict_scan(data).numpy()
    pred = np.load(os.path.join(seg_run["out"], "real.npy"))
    assert len(pred) == len(np.fromfile(REAL_SCAN, dtype=np.float32).reshape(-1, 4)[::REAL_STEP])
    np.testing.assert_array_equal(pred, expected)
    assert len(np.unique(expected)) > 1  # a constant prediction would match trivially


def test_dos_features_of_the_teacher(tmp_path, checkpoints):
    """Features of a file with one point per voxel (a single fragment) equal the teacher encoder's,
    computed here from the raw file: centre x/y (the view transform's CenterShift), grid the
    coordinates, run the backbone, up-cast every stage to the points."""
    from pointcept.engines.checkpoint import apply_key_map, load_checkpoint
    from pointcept.models.builder import build_model
    from pointcept.models.upcast import upcast
    from pointcept.utils.config import load_config

    rng = np.random.default_rng(1)
    # Points at least 0.22 m apart: whatever the centring shift, no 0.1 m voxel holds two.
    cells = rng.choice(20 * 20 * 4, 1200, replace=False)
    grid = np.stack(np.unravel_index(cells, (20, 20, 4)), 1)
    xyz = (grid * 0.3 + rng.uniform(-0.04, 0.04, grid.shape) + [-3.0, -3.0, -0.5]).astype(np.float32)
    s = rng.uniform(0, 1, (len(xyz), 1)).astype(np.float32)
    np.save(tmp_path / "one.npy", np.c_[xyz, s])
    out = str(tmp_path / "out")
    # In-process (the segmentation run covers the subprocess): saves a second spconv import.
    _cli_module().main(["--config", DOS_CONFIG, "--checkpoint", checkpoints["dos"], "--input",
                        str(tmp_path / "one.npy"), "--output", out, "--features", "--no-progress"])  # fmt: skip
    feat = np.load(os.path.join(out, "one_feat.npy"))
    assert feat.shape == (len(xyz), 16 + 32 + 64 + 128) and feat.dtype == np.float32
    vertex = _ply_vertex(os.path.join(out, "one_feat.ply"))
    assert len(vertex) == len(xyz) and len(np.unique(vertex["red"])) > 10
    assert os.path.isfile(os.path.join(out, "one_feat.png"))

    cfg = load_config(DOS_CONFIG)
    backbone = build_model(dict(cfg.model.backbone, **(cfg.model.get("teacher_custom") or {}))).eval()
    state = load_checkpoint(checkpoints["dos"])["model"]
    backbone.load_state_dict(apply_key_map(state, {"teacher.backbone.": ""}))
    coord = xyz.astype(np.float64)
    coord[:, :2] -= (coord[:, :2].min(0) + coord[:, :2].max(0)) / 2
    coord = coord.astype(np.float32)
    g = np.floor(coord / 0.1).astype(np.int64)
    batch = dict(
        coord=torch.from_numpy(coord),
        grid_coord=torch.from_numpy(g - g.min(0)),
        feat=torch.from_numpy(np.c_[coord, s]),
        offset=torch.tensor([len(xyz)]),
    )
    with torch.no_grad():
        point = upcast(backbone(batch), 0)
    np.testing.assert_allclose(feat, point.feat.numpy(), rtol=1e-4, atol=1e-4)
    student = build_model(cfg.model.backbone).eval()
    student.load_state_dict(apply_key_map(state, {"student.backbone.": ""}))
    with torch.no_grad():
        assert not np.allclose(feat, upcast(student(batch), 0).feat.numpy(), atol=1e-3)


def _cli_error(argv, capsys) -> str:
    cli = _cli_module()
    from pointcept.utils.errors import run_cli

    with pytest.raises(SystemExit) as exc:
        run_cli(lambda: cli.main(argv), argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_unsupported_extension_is_one_line(tmp_path, checkpoints, capsys):
    bad = tmp_path / "scan.xyz"
    bad.write_text("0 0 0\n")
    msg = _cli_error(["--config", SEG_CONFIG, "--checkpoint", checkpoints["seg"], "--input", str(bad),
                      "--output", str(tmp_path / "o")], capsys)  # fmt: skip
    assert str(bad) in msg and "unsupported point cloud format '.xyz'" in msg and ".laz" in msg


def test_missing_package_names_the_pip_command(tmp_path, checkpoints, capsys, monkeypatch):
    path = tmp_path / "c.ply"
    vertex = np.zeros(4, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4")])
    plyfile.PlyData([plyfile.PlyElement.describe(vertex, "vertex")]).write(str(path))
    monkeypatch.setitem(sys.modules, "plyfile", None)  # import plyfile -> ImportError
    msg = _cli_error(["--config", SEG_CONFIG, "--checkpoint", checkpoints["seg"], "--input", str(path),
                      "--output", str(tmp_path / "o")], capsys)  # fmt: skip
    assert msg == f"error: {path}: reading .ply files needs the 'plyfile' package (pip install plyfile)"


def test_missing_strength_column_is_named(tmp_path, checkpoints, capsys):
    path = tmp_path / "xyz.npy"
    np.save(path, np.random.default_rng(0).uniform(-5, 5, (100, 3)).astype(np.float32))
    msg = _cli_error(["--config", SEG_CONFIG, "--checkpoint", checkpoints["seg"], "--input", str(path),
                      "--output", str(tmp_path / "o")], capsys)  # fmt: skip
    assert str(path) in msg and "no strength" in msg and "--columns" in msg


def test_segmentation_of_a_dos_checkpoint_asks_for_features(tmp_path, checkpoints, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((10, 4), dtype=np.float32))
    msg = _cli_error(["--config", DOS_CONFIG, "--checkpoint", checkpoints["dos"], "--input", str(path),
                      "--output", str(tmp_path / "o")], capsys)  # fmt: skip
    assert "--features" in msg


def test_pca_colors_follow_the_main_components():
    cli = _cli_module()
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 500)
    feat = np.c_[10 * t, rng.normal(0, 0.01, (500, 7))]
    colors = cli.pca_colors(feat)
    assert colors.shape == (500, 3) and colors.dtype == np.uint8
    # The first component is t (signed so that its largest loading is positive): red rises with t.
    assert np.all(np.diff(colors[:, 0].astype(int)) >= 0) and colors[0, 0] == 0 and colors[-1, 0] == 255
