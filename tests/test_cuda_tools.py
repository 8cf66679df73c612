"""tools/check_cuda_build.sh (argument handling only: the real run installs ~5.5 GB) and
tools/gpu_acceptance.sh in fast mode on this machine, whose report must say what it skipped."""

import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "tools", "check_cuda_build.sh")
ACCEPTANCE = os.path.join(ROOT, "tools", "gpu_acceptance.sh")


def run(script, *args, env=None, timeout=60):
    return subprocess.run(
        ["bash", script, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def test_check_cuda_build_help_lists_options_and_exit_codes():
    result = run(CHECK, "--help")
    assert result.returncode == 0, result.stderr
    for text in ("--venv DIR", "--torch VERSION", "--build-dir DIR", "--reuse-venv", "default 2.14.1"):
        assert text in result.stdout, text
    assert "5  built and linked; import stopped only by the missing NVIDIA driver" in result.stdout
    assert "4  link or load error" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frobnicate"], "unknown argument '--frobnicate'"),
        (["--jobs", "0"], "--jobs must be a positive integer, got '0'"),
        (["--torch"], "--torch needs a value"),
        (["--venv", os.path.join(ROOT, "venv")], "must lie outside the repository"),
    ],
)
def test_check_cuda_build_rejects_bad_arguments_before_doing_anything(args, message, tmp_path):
    result = run(CHECK, *args, "--build-dir", str(tmp_path / "build"))
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "build").exists()


def test_check_cuda_build_refuses_a_venv_it_did_not_make(tmp_path):
    foreign = tmp_path / "venv"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    env = dict(os.environ, CUDA_HOME=str(tmp_path / "no-cuda"))
    result = run(CHECK, "--venv", str(foreign), "--build-dir", str(tmp_path / "build"), env=env)
    # Either no toolkit at the given CUDA_HOME (exit 2 before touching the venv) ...
    assert result.returncode == 2
    assert "verdict: environment: no CUDA toolkit" in result.stdout
    assert (foreign / "keep.txt").read_text() == "mine"
    if not os.path.exists("/usr/local/cuda/bin/nvcc"):
        return
    # ... or, with the real toolkit, the refusal to replace a venv this script did not create.
    result = run(
        CHECK,
        "--venv",
        str(foreign),
        "--build-dir",
        str(tmp_path / "build"),
        "--cuda-home",
        "/usr/local/cuda",
    )
    assert result.returncode == 2
    assert "was not made by this script" in result.stdout
    assert (foreign / "keep.txt").read_text() == "mine"


def test_gpu_acceptance_help_and_bad_argument():
    result = run(ACCEPTANCE, "--help")
    assert result.returncode == 0 and "--fast" in result.stdout and "--report FILE" in result.stdout
    result = run(ACCEPTANCE, "--nope")
    assert result.returncode == 2 and "unknown argument '--nope'" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only report; a GPU runs the real thing")
def test_gpu_acceptance_fast_on_cpu_reports_what_it_skipped(tmp_path):
    report_path = tmp_path / "report.json"
    env = dict(os.environ, PYTHON=sys.executable)
    result = run(ACCEPTANCE, "--fast", "--report", str(report_path), env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["ok"] is True and report["cuda"] is False and report["fast"] is True
    assert report["skipped"][0] == "cuda: every CUDA check (no usable CUDA device)"
    phases = report["phases"]
    assert {name: p["status"] for name, p in phases.items()} == dict(
        build="skipped", tests="skipped", bench_ops="skipped", pretrain="skipped"
    )
    # The CUDA test cases exist and were skipped for the stated reason, none silently missing.
    tests = phases["tests"]
    assert tests["passed"] == 0 and tests["failed"] == 0 and tests["skipped"] > 50
    assert tests["skip_reasons"].get("CUDA not available", 0) > 50
    assert "verdict: PASS (CPU only: CUDA checks skipped)" in result.stdout
