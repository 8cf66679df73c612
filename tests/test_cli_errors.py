"""The command-line tools beyond train/test report configuration and data errors in one line
(``error: ...``, exit 1, no traceback) and show the traceback with ``--debug``."""

import importlib.util
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(path, *args):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.join(REPO, "tools", path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_preprocess_cli_on_a_missing_folder_prints_one_line(tmp_path):
    (tmp_path / "train.txt").write_text("scene0000_00\n")
    raw = tmp_path / "no_such_folder"
    args = [
        "--raw-root",
        str(raw),
        "--out-root",
        str(tmp_path / "out"),
        "--split",
        f"train={tmp_path / 'train.txt'}",
    ]
    proc = run_tool("preprocess/scannet.py", *args)
    assert proc.returncode == 1, proc.stderr
    candidates = [str(raw / "scans" / "scene0000_00"), str(raw / "scans_test" / "scene0000_00")]
    assert proc.stderr.splitlines() == [
        f"error: scene scene0000_00 (split train) not found under {candidates}",
        "(add --debug for the traceback)",
    ]
    assert not (tmp_path / "out").exists()
    debug = run_tool("preprocess/scannet.py", *args, "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("ValueError: scene scene0000_00 (split train)")


def test_a_missing_split_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.txt"
    proc = run_tool(
        "preprocess/scannet.py", "--raw-root", "r", "--out-root", "o", "--split", f"train={missing}"
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0] == f"error: [Errno 2] No such file or directory: '{missing}'"


def test_bench_case_reports_the_config_error_line(tmp_path):
    config = tmp_path / "bad.py"
    config.write_text("model = dict(backbone=dict(type='NoSuchBackbone'))\n")
    scan = tmp_path / "scan.bin"
    scan.write_bytes(bytes(16 * 100))  # 100 points of 4 float32 zeros
    spec = importlib.util.spec_from_file_location(
        "bench_common", os.path.join(REPO, "tools", "bench_common.py")
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--sizes", "50", "--config", str(config), "--scan", str(scan), "--repeats", "0"]
    result = bench.run_case(os.path.join(REPO, "tools", "bench_backbone.py"), argv)
    # The table row shows the case's one-line error, not the "(add --debug ...)" hint after it.
    assert isinstance(result, str) and result.startswith(
        "failed (exit 1): [\"error: model: type 'NoSuchBackbone'"
    )
