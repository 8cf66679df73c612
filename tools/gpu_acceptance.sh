#!/usr/bin/env bash
# One-command GPU acceptance (at most ~10 minutes on one GPU), in the current environment:
#   1. build libs/dos_ops with CUDA (python setup.py develop) and check the CUDA kernels are registered
#   2. run the CUDA-parametrised tests (ops parity/gradients/opcheck, attention incl. flash-attn vs
#      SDPA and bf16 autocast, losses, DOS loss)
#   3. tools/bench_ops.py --device cuda (ratios against the torch CUDA references, GB/s against copy)
#   4. one DOS pretraining step of the full recipe (configs/semantic_kitti/pretrain-dos.py) in bf16,
#      flash attention if installed, on a generated LiDAR scan
# then writes one JSON report and prints a summary.
#
#   bash tools/gpu_acceptance.sh [--fast] [--report FILE] [--python EXE] [--help]
#
#   --fast          on a CPU-only machine: skip the CPU benchmark and pretraining step too (checks only)
#   --report FILE   JSON report (default gpu_acceptance.json in the current directory)
#   --python EXE    interpreter of the environment to test (default $PYTHON, else python)
#
# Without a usable GPU: the build is skipped (the installed CPU build stays as it is), the CUDA tests
# are collected and reported as skipped, and unless --fast the benchmark runs on CPU and the
# pretraining step uses the tiny config on CPU; the report's "skipped" list says what did not run.
# Exit: 0 when nothing failed (skips allowed), 1 when a phase failed, 2 on a usage error.
set -uo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
FAST=0
REPORT="$PWD/gpu_acceptance.json"
PY="${PYTHON:-python}"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --fast) FAST=1; shift ;;
    --report)
        [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_acceptance.sh: --report needs a file (see --help)" >&2; exit 2; }
        REPORT="$2"
        shift 2
        ;;
    --python)
        [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_acceptance.sh: --python needs an interpreter (see --help)" >&2; exit 2; }
        PY="$2"
        shift 2
        ;;
    *)
        echo "gpu_acceptance.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
done
command -v "$PY" >/dev/null || { echo "gpu_acceptance.sh: interpreter '$PY' not found" >&2; exit 2; }
mkdir -p "$(dirname "$REPORT")" || exit 2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_acceptance.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# record PHASE STATUS SECONDS REASON [LOG]: one JSON file per phase (status ran|failed|skipped).
record() {
    "$PY" - "$WORK/phase_$1.json" "$@" <<'EOF'
import json, sys
out, name, status, seconds, reason = sys.argv[1:6]
log = sys.argv[6] if len(sys.argv) > 6 else None
entry = dict(name=name, status=status, seconds=round(float(seconds), 1), reason=reason or None)
if log:
    lines = open(log, errors="replace").read().splitlines()
    entry["log_tail"] = lines[-15:]
json.dump(entry, open(out, "w"))
EOF
    printf '[acceptance] %-9s %-7s %6.1fs  %s\n' "$1" "$2" "$3" "$4"
}
seconds_since() { echo "$(($(now_ms) - $1))" | awk '{printf "%.1f", $1 / 1000}'; }

# --- environment --------------------------------------------------------------------------------
"$PY" - >"$WORK/env.json" <<'EOF' || { echo "gpu_acceptance.sh: '$PY' cannot import torch" >&2; exit 2; }
import importlib.util, json, shutil
import torch
cuda = torch.cuda.is_available()
print(json.dumps(dict(
    torch=torch.__version__,
    torch_cuda=torch.version.cuda,
    cuda_available=cuda,
    device=torch.cuda.get_device_name(0) if cuda else None,
    capability=".".join(map(str, torch.cuda.get_device_capability(0))) if cuda else None,
    flash_attn=importlib.util.find_spec("flash_attn") is not None,
    nvcc=shutil.which("nvcc"),
)))
EOF
CUDA=$("$PY" -c "import json,sys; print(int(json.load(open(sys.argv[1]))['cuda_available']))" "$WORK/env.json")
echo "[acceptance] $(cat "$WORK/env.json")"
if [ "$CUDA" = 1 ]; then DEV=cuda; else DEV=cpu; fi
NO_CUDA_REASON="no usable CUDA device (torch.cuda.is_available() is False)"

# --- 1. build -----------------------------------------------------------------------------------
T=$(now_ms)
if [ "$CUDA" = 1 ]; then
    if (cd "$REPO/libs/dos_ops" && timeout 480 "$PY" setup.py develop) >"$WORK/build.log" 2>&1 &&
        "$PY" -c "
