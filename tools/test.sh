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
. tools/launch_common.sh

WEIGHT=model_best
while getopts "d:c:n:g:w:h" opt; do
    common_option "$opt"
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

[ -n "$DATASET" ] && [ -n "$NAME" ] || usage
check_count -g "$GPUS"
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
