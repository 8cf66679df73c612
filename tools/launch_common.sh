# Command-line handling and process launch shared by tools/train.sh and tools/test.sh (POSIX sh;
# sourced, not run).
#
# The caller cds to the project root and sources this file (`. tools/launch_common.sh`). Messages
# start with the caller's file name; errors in the command line exit 2 before anything starts.
# `launch` is the one place that turns the resolved layout into a command: a plain interpreter
# for one process, else torchrun, whose environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
# MASTER_PORT) pointcept/engines/launch.py reads in every process.
#
# Layout resolution (resolve_layout), each value from the first source that has it:
#   processes per node  -g; else the visible GPUs: the entries of CUDA_VISIBLE_DEVICES before the
#                       first empty, negative ("-1") or "NoDevFiles" one when it is set, else the
#                       "GPU n:" lines of `nvidia-smi -L`; no GPU -> 1 process on CPU (logged)
#   nodes               -m; else SLURM_NNODES under SLURM; else $NNODES (train.sh only); else 1
#   node rank           $NODE_RANK; else SLURM_NODEID under SLURM; else 0
#   master address      $MASTER_ADDR; else under SLURM the first host of SLURM_JOB_NODELIST
#                       (`scontrol show hostnames`, else first_host below); else 127.0.0.1
#   master port         $MASTER_PORT; else under SLURM 20000 + SLURM_JOB_ID % 10000 (the same on
#                       every node of a job, different for jobs sharing a node); else 29500
# "Under SLURM" means SLURM_JOB_ID and SLURM_NNODES are set. Start the script once per node
# (`srun --ntasks-per-node=1 sh tools/train.sh ...`): torchrun starts the per-GPU processes.
# DRY_RUN=1 prints the resolved command instead of running it (and creates nothing).

# Set by the options both scripts take (common_option).
DATASET=""
CONFIG=""
NAME=""
GPUS=""
GPUS_GIVEN=false
MACHINES=""

# The caller's usage text: its header comment from line 4 to the first line that is not a comment.
usage() {
    awk 'NR < 4 {next} /^#/ {print; next} {exit}' "$0" >&2
    exit 2
}

# An integer of the given kind, else exit 2 naming its source (before anything starts).
check_int() {
    case "$2" in
    '' | *[!0-9]* | 0*)
        echo "$(basename "$0"): $1 must be $3, got '$2'" >&2
        exit 2
        ;;
    esac
}
check_count() { check_int "$1" "$2" "a positive integer"; }
check_index() { [ "$2" = 0 ] || check_int "$1" "$2" "a non-negative integer"; }

# One option letter from getopts that both scripts take: -d -c -n -g -m -p -w; any other is a
# usage error.
common_option() {
    case "$1" in
    d) DATASET=$OPTARG ;;
    c) CONFIG=$OPTARG ;;
    n) NAME=$OPTARG ;;
    g) GPUS=$OPTARG GPUS_GIVEN=true ;;
    m)
        check_count -m "$OPTARG"
        MACHINES=$OPTARG
        ;;
    p) PYTHON=$OPTARG ;;
    w) WEIGHT=$OPTARG ;;
    *) usage ;;
    esac
}

# PYTHON: -p or as set, else the project's .venv/bin/python if it exists, else python3.
choose_python() {
    if [ -z "${PYTHON:-}" ]; then
        if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
    fi
}

say() {
    echo "[$(basename "$0")] $*"
}

# Number of visible GPUs and where it was read, as "COUNT SOURCE" (see the header).
visible_gpus() {
    if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
        echo "$CUDA_VISIBLE_DEVICES" | awk -F, '{
            n = 0
            for (i = 1; i <= NF; i++) { if ($i == "" || $i ~ /^-/ || $i == "NoDevFiles") break; n++ }
            print n, "CUDA_VISIBLE_DEVICES"
        }'
    elif command -v nvidia-smi >/dev/null 2>&1; then
        echo "$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU [0-9]') nvidia-smi"
    else
        echo "0 none"
    fi
}

# first_host NODELIST: the first host of a SLURM node list without scontrol. Bracket groups are
# expanded to their first element: "gpu[003-010,012],cpu01" -> "gpu003",
# "rack[2-3]-n[07-09]" -> "rack2-n07", "a01,b02" -> "a01".
first_host() {
    echo "$1" | awk '{
        out = ""; inside = 0; taken = 0
        for (i = 1; i <= length($0); i++) {
            c = substr($0, i, 1)
            if (!inside && c == ",") break
            if (c == "[") { inside = 1; taken = 0; continue }
            if (c == "]") { inside = 0; continue }
            if (inside) { if (c == "-" || c == ",") taken = 1; if (!taken) out = out c; continue }
            out = out c
        }
        print out
    }'
}

