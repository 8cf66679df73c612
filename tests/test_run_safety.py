"""Runs that cannot go silently wrong (issue 15), through the real CLIs (tools/train.sh, train.py,
test.sh) on the toy model: resume semantics with -w, refusing to overwrite a run, label-less data,
test-time skipping, extending a finished run, and one-line user errors."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from run_safety_toys import write_toy_scans
from test_engine_launch import env_for, fake_python, make_tree

from pointcept.engines import load_checkpoint

FT_CONFIG = """_base_ = ["./tiny.py"]
# A model that a strict load of the base run's checkpoint (teacher=True) would reject.
model = dict(type="ToySegmentor", in_channels=3, num_classes=4, hidden=16, teacher=False)
key_map = {"backbone.": "backbone."}
hooks = [
    dict(type="CheckpointLoader"),
    dict(type="InformationWriter"),
    dict(type="CheckpointSaver"),
    dict(type="ExitAtStep", step=3, marker="exit_marker"),
]
"""


def toy_file_data(root, **extra) -> str:
    """``data.train=...`` option: ToyFileDataset over ``root`` (a reader with data_root/split)."""
    cfg = dict(
        type="ToyFileDataset",
        data_root=str(root),
        split="train",
        transform=[
            dict(type="ToTensor"),
            dict(type="Collect", keys=("coord", "segment"), feat_keys=("coord",)),
        ],
        **extra,
    )
    return repr(cfg)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A project tree with a finished 4-step toy run in exp/toy/base."""
    root = tmp_path_factory.mktemp("tree")
    make_tree(root)
    with open(root / "configs" / "toy" / "tiny.py", "a") as f:
        f.write('custom_imports = ["engine_toys", "run_safety_toys"]\n')
    (root / "configs" / "toy" / "ft.py").write_text(FT_CONFIG)
    proc = train(root, "-n", "base", "--", "--options", "max_steps=4", "evaluate=False")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def run(root, *args, timeout=120):
    env = env_for(PYTHON=sys.executable)
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def train(root, *args):
    if "-c" not in args:
        args = ("-c", "tiny") + args
    return run(root, "sh", "tools/train.sh", "-d", "toy", *args)


def step_of(path) -> int:
    return load_checkpoint(str(path))["step"]


def assert_user_error(proc, message: str, code: int = 1) -> None:
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_resume_continues_the_runs_own_checkpoint_not_the_w_file(tree):
    weight = "exp/toy/base/model/model_last.pth"
    ft = tree / "exp" / "toy" / "ft"
    first = train(
        tree, "-c", "ft", "-n", "ft", "-w", weight, "--", "--options", "max_steps=6", "save_interval=2"
    )
    assert first.returncode == 17, first.stderr[-2000:]  # killed by ExitAtStep after step 3
    assert step_of(ft / "model" / "model_last.pth") == 2

    resumed = train(tree, "-c", "ft", "-n", "ft", "-r", "true")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    log = (ft / "train.log").read_text()
    assert f"resume=True: continuing from exp/toy/ft/model/model_last.pth; weight={weight} is not used" in log
    assert "resumed at step 2 (epoch 0, batch 2)" in log and "training from step 2 to 6" in log
    assert step_of(ft / "model" / "model_last.pth") == 6


def test_training_into_an_existing_run_is_refused_unless_overwrite(tree):
    base = tree / "exp" / "toy" / "base"
    before = {name: (base / name).read_bytes() for name in ("config.py", "model/model_last.pth")}
    again = train(tree, "-n", "base", "--", "--options", "max_steps=2", "evaluate=False")
    assert_user_error(
        again,
        "error: exp/toy/base already holds a run (train.log, model/model_last.pth). Resume it with "
        "train.sh -r true (--options resume=True), or replace it with train.sh -o (--options overwrite=True)",
    )
    assert {name: (base / name).read_bytes() for name in before} == before

    shutil.copytree(base, tree / "exp" / "toy" / "copy")
    over = train(tree, "-n", "copy", "-o", "--", "--options", "max_steps=2", "evaluate=False")
    assert over.returncode == 0, over.stderr[-2000:]
    assert "overwrite=True: removed the previous run's files from exp/toy/copy" in over.stdout
    copy = tree / "exp" / "toy" / "copy"
    assert step_of(copy / "model" / "model_last.pth") == 2
    log = (copy / "train.log").read_text()
    assert log.count("training from step 0 to 2") == 1 and "to 4" not in log
    assert "overwrite" not in (copy / "config.py").read_text()  # else a later -r true would refuse

    both = train(tree, "-n", "copy", "-o", "-r", "true")
    assert (
        both.returncode == 2
        and "-r true (resume the run) and -o (overwrite it) exclude each other" in both.stderr
    )