import torch, pointcept.ops as ops
assert ops.fused_available(), 'dos_ops does not import'
for op in ('masked_gather', 'grid_pool', 'zipf_sinkhorn'):
    assert torch._C._dispatch_has_kernel_for_dispatch_key('dos_ops::' + op, 'CUDA'), op + ': no CUDA kernel'
" >>"$WORK/build.log" 2>&1; then
        record build ran "$(seconds_since "$T")" "setup.py develop with CUDA kernels" "$WORK/build.log"
    else
        record build failed "$(seconds_since "$T")" "build or CUDA kernel registration failed" "$WORK/build.log"
    fi
else
    record build skipped 0 "$NO_CUDA_REASON; the installed CPU build is left as it is"
fi

# --- 2. CUDA-parametrised tests -----------------------------------------------------------------
T=$(now_ms)
TESTS=(tests/test_ops_masked_gather.py tests/test_ops_grid_pool.py tests/test_ops_zipf_sinkhorn.py
    tests/test_attention.py tests/test_losses.py tests/test_dos_model.py)
(cd "$REPO" && timeout 300 "$PY" -m pytest -q -p no:cacheprovider -k "cuda or real_flash" \
    --junitxml="$WORK/tests.xml" "${TESTS[@]}") >"$WORK/tests.log" 2>&1
RC=$?
if [ "$RC" = 0 ] && [ "$CUDA" = 1 ]; then
    record tests ran "$(seconds_since "$T")" "CUDA cases of ${#TESTS[@]} test files" "$WORK/tests.log"
elif [ "$RC" = 0 ]; then
    record tests skipped "$(seconds_since "$T")" "$NO_CUDA_REASON; the CUDA cases were collected and skipped" "$WORK/tests.log"
elif ! "$PY" -c "import pytest" >/dev/null 2>&1; then
    record tests failed "$(seconds_since "$T")" "pytest is not installed: bash tools/setup.sh --dev (or pip install -r requirements-dev.txt)" "$WORK/tests.log"
else
    record tests failed "$(seconds_since "$T")" "pytest exit $RC" "$WORK/tests.log"
fi

# Phases 3 and 4 run on CPU too (unless --fast): skip_fast PHASE WHAT records the --fast skip;
# run_phase PHASE START LOG OK FAIL -- CMD... records ran/failed from CMD's exit status.
skip_fast() {
    [ "$CUDA" = 0 ] && [ "$FAST" = 1 ] && record "$1" skipped 0 "$NO_CUDA_REASON; --fast skips $2"
}
run_phase() {
    local phase=$1 start=$2 log=$3 ok=$4 fail=$5
    shift 6
    if (cd "$REPO" && "$@") >>"$log" 2>&1; then
        record "$phase" ran "$(seconds_since "$start")" "$ok" "$log"
    else
        record "$phase" failed "$(seconds_since "$start")" "$fail" "$log"
    fi
}

# --- 3. bench_ops -------------------------------------------------------------------------------
T=$(now_ms)
if ! skip_fast bench_ops "the CPU benchmark"; then
    REPEAT=5
    [ "$CUDA" = 1 ] || REPEAT=1
    run_phase bench_ops "$T" "$WORK/bench_ops.log" "on $DEV" "tools/bench_ops.py --device $DEV failed" -- \
        timeout 240 "$PY" tools/bench_ops.py --device "$DEV" --repeat "$REPEAT"
fi

