"""Command-line parsing and run setup shared by ``tools/train.py`` and ``tools/test.py``."""

import argparse
import glob
import os
import secrets
import shutil

from pointcept.utils import comm
from pointcept.utils.config import Config, load_config
from pointcept.utils.errors import UserError
from pointcept.utils.logger import get_logger
from pointcept.utils.registry import ConfigError

from .launch import init_distributed, select_device


def default_argument_parser(description: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config-file", required=True, help="path to a python config file")
    parser.add_argument(
        "--options",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, e.g. save_path=exp/x batch_size=4 optimizer.lr=1e-3 (may be repeated)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of configuration/data errors"
    )
    return parser


class RunExistsError(UserError):
    """``save_path`` already holds a run and neither ``resume`` nor ``overwrite`` was asked for."""


# Logged by the trainer when its first step starts; a train.log without it is a failed launch.
TRAINING_STARTED = "training from step"

# What a run writes into save_path (trainer and tester); ``overwrite=True`` removes exactly these.
_RUN_FILES = ("config.py", "train.log", "test.log", "metrics.json", "model/*.pth", "events.out.tfevents.*")
_RUN_DIRS = ("result",)


def existing_run(save_path: str) -> list[str]:
    """The evidence that ``save_path`` holds a run: its checkpoints (``model/*.pth``) and a
    ``train.log`` in which training started. A folder left by a launch that failed before the
    first step (at most ``config.py`` and a ``train.log`` without steps) holds no run."""
    found = sorted(
        os.path.relpath(p, save_path) for p in glob.glob(os.path.join(save_path, "model", "*.pth"))
    )
    log = os.path.join(save_path, "train.log")
    if os.path.isfile(log):
        with open(log, errors="replace") as f:
            if TRAINING_STARTED in f.read():
                found.insert(0, "train.log")
    return found


def remove_run(save_path: str) -> list[str]:
    """Delete the files a previous run wrote into ``save_path`` (see ``_RUN_FILES``); returns them."""
    removed = []
    for pattern in _RUN_FILES:
        for path in sorted(glob.glob(os.path.join(save_path, pattern))):
            os.remove(path)
            removed.append(os.path.relpath(path, save_path))
    for name in _RUN_DIRS:
        path = os.path.join(save_path, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
            removed.append(name + "/")
    return removed


def prepare_run_dir(cfg: Config) -> str | None:
    """Refuse to start a new run over an existing one; returns a note for the log, or None.

    ``resume=True`` continues the run; ``overwrite=True`` deletes its files first. Otherwise a
    ``save_path`` holding a run (see :func:`existing_run`) raises :class:`RunExistsError`.
    """
    if cfg.get("resume") and cfg.get("overwrite"):
        raise ConfigError("resume=True and overwrite=True exclude each other: pick one")
    if cfg.get("resume"):
        return None
    found = existing_run(cfg.save_path)
    if not found:
        return None
    if cfg.get("overwrite"):
        removed = remove_run(cfg.save_path)
        return f"overwrite=True: removed the previous run's files from {cfg.save_path}: {removed}"
    raise RunExistsError(
        f"{cfg.save_path} already holds a run ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}). "
        "Resume it with train.sh -r true (--options resume=True), or replace it with train.sh -o "
        "(--options overwrite=True); or pick another experiment name (-n)."
    )


def default_setup(args: argparse.Namespace, snapshot: bool = True) -> Config:
    """Load the config, join the process group, fix the seed and prepare ``save_path``.

    A ``seed`` of None is replaced by a random one chosen on rank 0 and shared with all ranks; the
    merged config (with that seed) is written to ``<save_path>/config.py`` on rank 0 when
    ``snapshot`` is set (training), unless resuming into a directory that already has one.
    Training into a ``save_path`` that holds a run needs ``resume`` or ``overwrite`` (see
    :func:`prepare_run_dir`); the decision is made on rank 0 and applies to every rank.
    """
    cfg = load_config(args.config_file, args.options)
    if not cfg.get("save_path"):
        raise ConfigError(f"{args.config_file}: save_path is not set (pass --options save_path=DIR)")
    init_distributed(select_device(cfg.get("device")))
    if cfg.get("seed") is None:
        cfg.seed = comm.broadcast_object(secrets.randbelow(2**31))
    if snapshot:
        outcome: tuple[str, str | None] = ("ok", None)
        if comm.is_main_process():
            try:
                outcome = ("ok", prepare_run_dir(cfg))
            except UserError as e:
                outcome = (type(e).__name__, str(e))
        kind, note = comm.broadcast_object(outcome)
        if kind != "ok":
            raise (ConfigError if kind == "ConfigError" else RunExistsError)(note)
        if note:
            get_logger().warning(note)
        # An instruction for this launch, not a property of the run: `-r true` later reads the
        # snapshot and must not find it.
        cfg.pop("overwrite", None)
    if comm.is_main_process():
        os.makedirs(os.path.join(cfg.save_path, "model"), exist_ok=True)
        snapshot_path = os.path.join(cfg.save_path, "config.py")
        if snapshot and not (cfg.get("resume") and os.path.exists(snapshot_path)):
            with open(snapshot_path, "w") as f:
                f.write(cfg.pretty_text())
    comm.barrier()
    return cfg