def test_a_failed_launch_does_not_block_the_next(tree):
    bad = train(tree, "-n", "retry", "--", "--options", "data.train.type=Nope", "max_steps=2")
    assert_user_error(bad, "error: data.train: type 'Nope' is not in registry 'datasets'")
    assert (tree / "exp" / "toy" / "retry" / "config.py").exists()  # the failed launch left files
    good = train(tree, "-n", "retry", "--", "--options", "max_steps=2", "evaluate=False")
    assert good.returncode == 0, good.stderr[-2000:]


def test_training_without_any_label_fails_naming_the_data(tree, tmp_path):
    write_toy_scans(str(tmp_path / "nolabels"), num_scans=8, labelled=False)
    proc = train(
        tree,
        "-n",
        "nolabels",
        "--",
        "--options",
        f"data.train={toy_file_data(tmp_path / 'nolabels')}",
        "model.type=MeanOverValidToySegmentor",
        "max_steps=6",
        "evaluate=False",
    )
    assert_user_error(
        proc,
        f"error: no valid label in a whole epoch of training data: every point of data.train "
        f"(data_root='{tmp_path / 'nolabels'}', split='train') is labelled ignore_index=-1 (epoch 0, step 2)",
    )
    assert not (tree / "exp" / "toy" / "nolabels" / "model" / "model_last.pth").exists()


