#!/bin/sh
# Evaluate a checkpoint of exp/<dataset>/<name>/ on the test split.
#
#   sh tools/test.sh -d DATASET -n NAME [-c CONFIG] [-w WEIGHT_NAME] [-g NUM_GPUS] [-- --options k=v ...]
#
#   -d  dataset folder under configs/            -n  experiment name (folder under exp/<dataset>/)
#   -c  config name under configs/<dataset>/ (default: the run's saved config.py)
#   -w  checkpoint name in exp/.../model/ without .pth (default model_best)
#   -g  processes per node (default 1; >1 uses torchrun)
# Results go to exp/<dataset>/<name>/ (test.log, metrics.json, result/).
# Interpreter: $PYTHON if set, else .venv/bin/python if it exists, else python3.
set -eu
cd "$(dirname "$0")/.."

DATASET=""
CONFIG=""
NAME=""
GPUS=1
WEIGHT=model_best
usage() {
    sed -n '4,11p' "$0" >&2
    exit 2
}
# A positive integer, else exit 2 naming the flag (before anything starts).
check_count() {
    case "$2" in
    '' | *[!0-9]* | 0*)
        echo "test.sh: $1 must be a positive integer, got '$2'" >&2
        exit 2
        ;;
    esac
}
while getopts "d:c:n:g:w:h" opt; do
    case "$opt" in
    d) DATASET=$OPTARG ;;
    c) CONFIG=$OPTARG ;;
    n) NAME=$OPTARG ;;
    g) GPUS=$OPTARG ;;
    w) WEIGHT=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

[ -n "$DATASET" ] && [ -n "$NAME" ] || usage
check_count -g "$GPUS"
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
EXP_DIR="exp/$DATASET/$NAME"
if [ -n "$CONFIG" ]; then CONFIG_FILE="configs/$DATASET/$CONFIG.py"; else CONFIG_FILE="$EXP_DIR/config.py"; fi
WEIGHT_FILE="$EXP_DIR/model/$WEIGHT.pth"
for f in "$CONFIG_FILE" "$WEIGHT_FILE"; do
    if [ ! -f "$f" ]; then
        echo "test.sh: file not found: $f" >&2
        exit 2
    fi
done
set -- --config-file "$CONFIG_FILE" --options "save_path=$EXP_DIR" "weight=$WEIGHT_FILE" "$@"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
if [ "$GPUS" -gt 1 ]; then
    exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" tools/test.py "$@"
fi
exec "$PYTHON" tools/test.py "$@"