# resolve_layout [env]: set GPUS, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT (see the header);
# "env" lets $NNODES choose the node count (train.sh's multi-node interface). Logs each choice.
resolve_layout() {
    LAYOUT_ENV=${1:-}
    PORT_GIVEN=${MASTER_PORT:+yes}
    if [ "$GPUS_GIVEN" = false ]; then
        set -- "${1:-}" $(visible_gpus)
        if [ "$2" -gt 0 ]; then
            GPUS=$2
            say "$GPUS visible GPU(s) (from $3): $GPUS process(es) per node"
        else
            GPUS=1
            say "no GPU visible (CUDA_VISIBLE_DEVICES / nvidia-smi): 1 process on CPU"
        fi
    fi
    check_count -g "$GPUS"
    SLURM=false
    if [ -n "${SLURM_JOB_ID:-}" ] && [ -n "${SLURM_NNODES:-}" ]; then SLURM=true; fi
    if [ -n "$MACHINES" ]; then
        NNODES=$MACHINES
    elif [ "$SLURM" = true ]; then
        NNODES=$SLURM_NNODES
    elif [ "${1:-}" = env ] && [ -n "${NNODES:-}" ]; then
        :
    else
        NNODES=1
    fi
    check_count -m "$NNODES"
    if [ -z "${NODE_RANK:-}" ]; then
        if [ "$SLURM" = true ]; then NODE_RANK=${SLURM_NODEID:-0}; else NODE_RANK=0; fi
    fi
    check_index NODE_RANK "$NODE_RANK"
    if [ "$NODE_RANK" -ge "$NNODES" ]; then
        echo "$(basename "$0"): node rank $NODE_RANK is not below the node count $NNODES" >&2
        exit 2
    fi
    if [ -z "${MASTER_ADDR:-}" ]; then
        MASTER_ADDR=127.0.0.1
        if [ "$SLURM" = true ] && [ -n "${SLURM_JOB_NODELIST:-}" ]; then
            if command -v scontrol >/dev/null 2>&1; then
                MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
            else
                MASTER_ADDR=$(first_host "$SLURM_JOB_NODELIST")
            fi
        fi
    fi
    if [ -z "${MASTER_PORT:-}" ]; then
        if [ "$SLURM" = true ]; then MASTER_PORT=$((20000 + SLURM_JOB_ID % 10000)); else MASTER_PORT=29500; fi
    fi
    if [ "$SLURM" = true ]; then
        if [ -n "${SLURM_PROCID:-}" ] && [ "$SLURM_PROCID" != "${SLURM_NODEID:-0}" ]; then
            echo "$(basename "$0"): SLURM task $SLURM_PROCID runs on node ${SLURM_NODEID:-0}: start one" \
                "task per node (srun --ntasks-per-node=1); torchrun starts the $GPUS process(es) per node" >&2
            exit 2
        fi
        say "SLURM job $SLURM_JOB_ID: node $NODE_RANK of $NNODES, master $MASTER_ADDR:$MASTER_PORT"
    fi
}

# Print the words of a command on one line, quoting those the shell would split or expand.
print_command() {
    line=""
    for word in "$@"; do
        case "$word" in
        '' | *[!A-Za-z0-9_./=:,+@%-]*) word="'$(printf '%s' "$word" | sed "s/'/'\\\\''/g")'" ;;
        esac
        line="${line:+$line }$word"
    done
    echo "$line"
}

# launch tools/X.py ARGS...: run X with the project on PYTHONPATH as GPUS processes on each of
# NNODES nodes (torchrun when there is more than one process in all), or print the command
# (DRY_RUN=1). Several nodes: torchrun gets the whole layout; one node: --nproc_per_node, and
# --master_port under SLURM or when train.sh was given $MASTER_PORT.
launch() {
    export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
    if [ "$NNODES" -gt 1 ]; then
        set -- -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
            --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" --nproc_per_node="$GPUS" "$@"
    elif [ "$GPUS" -gt 1 ]; then
        if [ "$SLURM" = true ] || { [ "$LAYOUT_ENV" = env ] && [ -n "$PORT_GIVEN" ]; }; then
            set -- --master_port="$MASTER_PORT" --nproc_per_node="$GPUS" "$@"
        else
            set -- --nproc_per_node="$GPUS" "$@"
        fi
        set -- -m torch.distributed.run "$@"
    fi
    if [ "${DRY_RUN:-0}" = 1 ]; then
        print_command "$PYTHON" "$@"
        exit 0
    fi
    exec "$PYTHON" "$@"
}
