"""Everything a run does before its first step: the command line of ``tools/train.py`` and
``tools/test.py``, loading the config and preparing ``save_path`` (:func:`default_setup`), and the
per-process setup shared by the :class:`~pointcept.engines.Trainer` and the testers
(:func:`setup_run`: device, process group, log file, custom imports, autocast dtype).

Both paths are idempotent: a CLI calls :func:`default_setup` and then builds a Trainer or tester,
which calls :func:`setup_run`; the process group is joined once and the seed is drawn once.
"""

import argparse
import importlib
import logging
import os
import secrets
from dataclasses import dataclass

import torch

from pointcept.utils import comm
from pointcept.utils.config import Config, load_config
from pointcept.utils.errors import UserError, add_debug_argument
from pointcept.utils.logger import get_logger
from pointcept.utils.registry import ConfigError

from .amp import resolve_amp_dtype
from .launch import init_distributed, select_device
from .run_folder import RunExistsError, prepare_run_dir


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
    add_debug_argument(parser)
    return parser


def join_process_group(cfg: Config) -> torch.device:
    """The run's device (``cfg.device``, default auto), with torchrun's process group joined for it."""
    device = select_device(cfg.get("device"))
    init_distributed(device)
    return device


def fill_seed(cfg: Config) -> None:
    """Replace a ``seed`` of None by a random one drawn on rank 0 and shared with every rank.

    Uses ``secrets``, not the global generators, so filling the seed leaves their state alone.
    """
    if cfg.get("seed") is None:
        cfg.seed = comm.broadcast_object(secrets.randbelow(2**31))


@dataclass(frozen=True)
class RunContext:
    """What every process of a run needs before building anything (see :func:`setup_run`)."""

    device: torch.device
    rank: int
    world_size: int
    logger: logging.Logger
    amp_dtype: torch.dtype | None  # None: full precision


def setup_run(cfg: Config, log_name: str) -> RunContext:
    """Per-process setup shared by the Trainer (``train.log``) and the testers (``test.log``).

    In this order: select the device and join the process group, open ``<save_path>/<log_name>``
    (rank 0 only; appended to), import ``cfg.custom_imports`` (which may register models, datasets
    and hooks), resolve ``cfg.amp_dtype`` for the device. It draws nothing from the global random
    generators; seeding them is the caller's next step.
    """
    device = join_process_group(cfg)
    logger = get_logger(log_file=os.path.join(cfg.save_path, log_name))
    for name in cfg.get("custom_imports") or []:
        importlib.import_module(name)
    amp_dtype = resolve_amp_dtype(cfg.get("amp_dtype"), device)
    return RunContext(device, comm.get_rank(), comm.get_world_size(), logger, amp_dtype)


def default_setup(args: argparse.Namespace, snapshot: bool = True) -> Config:
    """Load the config, join the process group, fix the seed and prepare ``save_path``.

    A ``seed`` of None is replaced by a random one (see :func:`fill_seed`); the merged config (with
    that seed) is written to ``<save_path>/config.py`` on rank 0 when ``snapshot`` is set
    (training), unless resuming into a directory that already has one. Training into a
    ``save_path`` that holds a run needs ``resume`` or ``overwrite`` (see
    :func:`~pointcept.engines.run_folder.prepare_run_dir`); the decision is made on rank 0 and
    applies to every rank.
    """
    cfg = load_config(args.config_file, args.options)
    if not cfg.get("save_path"):
        raise ConfigError(f"{args.config_file}: save_path is not set (pass --options save_path=DIR)")
    join_process_group(cfg)
    fill_seed(cfg)
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
