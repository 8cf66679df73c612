#!/bin/sh
# Evaluate a checkpoint of exp/<dataset>/<name>/ on the test split.
#
#   sh tools/test.sh -d DATASET -n NAME [-c CONFIG] [-w WEIGHT_NAME] [-g NUM_GPUS] [-m NUM_NODES]
#                    [-p PYTHON] [-- --options k=v ...]
#
#   -d  dataset folder under configs/            -n  experiment name (folder under exp/<dataset>/)
#   -c  config name under configs/<dataset>/ (default: the run's saved config.py)
#   -w  checkpoint name in exp/.../model/ without .pth (default model_best)
#   -g  processes per node (default: the visible GPUs, 1 on a CPU-only machine; >1 uses torchrun)
#   -m  number of nodes (default: SLURM_NNODES under SLURM, else 1; $NNODES is train.sh's only)
#   -p  python interpreter
# Results go to exp/<dataset>/<name>/ (test.log, metrics.json, result/).
# Node layout as in tools/train.sh (tools/launch_common.sh). DRY_RUN=1 prints the command.
# Interpreter: $PYTHON if set (-p sets it), else .venv/bin/python if it exists, else python3.
set -eu
cd "$(dirname "$0")/.."
. tools/launch_common.sh

WEIGHT=model_best
while getopts "d:c:n:g:m:p:w:h" opt; do
    common_option "$opt"
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

[ -n "$DATASET" ] && [ -n "$NAME" ] || usage
resolve_layout
choose_python
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
launch tools/test.py "$@"
