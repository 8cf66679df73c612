# Command-line handling shared by tools/train.sh and tools/test.sh (POSIX sh; sourced, not run).
#
# The caller cds to the project root and sources this file (`. tools/launch_common.sh`). Messages
# start with the caller's file name; errors in the command line exit 2 before anything starts.

# Set by the options both scripts take (common_option).
DATASET=""
CONFIG=""
NAME=""
GPUS=1

# The caller's usage text: its header comment from line 4 to the first line that is not a comment.
usage() {
    awk 'NR < 4 {next} /^#/ {print; next} {exit}' "$0" >&2
    exit 2
}

# A positive integer, else exit 2 naming the flag (before anything starts).
check_count() {
    case "$2" in
    '' | *[!0-9]* | 0*)
        echo "$(basename "$0"): $1 must be a positive integer, got '$2'" >&2
        exit 2
        ;;
    esac
}

# One option letter from getopts that both scripts take: -d -c -n -g -w; any other is a usage error.
common_option() {
    case "$1" in
    d) DATASET=$OPTARG ;;
    c) CONFIG=$OPTARG ;;
    n) NAME=$OPTARG ;;
    g) GPUS=$OPTARG ;;
    w) WEIGHT=$OPTARG ;;
    *) usage ;;
    esac
}

# PYTHON: as set, else the project's .venv/bin/python if it exists, else python3.
choose_python() {
    if [ -z "${PYTHON:-}" ]; then
        if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
    fi
}

# launch tools/X.py ARGS...: exec X with the project on PYTHONPATH, as GPUS processes on this node
# (through torchrun when GPUS > 1).
launch() {
    export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
    if [ "$GPUS" -gt 1 ]; then
        exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" "$@"
    fi
    exec "$PYTHON" "$@"
}

# launch_on_nodes tools/X.py ARGS...: as launch, on each of NNODES nodes; torchrun (when GPUS > 1
# or NNODES > 1) gets the node layout from NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT.
launch_on_nodes() {
    export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
    if [ "$GPUS" -gt 1 ] || [ "$NNODES" -gt 1 ]; then
        exec "$PYTHON" -m torch.distributed.run \
            --nnodes="$NNODES" --node_rank="${NODE_RANK:-0}" \
            --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}" \
            --nproc_per_node="$GPUS" "$@"
    fi
    exec "$PYTHON" "$@"
}
