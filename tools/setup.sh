#!/usr/bin/env bash
# Set up a virtual environment with everything the project needs, on a fresh machine.
#   bash tools/setup.sh            -> .venv with torch, requirements, spconv, pointcept (editable) and dos_ops built
#   bash tools/setup.sh --dev      -> the same plus the development tools of requirements-dev.txt (pytest, ruff)
#                                     and nuscenes-devkit (the reference of the detection-metric parity tests)
# Environment: PYTHON (interpreter, default python3), VENV (default .venv), TORCH_VERSION (default 2.13.0,
# used only when the venv has no torch yet; install your CUDA torch into the venv first to keep it),
# DEV=1 (same as --dev), SPCONV_PACKAGE (spconv package to install instead of the one
# tools/spconv_wheel.py picks for the venv's torch: spconv-cuXYZ matching torch.version.cuda, spconv-cu120
# for a CPU torch; SPCONV_PACKAGE=none installs none).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
DEV=${DEV:-0}
for arg in "$@"; do
    case "$arg" in
    --dev) DEV=1 ;;
    *)
        echo "setup.sh: unknown argument '$arg' (usage: bash tools/setup.sh [--dev])" >&2
        exit 2
        ;;
    esac
done

LAST=$SECONDS
took() { # the duration of the step that just ended
    echo "[setup]   $((SECONDS - LAST)) s"
    LAST=$SECONDS
}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$(cd "$VENV" && pwd)/bin/python"
"$PY" -m pip install -q --upgrade "pip>=23" >/dev/null 2>&1 || true
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing torch==$TORCH_VERSION"
    "$PY" -m pip install -q "torch==$TORCH_VERSION"
    took
fi
echo "[setup] installing requirements"
"$PY" -m pip install -q -r requirements.txt
took
SPCONV=${SPCONV_PACKAGE:-$("$PY" tools/spconv_wheel.py)}
if [ "$SPCONV" != none ]; then
    # Two spconv-cuXYZ packages would overwrite each other's files: keep only the chosen one.
    other=$("$PY" -m pip list --format=freeze 2>/dev/null | grep -i '^spconv' | cut -d= -f1 | grep -vix "$SPCONV" || true)
    if [ -n "$other" ]; then
        echo "[setup] replacing $(echo $other) by $SPCONV"
        "$PY" -m pip uninstall -q -y $other
    fi
    echo "[setup] installing $SPCONV (torch CUDA: $("$PY" -c 'import torch; print(torch.version.cuda or "none")'))"
    "$PY" -m pip install -q "$SPCONV"
    took
fi
if [ "$DEV" = 1 ]; then
    echo "[setup] installing development tools (requirements-dev.txt)"
    "$PY" -m pip install -q -r requirements-dev.txt
    # The reference of the detection-metric and box-reader parity tests (see requirements.txt):
    # --no-deps, as its metadata pins numpy<2; `import nuscenes` needs the packages of the second line.
    "$PY" -m pip install -q --no-deps nuscenes-devkit==1.2.0 pyquaternion opencv-python-headless
    "$PY" -m pip install -q scikit-learn cachetools shapely
    took
fi
echo "[setup] installing pointcept (editable)"
"$PY" -m pip install -q --no-build-isolation --no-deps -e .
took
echo "[setup] building libs/dos_ops"
(cd libs/dos_ops && "$PY" setup.py develop >/tmp/dos_ops_build.log 2>&1) || {
    tail -n 40 /tmp/dos_ops_build.log
    echo "[setup] building libs/dos_ops failed (log above)"
    exit 1
}
took
"$PY" -c "import torch, pointcept.ops as ops; print('[setup] torch', torch.__version__, '| dos_ops fused kernels:', ops.fused_available())"
echo "[setup] done in $SECONDS s"
