#!/usr/bin/env bash
# Build the complete dos_ops extension (bindings.cpp, every .cu, linking) against a CUDA build of torch,
# in a throwaway venv, with the local nvcc; no GPU needed. Not part of CI (the venv takes ~5.5 GB).
#
#   bash tools/check_cuda_build.sh [--venv DIR] [--torch VERSION] [--python EXE] [--build-dir DIR]
#                                  [--cuda-home DIR] [--jobs N] [--reuse-venv] [--clean] [--remove-venv] [--help]
#
#   --venv DIR        throwaway venv (default /tmp/dos_ops_cuda_venv); an existing one is replaced only if
#                     this script made it, or reused as is with --reuse-venv
#   --torch VERSION   torch version to install (default 2.14.1; must resolve to a CUDA build)
#   --python EXE      interpreter for the venv (default python3.11, else python3)
#   --build-dir DIR   build products (default /tmp/dos_ops_cuda_build); nothing is written to the repo
#   --cuda-home DIR   CUDA toolkit with bin/nvcc (default $CUDA_HOME, else /usr/local/cuda, else from nvcc)
#   --jobs N          parallel compile jobs (MAX_JOBS, default 2)
#   --reuse-venv      keep an existing venv and its torch (skips the install phase when torch is there)
#   --clean           delete earlier build products first (default: ninja rebuilds only what changed)
#   --remove-venv     delete the venv at the end
#
# Exit codes (one "verdict:" line says which):
#   0  built and imported; the CUDA kernels are registered (a GPU, if present, was also exercised)
#   1  usage error
#   2  environment: venv, pip install, torch is not a CUDA build, or no nvcc
#   3  compile error (a .cpp or .cu did not compile)
#   4  link or load error (undefined symbol, missing library, kernels not registered, failed CPU smoke call)
#   5  built and linked; import stopped only by the missing NVIDIA driver / CUDA device
set -uo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV=/tmp/dos_ops_cuda_venv
TORCH_VERSION=2.14.1
PYTHON=""
BUILD_DIR=/tmp/dos_ops_cuda_build
CUDA_HOME_ARG="${CUDA_HOME:-}"
JOBS=2
REUSE=0
REMOVE=0
CLEAN=0
MARKER=.dos_ops_cuda_check

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
die_usage() {
    echo "check_cuda_build.sh: $1 (see --help)" >&2
    exit 1
}
need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ] || die_usage "$1 needs a value"; }

while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --venv) need_value "$@"; VENV="$2"; shift 2 ;;
    --torch) need_value "$@"; TORCH_VERSION="$2"; shift 2 ;;
    --python) need_value "$@"; PYTHON="$2"; shift 2 ;;
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --cuda-home) need_value "$@"; CUDA_HOME_ARG="$2"; shift 2 ;;
    --jobs)
        need_value "$@"
        case "$2" in '' | *[!0-9]* | 0*) die_usage "--jobs must be a positive integer, got '$2'" ;; esac
        JOBS="$2"
        shift 2
        ;;
    --reuse-venv) REUSE=1; shift ;;
    --remove-venv) REMOVE=1; shift ;;
    --clean) CLEAN=1; shift ;;
    *) die_usage "unknown argument '$1'" ;;
    esac
done
case "$VENV$BUILD_DIR" in *"$REPO"*) die_usage "--venv and --build-dir must lie outside the repository" ;; esac
if [ -z "$PYTHON" ]; then
    PYTHON=$(command -v python3.11 || command -v python3 || true)
    [ -n "$PYTHON" ] || die_usage "no python3.11 or python3 on PATH; pass --python"
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100)); } # milliseconds -> "12.3s"
T0=$(now_ms)
PHASE_T=$T0
TIMES=""
LOG="$BUILD_DIR/log"
phase_done() { # record the wall time of the phase that just ended
    local now
    now=$(now_ms)
    TIMES="$TIMES $1=$(secs $((now - PHASE_T)))"
    PHASE_T=$now
}
finish() { # exit code, verdict
    [ "$REMOVE" = 1 ] && [ -f "$VENV/$MARKER" ] && rm -rf "$VENV" && echo "[check] removed $VENV"
    echo "[check] times:${TIMES} total=$(secs $(($(now_ms) - T0)))"
    echo "verdict: $2 (exit $1)"
    exit "$1"
}
size_of() { du -sb "$1" 2>/dev/null | cut -f1; }
human() { numfmt --to=iec --suffix=B "${1:-0}"; }

