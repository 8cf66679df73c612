"""The CUDA kernels compile with plain ``nvcc -c`` (no torch headers), even on a machine without a GPU."""

import shutil
import subprocess
from pathlib import Path

import pytest

CUDA_DIR = Path(__file__).resolve().parents[1] / "libs" / "dos_ops" / "csrc" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))


def test_cuda_sources_see_no_torch():
    assert [p.name for p in SOURCES] == [
        "grid_pool.cu",
        "masked_gather.cu",
        "submconv.cu",
        "zipf_sinkhorn.cu",
    ]
    for path in [*SOURCES, *CUDA_DIR.glob("*.cuh"), CUDA_DIR / "launchers.h"]:
        text = path.read_text()
        assert (
            "#include <torch" not in text and "#include <ATen" not in text and "#include <c10" not in text
        ), path


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles(source, tmp_path):
    result = subprocess.run(
        ["nvcc", "-c", "-std=c++17", str(source), "-o", str(tmp_path / "kernel.o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kernel.o").stat().st_size > 0
