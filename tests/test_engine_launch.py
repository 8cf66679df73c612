"""tools/train.sh and tools/test.sh: experiment layout, option passing, torchrun and interpreter choice."""

import os
import shutil
import stat
import subprocess
import sys

from engine_toys import toy_config_text

from pointcept.engines import load_checkpoint
from pointcept.utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_tree(root):
    """A minimal project tree: the real launch scripts and CLIs plus configs/toy/tiny.py."""
    os.makedirs(root / "tools")
    for name in ("train.sh", "train.py", "test.sh", "test.py", "launch_common.sh"):
        shutil.copy(os.path.join(REPO, "tools", name), root / "tools" / name)
    os.makedirs(root / "configs" / "toy")
    text = toy_config_text(save_path="unused").replace("save_path = 'unused'", "save_path = None")
    (root / "configs" / "toy" / "tiny.py").write_text(text)


def env_for(**extra):
    env = {
        k: v for k, v in os.environ.items() if k not in ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]), OMP_NUM_THREADS="1", **extra)
    return env


def test_train_then_test_scripts_create_the_experiment(tmp_path):
    make_tree(tmp_path)
    env = env_for(PYTHON=sys.executable)
    cmd = ["sh", "tools/train.sh", "-d", "toy", "-c", "tiny", "-n", "run1", "--", "--options", "max_steps=4"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    exp = tmp_path / "exp" / "toy" / "run1"
    files = os.listdir(exp)
    assert {"config.py", "train.log", "model"} <= set(files)
    assert any(f.startswith("events.out.tfevents") for f in files)
    snapshot = load_config(str(exp / "config.py"))
    assert snapshot.save_path == "exp/toy/run1" and snapshot.max_steps == 4 and snapshot.resume is False
    assert load_checkpoint(str(exp / "model" / "model_last.pth"))["step"] == 4
    assert (exp / "model" / "model_best.pth").exists()

    proc = subprocess.run(
        ["sh", "tools/test.sh", "-d", "toy", "-n", "run1", "-w", "model_last"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (exp / "metrics.json").exists() and len(os.listdir(exp / "result")) == 3


def fake_python(path, record):
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_multi_process_launch_goes_through_torchrun(tmp_path):
    make_tree(tmp_path)
    record = tmp_path / "args.txt"
    fake_python(tmp_path / "fakepy", record)
    env = env_for(
        PYTHON=str(tmp_path / "fakepy"), NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="1234"
    )
    cmd = ["sh", "tools/train.sh", "-d", "toy", "-c", "tiny", "-g", "2", "-r", "true", "-w", "w.pth"]
    subprocess.run(cmd + ["--", "--options", "x=1"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert record.read_text().split("\n")[:-1] == [
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=10.0.0.1",
        "--master_port=1234",
        "--nproc_per_node=2",
        "tools/train.py",
        "--config-file",
        "configs/toy/tiny.py",
        "--options",
        "save_path=exp/toy/tiny",
        "resume=True",
        "--options",
        "weight=w.pth",
        "--options",
        "x=1",
    ]


def test_interpreter_defaults_to_project_venv_and_bad_args_fail(tmp_path):
    make_tree(tmp_path)
    record = tmp_path / "args.txt"
    os.makedirs(tmp_path / ".venv" / "bin")
    fake_python(tmp_path / ".venv" / "bin" / "python", record)
    env = env_for()
    env.pop("PYTHON", None)
    subprocess.run(["sh", "tools/train.sh", "-d", "toy", "-c", "tiny"], cwd=tmp_path, env=env, check=True)
    assert record.read_text().split("\n")[:3] == ["tools/train.py", "--config-file", "configs/toy/tiny.py"]
    missing = subprocess.run(
        ["sh", "tools/train.sh", "-d", "toy", "-c", "nope"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "config file not found: configs/toy/nope.py" in missing.stderr
    bad = subprocess.run(
        ["sh", "tools/train.sh", "-d", "toy", "-c", "tiny", "-r", "maybe"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "-r must be true or false" in bad.stderr


def test_usage_text_and_single_node_test_launch(tmp_path):
    make_tree(tmp_path)
    record = tmp_path / "args.txt"
    fake_python(tmp_path / "fakepy", record)
    # test.sh runs on one node: NNODES and the rest of the node layout are train.sh's alone.
    env = env_for(PYTHON=str(tmp_path / "fakepy"), NNODES="2", MASTER_PORT="1234")
    for script, first, last in (
        ("train.sh", "#   sh tools/train.sh -d DATASET -c CONFIG", "# Interpreter: $PYTHON if set"),
        ("test.sh", "#   sh tools/test.sh -d DATASET -n NAME", "# Interpreter: $PYTHON if set"),
    ):
        proc = subprocess.run(
            ["sh", f"tools/{script}", "-h"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2 and lines[0].startswith(first) and lines[-1].startswith(last), proc.stderr
        assert all(line.startswith("#") for line in lines), proc.stderr
    os.makedirs(tmp_path / "exp" / "toy" / "r1" / "model")
    (tmp_path / "exp" / "toy" / "r1" / "config.py").write_text("x = 1\n")
    (tmp_path / "exp" / "toy" / "r1" / "model" / "model_best.pth").write_bytes(b"")
    cmd = ["sh", "tools/test.sh", "-d", "toy", "-n", "r1", "-g", "2", "--", "--options", "y=2"]
    subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    assert record.read_text().split("\n")[:-1] == [
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "tools/test.py",
        "--config-file",
        "exp/toy/r1/config.py",
        "--options",
        "save_path=exp/toy/r1",
        "weight=exp/toy/r1/model/model_best.pth",
        "--options",
        "y=2",
    ]