# --- CUDA toolkit -------------------------------------------------------------------------------
if [ -z "$CUDA_HOME_ARG" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then
        CUDA_HOME_ARG=/usr/local/cuda
    elif command -v nvcc >/dev/null; then
        CUDA_HOME_ARG=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    fi
fi
mkdir -p "$BUILD_DIR" || die_usage "cannot create --build-dir $BUILD_DIR"
: >"$LOG"
if [ -z "$CUDA_HOME_ARG" ] || [ ! -x "$CUDA_HOME_ARG/bin/nvcc" ]; then
    finish 2 "environment: no CUDA toolkit (no nvcc; pass --cuda-home)"
fi
NVCC_VERSION=$("$CUDA_HOME_ARG/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
echo "[check] CUDA toolkit $CUDA_HOME_ARG (nvcc $NVCC_VERSION), python $PYTHON, torch==$TORCH_VERSION"

# --- venv ---------------------------------------------------------------------------------------
if [ -e "$VENV" ] && [ "$REUSE" = 0 ]; then
    [ -f "$VENV/$MARKER" ] || finish 2 "environment: $VENV exists and was not made by this script; remove it or pass --reuse-venv"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" >>"$LOG" 2>&1 || finish 2 "environment: '$PYTHON -m venv $VENV' failed (see $LOG)"
    touch "$VENV/$MARKER"
fi
PY="$VENV/bin/python"
phase_done venv

# --- torch --------------------------------------------------------------------------------------
# Download size: the wheels pip took (file:// sources are measured, remote ones are counted as unknown).
if "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" >/dev/null 2>&1; then
    echo "[check] torch $TORCH_VERSION already in $VENV (reused)"
else
    SIZE_BEFORE=$(size_of "$VENV")
    echo "[check] installing torch==$TORCH_VERSION into $VENV"
    "$PY" -m pip install --report "$BUILD_DIR/torch_report.json" "torch==$TORCH_VERSION" >>"$LOG" 2>&1 ||
        finish 2 "environment: pip install torch==$TORCH_VERSION failed (see $LOG)"
    "$PY" - "$BUILD_DIR/torch_report.json" <<'EOF'
import json, os, sys, urllib.parse, urllib.request
items = json.load(open(sys.argv[1]))["install"]
known = unknown = 0
for item in items:
    url = item["download_info"]["url"]
    if url.startswith("file://"):
        known += os.path.getsize(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    else:
        unknown += 1
print(f"[check] {len(items)} packages, wheels {known / 2**30:.2f} GiB" + (f" + {unknown} remote of unknown size" if unknown else ""))
EOF
    echo "[check] venv grew by $(human $(($(size_of "$VENV") - SIZE_BEFORE)))"
fi
phase_done torch
read -r TORCH_CUDA < <("$PY" -c "import torch; print(torch.version.cuda)" 2>>"$LOG")
[ -n "${TORCH_CUDA:-}" ] && [ "$TORCH_CUDA" != None ] ||
    finish 2 "environment: torch $TORCH_VERSION in $VENV is not a CUDA build (torch.version.cuda=${TORCH_CUDA:-?})"
echo "[check] torch $("$PY" -c 'import torch; print(torch.__version__)') built for CUDA $TORCH_CUDA"

# --- build requirements -------------------------------------------------------------------------
"$PY" -m pip install "setuptools<80" wheel numpy >>"$LOG" 2>&1 ||
    finish 2 "environment: pip install setuptools<80 wheel numpy failed (see $LOG)"
if "$PY" -m pip install ninja >>"$LOG" 2>&1; then NINJA=ninja; else NINJA="none (distutils backend)"; fi
echo "[check] build requirements installed (ninja: $NINJA); venv now $(human "$(size_of "$VENV")")"
phase_done requirements

# --- build --------------------------------------------------------------------------------------
# `setup.py build` with the base outside the tree: build_ext objects in temp.*, the package in lib.*.
[ "$CLEAN" = 1 ] && rm -rf "$BUILD_DIR/base"
echo "[check] building libs/dos_ops into $BUILD_DIR/base (MAX_JOBS=$JOBS, log $LOG)"
(
    cd "$REPO/libs/dos_ops" &&
        CUDA_HOME="$CUDA_HOME_ARG" MAX_JOBS="$JOBS" PATH="$VENV/bin:$CUDA_HOME_ARG/bin:$PATH" \
            "$PY" setup.py build --build-base "$BUILD_DIR/base" >>"$LOG" 2>&1
)
BUILD_RC=$?
rm -rf "$REPO/libs/dos_ops/dos_ops.egg-info" # setuptools may write it beside setup.py
phase_done build
if [ $BUILD_RC -ne 0 ]; then
    grep -n -E 'error|undefined reference|cannot find -l' "$LOG" | head -n 20
    if grep -q -E 'undefined reference|cannot find -l|ld returned' "$LOG"; then
        finish 4 "link error while building the extension (see $LOG)"
    fi
    finish 3 "compile error while building the extension (see $LOG)"
fi
grep -q "building CPU and CUDA kernels" "$LOG" || finish 2 "environment: setup.py did not select the CUDA build (see $LOG)"
SO=$(find "$BUILD_DIR/base" -path '*lib.*' -name '_C*.so' | head -n 1)
[ -n "$SO" ] || finish 4 "build produced no dos_ops/_C*.so (see $LOG)"
echo "[check] built $(basename "$SO") ($(human "$(stat -c %s "$SO")"))"

# --- import -------------------------------------------------------------------------------------
IMPORT_OUT="$BUILD_DIR/import.log"
PYTHONPATH="$(dirname "$(dirname "$SO")")" "$PY" - >"$IMPORT_OUT" 2>&1 <<'EOF'
import torch
import dos_ops  # noqa: F401  (registers torch.ops.dos_ops)

ops = ["masked_gather", "masked_gather_backward", "grid_pool", "grid_pool_max_backward",
       "grid_pool_mean_backward", "zipf_sinkhorn"]
for key in ("CPU", "CUDA"):
    missing = [op for op in ops if not torch._C._dispatch_has_kernel_for_dispatch_key(f"dos_ops::{op}", key)]
    assert not missing, f"no {key} kernel registered for {missing}"
# CPU smoke call: the compiled library runs, not only loads.
keep = torch.tensor([True, False, True])
out, kept, new_offset = torch.ops.dos_ops.masked_gather([torch.arange(3.0)], keep, torch.tensor([3]))
assert out[0].tolist() == [0.0, 2.0] and kept.tolist() == [0, 2] and new_offset.tolist() == [2], (out, kept)
print("registered CPU and CUDA kernels for", len(ops), "ops; CPU smoke call ok")
if torch.cuda.is_available():
    torch.cuda.init()
    dev = torch.device("cuda")
    out, kept, _ = torch.ops.dos_ops.masked_gather([torch.arange(3.0, device=dev)], keep.to(dev), torch.tensor([3], device=dev))
    assert out[0].tolist() == [0.0, 2.0], out
    print("CUDA smoke call ok on", torch.cuda.get_device_name())
else:
    torch.cuda.init()  # raises the driver/device error that says why CUDA is unavailable
EOF
IMPORT_RC=$?
phase_done import
cat "$IMPORT_OUT"
if [ $IMPORT_RC -eq 0 ]; then
    finish 0 "built and imported; CUDA kernels registered and run on the GPU"
fi
if grep -q -E 'undefined symbol|version .* not found' "$IMPORT_OUT"; then
    finish 4 "load error: undefined symbol in the built extension (see above)"
fi
if grep -q -i -E 'libcuda\.so|no CUDA GPUs|NVIDIA driver|no CUDA-capable device|CUDA driver|cudaErrorNoDevice|cudaErrorInsufficientDriver' "$IMPORT_OUT"; then
    grep -q "registered CPU and CUDA kernels" "$IMPORT_OUT" &&
        finish 5 "built and linked; import, kernel registration and CPU call ok; CUDA unusable only for lack of driver/device"
    finish 5 "built and linked; import stopped only by the missing NVIDIA driver (libcuda)"
fi
finish 4 "the built extension failed its import check (see above)"
