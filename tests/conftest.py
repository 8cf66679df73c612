"""Shared test setup.

* The repository root goes on ``sys.path`` so tests can import ``tools.*`` helper packages (e.g.
  ``tools.demo_data``) whether pytest is started as ``python -m pytest`` or as ``pytest``.
* Device parametrisation: tests taking ``device`` run on CPU and on CUDA, the CUDA case skipped with a
  visible reason when no GPU is present (``pytest -v`` shows ``[cpu] PASSED`` and ``[cuda] SKIPPED``).
  ``fused_device`` is the same parameter for tests of the compiled ``dos_ops`` kernels; it also skips
  when the extension is not built or was built without kernels for that device (a CPU-only build on
  a GPU machine).
"""

import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
    ),
]


@pytest.fixture
def single_thread():
    """One torch thread for the test (in-process training runs beside other jobs), then restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def require_fused(device: torch.device) -> None:
    """Skip the calling test unless the dos_ops extension has kernels for ``device``."""
    import pointcept.ops as ops

    if not ops.fused_available():
        pytest.skip("dos_ops extension not built")
    key = "CUDA" if device.type == "cuda" else "CPU"
    if not torch._C._dispatch_has_kernel_for_dispatch_key("dos_ops::grid_pool", key):
        pytest.skip(f"dos_ops built without {device.type} kernels (rebuild with a CUDA torch and nvcc)")


@pytest.fixture
def fused_device(device) -> torch.device:
    require_fused(device)
    return device
