"""tools/train.sh and tools/test.sh node layout: -p, -m, -g defaulting to the visible GPUs, SLURM,
DRY_RUN. Fake environments only: a fake nvidia-smi/scontrol on PATH, SLURM_* variables and an
interpreter wrapper that records its arguments."""

import os
import subprocess

import pytest
from test_engine_launch import fake_python, make_tree

LAYOUT_VARS = (
    "NNODES",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "CUDA_VISIBLE_DEVICES",
    "DRY_RUN",
    "PYTHON",
)


def fake_tool(bindir, name, script):
    os.makedirs(bindir, exist_ok=True)
    path = bindir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.fixture
def tree(tmp_path):
    make_tree(tmp_path)
    fake_python(tmp_path / "fakepy", tmp_path / "args.txt")
    # by default no GPU: an nvidia-smi that fails, ahead of any real one
    fake_tool(tmp_path / "bin", "nvidia-smi", "exit 9\n")
    return tmp_path


def run(tree, script, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in LAYOUT_VARS and not k.startswith("SLURM_")}
    env["PATH"] = f"{tree / 'bin'}{os.pathsep}{env['PATH']}"
    env.update(env_extra)
    proc = subprocess.run(
        ["sh", f"tools/{script}", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=60
    )
    return proc


def train(tree, *args, **env_extra):
    return run(tree, "train.sh", "-d", "toy", "-c", "tiny", *args, **env_extra)


def recorded(tree):
    return (tree / "args.txt").read_text().split("\n")[:-1]


TRAIN_ARGS = [
    "tools/train.py",
    "--config-file",
    "configs/toy/tiny.py",
    "--options",
    "save_path=exp/toy/tiny",
    "resume=False",
]


def test_cpu_only_machine_runs_one_process_and_says_so(tree):
    proc = train(tree, "-p", str(tree / "fakepy"))
    assert proc.returncode == 0, proc.stderr
    assert "[train.sh] no GPU visible (CUDA_VISIBLE_DEVICES / nvidia-smi): 1 process on CPU" in proc.stdout
    assert recorded(tree) == TRAIN_ARGS


def test_gpus_default_to_nvidia_smi_then_cuda_visible_devices(tree):
    lines = "".join(f"GPU {i}: NVIDIA A100 (UUID: GPU-{i})\\n" for i in range(3))
    fake_tool(tree / "bin", "nvidia-smi", f'[ "$1" = -L ] && printf "{lines}"\n')
    proc = train(tree, DRY_RUN="1", PYTHON="py")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "[train.sh] 3 visible GPU(s) (from nvidia-smi): 3 process(es) per node"
    assert out[-1] == "py -m torch.distributed.run --nproc_per_node=3 " + " ".join(TRAIN_ARGS)
    assert not (tree / "exp").exists()  # a dry run creates nothing

    for visible, count in (("0,2", 2), ("GPU-aa,GPU-bb,GPU-cc,GPU-dd", 4), ("1,-1,3", 1)):
        proc = train(
            tree,
            DRY_RUN="1",
            PYTHON="py",
            CUDA_VISIBLE_DEVICES=visible,
        )
        assert f"{count} visible GPU(s) (from CUDA_VISIBLE_DEVICES)" in proc.stdout, visible
    for hidden in ("", "-1", "NoDevFiles"):
        proc = train(tree, DRY_RUN="1", PYTHON="py", CUDA_VISIBLE_DEVICES=hidden)
        assert "no GPU visible" in proc.stdout and proc.stdout.splitlines()[-1].startswith(
            "py tools/train.py"
        )
    # -g wins over detection
    proc = train(tree, "-g", "1", DRY_RUN="1", PYTHON="py")
    assert "visible" not in proc.stdout and proc.stdout.splitlines()[-1].startswith("py tools/train.py")


def test_slurm_layout_from_the_environment(tree):
    slurm = dict(
        SLURM_JOB_ID="4242",
        SLURM_NNODES="3",
        SLURM_NODEID="2",
        SLURM_PROCID="2",
        SLURM_JOB_NODELIST="gpu[003-005,009],cpu01",
        CUDA_VISIBLE_DEVICES="0,1",
    )
    proc = train(tree, "-p", str(tree / "fakepy"), **slurm)
    assert proc.returncode == 0, proc.stderr
    assert "[train.sh] SLURM job 4242: node 2 of 3, master gpu003:24242" in proc.stdout
    layout = [
        "--nnodes=3",
        "--node_rank=2",
        "--master_addr=gpu003",
        "--master_port=24242",
        "--nproc_per_node=2",
    ]
    assert recorded(tree) == ["-m", "torch.distributed.run", *layout, *TRAIN_ARGS]

    # scontrol, when present, expands the node list
    fake_tool(tree / "bin", "scontrol", '[ "$1 $2" = "show hostnames" ] && printf "n-%s\\n" "$3" "second"\n')
    proc = train(tree, "-p", str(tree / "fakepy"), **slurm)
    assert "--master_addr=n-gpu[003-005,009],cpu01" in recorded(tree)

    # explicit values win over SLURM's
    explicit = dict(slurm, NODE_RANK="1", MASTER_ADDR="10.0.0.7", MASTER_PORT="1234")
    proc = train(
        tree,
        "-m",
        "2",
        "-g",
        "4",
        "-p",
        str(tree / "fakepy"),
        **explicit,
    )
    assert proc.returncode == 0, proc.stderr
    assert recorded(tree)[2:7] == [
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=10.0.0.7",
        "--master_port=1234",
        "--nproc_per_node=4",
    ]

    # one SLURM node with 2 GPUs: single-node torchrun on the job's port
    one = dict(slurm, SLURM_NNODES="1", SLURM_NODEID="0", SLURM_PROCID="0")
    proc = train(tree, "-p", str(tree / "fakepy"), **one)
    assert recorded(tree)[:4] == ["-m", "torch.distributed.run", "--master_port=24242", "--nproc_per_node=2"]


def test_slurm_misuse_and_bad_layouts_fail_before_starting(tree):
    slurm = dict(
        SLURM_JOB_ID="7", SLURM_NNODES="2", SLURM_NODEID="1", SLURM_PROCID="3", SLURM_JOB_NODELIST="a,b"
    )
    proc = train(tree, "-p", str(tree / "fakepy"), **slurm)
    assert proc.returncode == 2 and not (tree / "args.txt").exists()
    assert (
        "train.sh: SLURM task 3 runs on node 1: start one task per node (srun --ntasks-per-node=1)"
        in proc.stderr
    )
    proc = train(tree, "-m", "2", NODE_RANK="2", PYTHON="py")
    assert proc.returncode == 2 and "train.sh: node rank 2 is not below the node count 2" in proc.stderr
    proc = run(tree, "test.sh", "-d", "toy", "-n", "x", "-m", "0", PYTHON="py")
    assert proc.returncode == 2 and "test.sh: -m must be a positive integer, got '0'" in proc.stderr


@pytest.mark.parametrize(
    "nodelist, first",
    [
        ("gpu[003-010,012],cpu01", "gpu003"),
        ("rack[2-3]-n[07-09]", "rack2-n07"),
        ("a01,b02", "a01"),
        ("single", "single"),
        ("node[5,1-3]", "node5"),
    ],
)
def test_first_host_of_a_slurm_nodelist(tree, nodelist, first):
    out = subprocess.run(
        ["sh", "-c", '. tools/launch_common.sh && first_host "$1"', "sh", nodelist],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == first + "\n"


def test_test_sh_takes_p_and_m_and_dry_run_quotes(tree):
    os.makedirs(tree / "exp" / "toy" / "r1" / "model")
    (tree / "exp" / "toy" / "r1" / "config.py").write_text("x = 1\n")
    (tree / "exp" / "toy" / "r1" / "model" / "model_best.pth").write_bytes(b"")
    proc = run(
        tree,
        "test.sh",
        "-d",
        "toy",
        "-n",
        "r1",
        "-m",
        "2",
        "-g",
        "1",
        "-p",
        str(tree / "fakepy"),
        NODE_RANK="1",
        MASTER_ADDR="host0",
    )
    assert proc.returncode == 0, proc.stderr
    assert recorded(tree)[:8] == [
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=host0",
        "--master_port=29500",
        "--nproc_per_node=1",
        "tools/test.py",
    ]
    proc = run(
        tree, "test.sh", "-d", "toy", "-n", "r1", "--", "--options", "note=a b's", DRY_RUN="1", PYTHON="my py"
    )
    assert proc.stdout.splitlines()[-1] == (
        "'my py' tools/test.py --config-file exp/toy/r1/config.py --options save_path=exp/toy/r1 "
        "weight=exp/toy/r1/model/model_best.pth --options 'note=a b'\\''s'"
    )
