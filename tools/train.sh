#!/bin/sh
# Launch training of configs/<dataset>/<config>.py into exp/<dataset>/<name>/.
#
#   sh tools/train.sh -d DATASET -c CONFIG [-n NAME] [-g NUM_GPUS] [-m NUM_NODES] [-p PYTHON]
#                     [-r true | -o] [-w WEIGHT] [-- --options k=v ...]
#
#   -d  dataset folder under configs/            -c  config name without .py
#   -n  experiment name (default: CONFIG)
#   -g  processes per node (default: the visible GPUs, 1 on a CPU-only machine; >1 uses torchrun)
#   -m  number of nodes (default: SLURM_NNODES under SLURM, else $NNODES, else 1)
#   -p  python interpreter (default: $PYTHON if set, else .venv/bin/python if it exists, else python3)
#   -r  true: resume the run from its own exp/.../model/model_last.pth with its saved config.py
#       (-w only initialises a run that has no checkpoint yet)
#   -o  overwrite: delete the run already in exp/<dataset>/<name>/ first (else training refuses)
#   -w  checkpoint to initialise the model from (weight=...)
# Arguments after -- go to tools/train.py unchanged (e.g. -- --options batch_size=4 max_steps=100;
# --debug shows the traceback of configuration/data errors).
# Multi-node: run this once per node with -m N (or NNODES) and NODE_RANK, MASTER_ADDR, MASTER_PORT
# in the environment; under SLURM (srun --ntasks-per-node=1 sh tools/train.sh ...) they come from
# SLURM_NNODES, SLURM_NODEID and the first host of SLURM_JOB_NODELIST unless given (see
# tools/launch_common.sh). DRY_RUN=1 prints the command instead of running it.
# Interpreter: $PYTHON if set (-p sets it), else .venv/bin/python if it exists, else python3.
set -eu
cd "$(dirname "$0")/.."
. tools/launch_common.sh

RESUME=false
WEIGHT=""
OVERWRITE=false
while getopts "d:c:n:g:m:p:r:w:oh" opt; do
    case "$opt" in
    r) RESUME=$OPTARG ;;
    o) OVERWRITE=true ;;
    *) common_option "$opt" ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

[ -n "$DATASET" ] && [ -n "$CONFIG" ] || usage
resolve_layout env
NAME=${NAME:-$CONFIG}
choose_python
EXP_DIR="exp/$DATASET/$NAME"
CONFIG_FILE="configs/$DATASET/$CONFIG.py"
case "$RESUME" in
true | True | 1)
    RESUME=True
    # A resumed run continues with the configuration it started with.
    [ -f "$EXP_DIR/config.py" ] && CONFIG_FILE="$EXP_DIR/config.py"
    ;;
false | False | 0) RESUME=False ;;
*)
    echo "train.sh: -r must be true or false, got '$RESUME'" >&2
    exit 2
    ;;
esac
if [ "$RESUME" = True ] && [ "$OVERWRITE" = true ]; then
    echo "train.sh: -r true (resume the run) and -o (overwrite it) exclude each other" >&2
    exit 2
fi
if [ ! -f "$CONFIG_FILE" ]; then
    echo "train.sh: config file not found: $CONFIG_FILE" >&2
    exit 2
fi
[ "${DRY_RUN:-0}" = 1 ] || mkdir -p "$EXP_DIR/model"

# Options for tools/train.py go in front of the user's extra arguments, so the user's win.
[ -n "$WEIGHT" ] && set -- --options "weight=$WEIGHT" "$@"
[ "$OVERWRITE" = true ] && set -- --options "overwrite=True" "$@"
set -- --config-file "$CONFIG_FILE" --options "save_path=$EXP_DIR" "resume=$RESUME" "$@"
echo "[train.sh] $CONFIG_FILE -> $EXP_DIR (processes per node: $GPUS, nodes: $NNODES, python: $PYTHON)"
launch tools/train.py "$@"
