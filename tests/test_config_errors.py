"""Typed --options, integer config values, and which errors the CLIs report without a traceback."""

import errno
import os
import subprocess
import sys

import pytest

from pointcept.engines import CheckpointError
from pointcept.utils.config import Config, apply_options, config_int, load_config
from pointcept.utils.errors import DiskFullError, MissingFileError, UserError, is_user_error, run_cli
from pointcept.utils.registry import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def base() -> Config:
    return Config(
        max_steps=6, optimizer=dict(lr=0.01), evaluate=True, mix_prob=0, seed=None, hooks=[dict(interval=2)]
    )


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("max_steps", "abc", "option max_steps='abc': expected a number, the config has 6"),
        ("optimizer.lr", "abc", "option optimizer.lr='abc': expected a number, the config has 0.01"),
        ("max_steps", True, "option max_steps=True: expected a number, the config has 6"),
        ("evaluate", 1, "option evaluate=1: expected a bool (true or false), the config has True"),
        ("hooks.0.interval", "often", "option hooks.0.interval='often': expected a number, the config has 2"),
    ],
)
def test_typed_options_name_the_key_and_type(key, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_options(base(), {key: value})


def test_typed_options_accept_compatible_values():
    cfg = base()
    apply_options(cfg, {"optimizer.lr": 1, "mix_prob": 0.5, "max_steps": None, "seed": 3, "new_key": "x"})
    assert cfg.optimizer.lr == 1.0 and type(cfg.optimizer.lr) is float
    assert cfg.mix_prob == 0.5 and cfg.max_steps is None and cfg.seed == 3 and cfg.new_key == "x"
    apply_options(cfg, {"evaluate": False, "hooks.0.interval": 5})
    assert cfg.evaluate is False and cfg.hooks[0].interval == 5


def test_load_config_applies_typed_options(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("max_steps = 10\nbatch_size = 2\n")
    with pytest.raises(ConfigError, match="option batch_size='two': expected a number"):
        load_config(str(path), ["batch_size=two"])
    with pytest.raises(MissingFileError, match="config file not found: .*nothere.py"):
        load_config(str(tmp_path / "nothere.py"))


def test_config_int_refuses_to_truncate():
    cfg = Config(
        batch_size=1.7, max_steps="abc", num_worker=-1, eval_interval=4.0, flag=True, log_interval=None
    )
    with pytest.raises(ConfigError, match="batch_size must be an integer, got 1.7"):
        config_int(cfg, "batch_size")
    with pytest.raises(ConfigError, match="max_steps must be an integer, got 'abc'"):
        config_int(cfg, "max_steps")
    with pytest.raises(ConfigError, match="flag must be an integer, got True"):
        config_int(cfg, "flag")
    with pytest.raises(ConfigError, match="num_worker must be >= 0, got -1"):
        config_int(cfg, "num_worker", minimum=0)
    assert config_int(cfg, "eval_interval") == 4 and type(config_int(cfg, "eval_interval")) is int
    assert config_int(cfg, "log_interval", 7) == 7 and config_int(cfg, "missing", 3) == 3


def test_trainer_rejects_fractional_batch_size(tmp_path):
    from engine_toys import toy_config_text

    from pointcept.engines import Trainer

    path = tmp_path / "c.py"
    path.write_text(toy_config_text(str(tmp_path / "run")))
    for option, message in (
        ("batch_size=1.7", "batch_size must be an integer, got 1.7"),
        ("num_worker=0.5", "num_worker must be an integer, got 0.5"),
        ("max_steps=0", "max_steps must be >= 1, got 0"),
        ("save_interval=2.5", "save_interval must be an integer, got 2.5"),
    ):
        with pytest.raises(ConfigError, match=message):
            Trainer(load_config(str(path), [option]))


def raised_in_datasets(path) -> ValueError:
    from pointcept.datasets.semantic_kitti import read_points

    path.write_bytes(b"abc")
    try:
        read_points(str(path))
    except ValueError as e:
        return e
    raise AssertionError("read_points did not raise")


def test_user_error_classification(tmp_path):
    assert is_user_error(ConfigError("x")) and is_user_error(CheckpointError("x"))
    assert is_user_error(MissingFileError("x")) and is_user_error(DiskFullError("/a/b"))
    assert is_user_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_user_error(raised_in_datasets(tmp_path / "scan.bin"))  # a reader's plain ValueError
    assert is_user_error(FileNotFoundError(errno.ENOENT, "No such file", "/x/y"))
    assert not is_user_error(ValueError("a bug somewhere"))
    assert not is_user_error(KeyError(101)) and not is_user_error(RuntimeError("unexpected pos 3 vs 2"))
    assert str(DiskFullError("/a/b", "kept")) == "disk full while writing /a/b (kept)"


def test_run_cli_prints_one_line_for_user_errors_and_tracebacks_otherwise(capsys):
    def user():
        raise UserError("exp/x already holds a run")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(user, argv=[])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: exp/x already holds a run\n(add --debug for the traceback)\n"
    with pytest.raises(UserError):
        run_cli(user, argv=["--debug"])

    def bug():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        run_cli(bug, argv=[])


def test_disk_full_error_message_from_a_real_oserror():
    code = (
        "import errno\n"
        "from pointcept.utils.errors import run_cli\n"
        "def main():\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device', '/data/run/train.log')\n"
        "run_cli(main, argv=[])\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: disk full while writing /data/run/train.log (No space left on device)" in proc.stderr
