"""Backend selection of pointcept.ops: names, context manager, env var, missing build."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pointcept.ops as ops
from pointcept.ops import _backend


def test_set_backend_rejects_unknown_name():
    with pytest.raises(
        ValueError, match=r"backend must be one of \('auto', 'fused', 'reference'\), got 'cuda'"
    ):
        ops.set_backend("cuda")


def test_use_backend_restores_previous():
    before = ops.get_backend()
    with ops.use_backend("reference"):
        assert ops.get_backend() == "reference"
    assert ops.get_backend() == before


def test_env_var_sets_initial_backend():
    code = "import pointcept.ops as ops; print(ops.get_backend())"
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "DOS_OPS_BACKEND": "reference", "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reference"
    env["DOS_OPS_BACKEND"] = "fast"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "DOS_OPS_BACKEND must be one of" in bad.stderr


def test_missing_build(monkeypatch, caplog):
    monkeypatch.setitem(_backend._state, "loaded", False)
    monkeypatch.setitem(_backend._state, "warned", False)
    keep = torch.tensor([True, False])
    offset = torch.tensor([2])
    with (
        ops.use_backend("fused"),
        pytest.raises(RuntimeError, match=r"cd libs/dos_ops && python setup.py develop"),
    ):
        ops.masked_gather([torch.zeros(2)], keep, offset)
    with ops.use_backend("auto"), caplog.at_level(logging.WARNING, logger="pointcept.ops._backend"):
        (out,), _, _ = ops.masked_gather([torch.arange(2.0)], keep, offset)
        ops.masked_gather([torch.arange(2.0)], keep, offset)
    assert out.tolist() == [0.0]
    warnings = [r for r in caplog.records if "python setup.py develop" in r.getMessage()]
    assert len(warnings) == 1  # warned once


def test_fused_available_matches_import():
    try:
        import dos_ops  # noqa: F401
    except ImportError:
        assert not ops.fused_available()
    else:
        assert ops.fused_available()