# --- 4. one pretraining step --------------------------------------------------------------------
T=$(now_ms)
if ! skip_fast pretrain "the CPU pretraining step"; then
    if [ "$CUDA" = 1 ]; then
        CONFIG=configs/semantic_kitti/pretrain-dos.py SIZE=0 SENSOR="SensorConfig()" # whole scan
    else # the full recipe takes minutes per step on a CPU; the tiny one runs the same code path
        CONFIG=configs/semantic_kitti/pretrain-dos-tiny.py SIZE=8000 SENSOR="SensorConfig(beams=32, azimuth_steps=512)"
    fi
    (cd "$REPO" && "$PY" -c "
from tools.demo_data import SensorConfig, write_semantic_kitti
write_semantic_kitti('$WORK/kitti', {'00': 1}, $SENSOR, seed=1, with_labels=False)
") >"$WORK/pretrain.log" 2>&1
    run_phase pretrain "$T" "$WORK/pretrain.log" \
        "$CONFIG on $DEV with the config's amp_dtype (bf16 in the full recipe)" "tools/bench_pretrain.py --case failed" -- \
        timeout 300 "$PY" tools/bench_pretrain.py --case --device "$DEV" --amp --backends fused \
        --config "$CONFIG" --sizes "$SIZE" --repeats 1 --scan "$WORK/kitti/dataset/sequences/00/velodyne/000000.bin"
fi

# --- report -------------------------------------------------------------------------------------
"$PY" - "$WORK" "$REPORT" "$FAST" <<'EOF'
import json, os, re, sys
import xml.etree.ElementTree as ET

work, report_path, fast = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
env = json.load(open(os.path.join(work, "env.json")))
phases = {}
for name in ("build", "tests", "bench_ops", "pretrain"):
    phases[name] = json.load(open(os.path.join(work, f"phase_{name}.json")))

xml_path = os.path.join(work, "tests.xml")
if os.path.exists(xml_path):
    counts = dict(passed=0, failed=0, skipped=0)
    reasons = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif skipped is not None:
            counts["skipped"] += 1
            reason = skipped.get("message", "").removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
        else:
            counts["passed"] += 1
    phases["tests"].update(counts, skip_reasons=reasons)

bench_log = os.path.join(work, "bench_ops.log")
if phases["bench_ops"]["status"] == "ran":
    text = open(bench_log).read()
    phases["bench_ops"]["speedups"] = [
        dict(op=m[1], case=m[2], speedup=float(m[3]), baseline=m[4])
        for m in re.finditer(r"^(\w+) (.+?): ([\d.]+)x vs (.+)$", text, re.M)
    ]
    m = re.search(r"masked_gather: ([\d.]+) GB/s moved vs copy bandwidth ([\d.]+) GB/s", text)
    if m:
        phases["bench_ops"]["gather_gb_s"], phases["bench_ops"]["copy_gb_s"] = float(m[1]), float(m[2])

if phases["pretrain"]["status"] == "ran":
    lines = [l for l in open(os.path.join(work, "pretrain.log")).read().splitlines() if l.startswith("{")]
    result = json.loads(lines[-1])
    keep = ("device", "attention", "amp", "points", "first_s", "step_s", "losses", "dos_ops_calls", "cuda_peak_mb")
    phases["pretrain"]["result"] = {k: result[k] for k in keep if k in result}

skipped = [f"{name}: {p['reason']}" for name, p in phases.items() if p["status"] == "skipped"]
if not env["cuda_available"]:
    skipped.insert(0, "cuda: every CUDA check (no usable CUDA device)")
if env["cuda_available"] and not env["flash_attn"]:
    skipped.append("flash_attn: not installed; attention ran torch SDPA")
failed = [name for name, p in phases.items() if p["status"] == "failed"]
report = dict(ok=not failed, cuda=env["cuda_available"], fast=fast, env=env, phases=phases, skipped=skipped, failed=failed)
with open(report_path, "w") as f:
    json.dump(report, f, indent=2)

print("=" * 72)
print(f"GPU acceptance on {env['device'] or 'CPU only'} (torch {env['torch']}, CUDA {env['torch_cuda']}, "
      f"flash-attn {'yes' if env['flash_attn'] else 'no'})")
for name, p in phases.items():
    line = f"  {name:<9} {p['status']:<7} {p['seconds']:6.1f}s  {p['reason'] or ''}"
    if name == "tests" and "passed" in p:
        line += f" [{p['passed']} passed, {p['failed']} failed, {p['skipped']} skipped]"
    print(line)
for s in phases["bench_ops"].get("speedups", []):
    print(f"    {s['op']} {s['case']}: {s['speedup']}x vs {s['baseline']}")
if "gather_gb_s" in phases["bench_ops"]:
    print(f"    masked_gather {phases['bench_ops']['gather_gb_s']} GB/s vs copy {phases['bench_ops']['copy_gb_s']} GB/s")
if "result" in phases["pretrain"]:
    r = phases["pretrain"]["result"]
    print(f"    pretrain step: {r.get('points')} points, {r.get('step_s', 0):.2f} s, loss {r.get('losses')}, "
          f"attention {r.get('attention')}, amp {r.get('amp')}")
for s in skipped:
    print(f"  SKIPPED {s}")
print(f"verdict: {'PASS' if not failed else 'FAIL (' + ', '.join(failed) + ')'}"
      f"{'' if env['cuda_available'] else ' (CPU only: CUDA checks skipped)'}; report {report_path}")
sys.exit(1 if failed else 0)
EOF
