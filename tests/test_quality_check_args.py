import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "quality_check", os.path.join(ROOT, "tools", "quality_check.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _error(qc, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        qc.parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def _fake_layout(root):
    for rel in ("00/velodyne", "00/labels", "08/velodyne", "08/labels"):
        os.makedirs(root / "semantic_kitti/dataset/sequences" / rel)
    (root / "semantic_kitti/dataset/sequences/08/velodyne/000000.bin").write_bytes(b"")
    (root / "semantic_kitti/dataset/sequences/08/labels/000000.label").write_bytes(b"")
    os.makedirs(root / "semantic_kitti_unlabelled/dataset/sequences")


def test_data_root_is_required_without_env_var(monkeypatch, capsys):
    monkeypatch.delenv("DOS_REAL_DATA", raising=False)
    qc = _load_tool()
    err = _error(qc, [], capsys)
    assert "--data-root" in err and "DOS_REAL_DATA" in err


def test_layout_is_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DOS_REAL_DATA", raising=False)
    qc = _load_tool()
    assert "not a folder" in _error(qc, ["--data-root", str(tmp_path / "absent")], capsys)
    err = _error(qc, ["--data-root", str(tmp_path)], capsys)
    assert "lacks the expected layout" in err and "semantic_kitti_unlabelled" in err
    assert os.path.join("semantic_kitti", "dataset", "sequences", "08", "labels", "000000.label") in err
    _fake_layout(tmp_path)
    assert qc.parse_args(["--data-root", str(tmp_path)]).data_root == str(tmp_path)
    os.remove(tmp_path / "semantic_kitti/dataset/sequences/08/velodyne/000000.bin")
    err = _error(qc, ["--data-root", str(tmp_path)], capsys)
    assert (
        "missing: " + os.path.join("semantic_kitti", "dataset", "sequences", "08", "velodyne", "000000.bin")
        in err
    )


def test_env_var_is_the_default(tmp_path, monkeypatch):
    _fake_layout(tmp_path)
    monkeypatch.setenv("DOS_REAL_DATA", str(tmp_path))
    qc = _load_tool()
    assert qc.parse_args([]).data_root == str(tmp_path)
    (tmp_path / "semantic_kitti/dataset/sequences/00/velodyne/000000.bin").write_bytes(b"")
    assert qc.link_pretrain_scans(str(tmp_path), str(tmp_path / "links")) == 1  # 08/000000 is held out


def test_progress_eta_times_each_kind_of_run_apart(capsys):
    qc = _load_tool()
    # 1 pretraining, 4 linear and 2 fine-tuning cells to run; 2 runs finished by an earlier call
    progress = qc.Progress({"pretrain": 1, "linear": 4, "finetune": 2}, skipped=2)
    assert progress.total == 9 and progress.eta() is None  # nothing timed yet
    progress.done("pretrain", "pretrain dos seed 0", None)  # skipped: counts, takes no time
    assert progress.left == {"pretrain": 1, "linear": 4, "finetune": 2} and progress.eta() is None
    progress.done("pretrain", "pretrain dos seed 1", 1.5)
    # linear and finetune not timed yet: the mean of any timed run (1.5 min) stands in
    assert progress.eta() == pytest.approx(6 * 1.5)
    progress.done("linear", "linear 1 scan dos seed 0", 0.5)
    progress.done("linear", "linear 1 scan dos seed 1", 0.3)
    # 2 linear left x 0.4 + 2 finetune left x mean(1.5, 0.5, 0.3)
    assert progress.eta() == pytest.approx(2 * 0.4 + 2 * (2.3 / 3))
    progress.done("finetune", "finetune 1 scan dos seed 0", 1.2)
    assert progress.eta() == pytest.approx(2 * 0.4 + 1 * 1.2)
    out = capsys.readouterr().out.splitlines()
    first, last = out[0], out[-1]
    assert first.startswith("[1/9] pretrain dos seed 0: skipped (done); elapsed ") and first.endswith("ETA ?")
    assert last.startswith("[5/9] finetune 1 scan dos seed 0: 1.20 min;") and last.endswith("ETA 2.0 min")