def test_test_time_skip_counts_and_lists_the_broken_scan(tree, tmp_path):
    write_toy_scans(str(tmp_path / "scans"), num_scans=4, broken=(1,))
    test_data = dict(
        type="ToyFileDataset",
        data_root=str(tmp_path / "scans"),
        split="test",
        on_error="skip",
        test_cfg=dict(
            post_transform=[
                dict(type="ToTensor"),
                dict(type="Collect", keys=("coord", "index"), feat_keys=("coord",)),
            ]
        ),
    )
    proc = run(
        tree,
        "sh",
        "tools/test.sh",
        "-d",
        "toy",
        "-n",
        "base",
        "-w",
        "model_last",
        "--",
        "--options",
        f"data.test={test_data!r}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    base = tree / "exp" / "toy" / "base"
    metrics = json.loads((base / "metrics.json").read_text())
    assert metrics["num_scans"] == 3 and metrics["num_skipped"] == 1
    assert [(s["index"], s["name"]) for s in metrics["skipped"]] == [
        (1, str(tmp_path / "scans" / "scan_001.npy"))
    ]
    assert "not a scan file" in metrics["skipped"][0]["error"]
    assert sorted(os.listdir(base / "result")) == ["scan_000.npy", "scan_002.npy", "scan_003.npy"]
    log = (base / "test.log").read_text()
    assert "skipped 1 of 4 test scans (on_error='skip'), not in the metrics" in log
    assert log.count("] scan_002:") == 1  # the neighbour of the broken scan is evaluated once


def test_extending_a_finished_run_is_refused_before_training(tree):
    last = tree / "exp" / "toy" / "base" / "model" / "model_last.pth"
    before = last.read_bytes()
    proc = train(tree, "-n", "base", "-r", "true", "--", "--options", "max_steps=8")
    assert_user_error(
        proc,
        "error: cannot resume exp/toy/base/model/model_last.pth with max_steps=8: the run's learning-rate "
        "schedule was built for max_steps=4 (it is at step 4)",
    )
    assert last.read_bytes() == before


def test_bad_values_name_the_file_or_key(tree, tmp_path):
    text = tmp_path / "weights.txt"
    text.write_text("e" * 100)
    proc = train(tree, "-n", "textweight", "-w", str(text), "--", "--options", "max_steps=2")
    assert_user_error(proc, f"error: {text} is not a PyTorch checkpoint (it starts with b'eeee'")
    for option, message in (
        ("max_steps=abc", "error: option max_steps='abc': expected a number, the config has 12"),
        ("optimizer.lr=abc", "error: option optimizer.lr='abc': expected a number, the config has 0.01"),
        ("batch_size=1.7", "error: batch_size must be an integer, got 1.7"),
    ):
        assert_user_error(train(tree, "-n", "badvalue", "--", "--options", option), message)
    debug = train(tree, "-n", "badvalue", "--", "--options", "max_steps=abc", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_launchers_reject_a_non_numeric_process_count(tmp_path):
    make_tree(tmp_path)
    record = tmp_path / "args.txt"
    fake_python(tmp_path / "fakepy", record)
    env = env_for(PYTHON=str(tmp_path / "fakepy"))
    for script, extra in (("train.sh", ["-c", "tiny"]), ("test.sh", ["-n", "x"])):
        for bad in ("abc", "0", ""):
            proc = subprocess.run(
                ["sh", f"tools/{script}", "-d", "toy", *extra, "-g", bad],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 2, (script, bad, proc.stderr)
            assert f"{script}: -g must be a positive integer, got '{bad}'" in proc.stderr
    assert not record.exists() and not (tmp_path / "exp").exists()


def test_visualize_rejects_a_non_positive_resolution(capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    try:
        import visualize
    finally:
        sys.path.pop(0)
    for flag, value in (
        ("--resolution", "0"),
        ("--extent", "-1"),
        ("--point-size", "0"),
        ("--resolution", "nan"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            visualize.parse_args(["--scan", "s.bin", "--out", "o.png", flag, value])
        assert exit_info.value.code == 2
        assert f"argument {flag}: must be positive, got '{value}'" in capsys.readouterr().err
    assert (
        visualize.parse_args(["--scan", "s.bin", "--out", "o.png", "--resolution", "0.5"]).resolution == 0.5
    )


def test_resume_without_a_checkpoint_starts_from_weight(tmp_path):
    from engine_toys import write_toy_config

    from pointcept.engines import Trainer
    from pointcept.utils.config import load_config

    src = load_config(
        write_toy_config(str(tmp_path / "src.py"), str(tmp_path / "src")), ["max_steps=2", "evaluate=False"]
    )
    Trainer(src).train()
    weight = str(tmp_path / "src" / "model" / "model_last.pth")
    cfg = load_config(
        write_toy_config(str(tmp_path / "new.py"), str(tmp_path / "new")),
        ["resume=True", f"weight={weight}", "max_steps=1", "evaluate=False"],
    )
    trainer = Trainer(cfg)
    trainer.call_hooks("before_train")
    assert trainer.step == 0
    expected = load_checkpoint(weight)["model"]
    for key, value in trainer.model_without_ddp.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert (
        f"model_last.pth does not exist yet; starting the run from step 0, initialised from weight={weight}"
        in (tmp_path / "new" / "train.log").read_text()
    )


def test_a_few_unlabelled_scans_are_counted_not_fatal(tmp_path):
    from engine_toys import write_toy_config

    from pointcept.engines import Trainer
    from pointcept.utils.config import load_config

    data = dict(
        num_classes=4,
        ignore_index=-1,
        train=dict(type="PartlyUnlabelledToy", unlabelled=(0, 5), num_samples=12, num_points=64, seed=1),
    )
    cfg = load_config(write_toy_config(str(tmp_path / "c.py"), str(tmp_path / "run"), data=data))
    cfg.custom_imports = ["engine_toys", "run_safety_toys"]
    cfg.update(max_steps=6, evaluate=False)
    trainer = Trainer(cfg)
    trainer.train()
    assert trainer.step == 6
    assert (trainer.label_check.scans, trainer.label_check.empty_scans) == (24, 4)  # 2 epochs of 12
    log = (tmp_path / "run" / "train.log").read_text()
    assert "epoch 1: 2 training scan(s) had no valid label (4 of 24 so far on this rank)" in log
    assert "4 of the 24 training scans seen by this process had no valid label" in log


def test_label_check_rule_and_opt_out():
    import logging

    from pointcept.engines.label_check import LabelCheck, NoLabelsError

    def batch(labelled: bool) -> dict:
        segment = torch.tensor([0, 1, -1, -1, 2, -1]) if labelled else torch.full((6,), -1)
        return dict(segment=segment, offset=torch.tensor([2, 4, 6]))

    logger = logging.getLogger("label_check_test")
    check = LabelCheck(-1, "data.train (data_root='r')", 3, 100, torch.device("cpu"), logger)
    check.observe(batch(False), 1, 0, 0, 0)
    check.observe(batch(True), 2, 0, 0, 1)
    check.observe(batch(False), 3, 0, 0, 2)  # end of a labelled epoch: fine
    assert (check.scans, check.empty_scans) == (9, 7)  # the labelled batch has one all-ignore scan
    check.observe(batch(False), 4, 0, 1, 0)
    check.observe(batch(False), 5, 0, 1, 1)
    with pytest.raises(
        NoLabelsError, match=r"every point of data.train \(data_root='r'\) .* \(epoch 1, step 6\)"
    ):
        check.observe(batch(False), 6, 0, 1, 2)
    resumed = LabelCheck(-1, "data.train", 3, 100, torch.device("cpu"), logger)
    resumed.observe(batch(False), 6, 4, 1, 2)  # resumed mid-epoch: this epoch was not fully observed
    off = LabelCheck(-1, "data.train", 1, 1, torch.device("cpu"), logger, enabled=False)
    off.observe(batch(False), 1, 0, 0, 0)
    short = LabelCheck(-1, "data.train", 10, 2, torch.device("cpu"), logger)
    short.observe(batch(False), 1, 0, 0, 0)
    with pytest.raises(NoLabelsError, match="no valid label in any of the 2 training steps"):
        short.observe(batch(False), 2, 0, 0, 1)
