"""The nuscenes-devkit's evaluation modules for the parity tests, or a visible skip.

The devkit's top-level package imports its visualisation API (OpenCV, scikit-learn); the
evaluation modules need only numpy, pyquaternion and ``nuscenes.utils``, so the package is entered
without running ``nuscenes/__init__.py``. ``nuscenes.eval.common.loaders`` names the ``NuScenes``
class only in type hints: the bare package gets a placeholder for it.
"""

import importlib
import importlib.util
import sys
import types

import pytest


def import_devkit(*names: str) -> list:
    """The modules ``names`` (e.g. ``"nuscenes.eval.detection.algo"``), entered as the module docstring says."""
    if "nuscenes" not in sys.modules:
        spec = importlib.util.find_spec("nuscenes")
        if spec is None:
            pytest.skip(
                "nuscenes-devkit is not installed (tools/setup.sh installs it): devkit parity not checked"
            )
        package = types.ModuleType("nuscenes")
        package.__spec__ = spec
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["nuscenes"] = package
    if not hasattr(sys.modules["nuscenes"], "NuScenes"):
        sys.modules["nuscenes"].NuScenes = None
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError as e:
        pytest.skip(f"nuscenes-devkit evaluation modules not importable ({e}): devkit parity not checked")
