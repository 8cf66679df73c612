"""tools/spconv_wheel.py: torch's CUDA version -> the spconv wheel tools/setup.sh installs."""

import os
import subprocess
import sys

import pytest
import torch

from tools.spconv_wheel import SPCONV_WHEELS, parse_cuda, spconv_package

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "cuda, package",
    [
        (None, "spconv-cu120"),  # CPU torch: the cu120 wheel runs on CPU (ConvAlgo.Native)
        ("cpu", "spconv-cu120"),
        ("11.8", "spconv-cu118"),
        ("12.0", "spconv-cu120"),
        ("12.1", "spconv-cu121"),
        ("12.4", "spconv-cu124"),
        ("12.6", "spconv-cu126"),
        ("12.8", "spconv-cu126"),  # newest wheel of the same major, not newer than torch's CUDA
        ("12.2", "spconv-cu121"),
        ("11.5", "spconv-cu114"),
        ("10.2", "spconv-cu102"),
        ("12.4.1", "spconv-cu124"),
    ],
)
def test_mapping(cuda, package):
    assert spconv_package(cuda) == package


def test_versions_without_a_wheel_and_bad_text_are_refused():
    with pytest.raises(
        ValueError, match=r"no spconv wheel for CUDA 13\.0 \(wheels exist for CUDA 10\.2, 11\.1"
    ):
        spconv_package("13.0")
    with pytest.raises(ValueError, match=r"no spconv wheel for CUDA 11\.0"):
        spconv_package("11.0")
    with pytest.raises(ValueError, match=r"not a CUDA version: 'twelve'"):
        parse_cuda("twelve")
    assert all(name == f"spconv-cu{a}{b}" for (a, b), name in SPCONV_WHEELS.items())


def test_command_line_reads_the_installed_torch():
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, os.path.join(REPO, "tools", "spconv_wheel.py"), *a], capture_output=True, text=True
    )
    assert run().stdout == spconv_package(torch.version.cuda) + "\n"
    assert run("--cuda", "11.7").stdout == "spconv-cu117\n"
    bad = run("--cuda", "9.0")
    assert bad.returncode == 2 and bad.stderr.startswith("spconv_wheel.py: no spconv wheel for CUDA 9.0")
