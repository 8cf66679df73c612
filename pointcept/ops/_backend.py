"""Choice between the compiled ``dos_ops`` kernels and the pure-torch references.

``"auto"`` (the default, or env var ``DOS_OPS_BACKEND``) uses a compiled kernel when the extension is
built and has one for the input's device, and otherwise the reference (warning once). ``"fused"``
raises when the extension or the device's kernel is missing; ``"reference"`` always uses the
references.
"""

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator

import torch

BACKENDS = ("auto", "fused", "reference")
BUILD_COMMAND = "cd libs/dos_ops && python setup.py develop"

logger = logging.getLogger(__name__)
_state = {"backend": None, "loaded": None, "warned": False}


def _check_name(name: object, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {BACKENDS}, got {name!r}")
    return name


def get_backend() -> str:
    """The current backend name; the env var ``DOS_OPS_BACKEND`` sets the initial value."""
    if _state["backend"] is None:
        _state["backend"] = _check_name(os.environ.get("DOS_OPS_BACKEND", "auto"), "DOS_OPS_BACKEND")
    return _state["backend"]


def set_backend(name: str) -> None:
    """Select ``"auto"``, ``"fused"`` or ``"reference"`` for all ``pointcept.ops`` calls."""
    _state["backend"] = _check_name(name, "backend")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager selecting a backend for the enclosed calls, restoring the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        _state["backend"] = previous


def fused_available() -> bool:
    """Whether the compiled extension imports (and its ops are registered)."""
    if _state["loaded"] is None:
        try:
            importlib.import_module("dos_ops")
        except ImportError as error:
            logger.debug("dos_ops extension not importable: %s", error)
            _state["loaded"] = False
        else:
            # Registering fake kernels and autograd needs the schemas, hence after the import.
            from pointcept.ops import _registrations

            _registrations.register()
            _state["loaded"] = True
    return _state["loaded"]


def _has_kernel(op_name: str, device: torch.device) -> bool:
    key = "CUDA" if device.type == "cuda" else "CPU" if device.type == "cpu" else None
    # An extension built before an op existed has no schema for it.
    if key is None or not hasattr(torch.ops.dos_ops, op_name):
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"dos_ops::{op_name}", key)


def kernel_available(op_name: str, device: torch.device) -> bool:
    """Whether ``op_name`` on ``device`` would run a compiled kernel (no warning, never raises)."""
    return get_backend() != "reference" and fused_available() and _has_kernel(op_name, device)


def use_fused(op_name: str, device: torch.device) -> bool:
    """Whether ``op_name`` on ``device`` runs the compiled kernel under the current backend."""
    backend = get_backend()
    if backend == "reference":
        return False
    if fused_available() and _has_kernel(op_name, device):
        return True
    if backend == "fused":
        what = "not built" if not fused_available() else f"built without a {device.type} kernel"
        raise RuntimeError(
            f"pointcept.ops backend 'fused' requested for {op_name} on {device.type}, but the dos_ops "
            f"extension is {what}; build it with: {BUILD_COMMAND}"
        )
    if not _state["warned"]:
        _state["warned"] = True
        logger.warning(
            "dos_ops kernels unavailable for %s on %s; using the slow pure-torch references. Build with: %s",
            op_name,
            device.type,
            BUILD_COMMAND,
        )
    return False
