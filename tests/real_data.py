"""The one place tests find the real sample data (folders ``semantic_kitti/dataset/sequences``,
``nuscenes/...``, ``scannet/...``, see the data's ``SOURCES.md``).

The location is ``$DOS_REAL_DATA`` when set, else ``../shared/data/real`` relative to the repository
root. A test that needs a sample asks ``real_path`` for it and marks itself with ``skip_unless_real(...)``,
which skips it with a reason naming the missing path and the variable, so a missing data folder is
visible in the pytest summary instead of silently passing."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_VAR = "DOS_REAL_DATA"
DEFAULT_REAL_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "real"))
REAL_DATA = os.environ.get(ENV_VAR) or DEFAULT_REAL_DATA


def real_path(*parts: str) -> str:
    """Path of a real sample, ``REAL_DATA/<parts>`` (it may not exist)."""
    return os.path.join(REAL_DATA, *parts)


def missing_reason(path: str) -> str:
    return (
        f"real sample data not found at {path} (real-data root {REAL_DATA}; set {ENV_VAR} to the folder "
        f"holding semantic_kitti/, nuscenes/, scannet/, default <repo>/../shared/data/real)"
    )


def skip_unless_real(*parts: str) -> pytest.MarkDecorator:
    """Skip marker for tests that read ``real_path(*parts)``: skips, with the path and the env var in
    the reason, when it does not exist."""
    path = real_path(*parts)
    return pytest.mark.skipif(not os.path.exists(path), reason=missing_reason(path))
