"""Command-line parsing and run setup shared by ``tools/train.py`` and ``tools/test.py``."""

import argparse
import os
import secrets

from pointcept.utils import comm
from pointcept.utils.config import Config, load_config

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
    return parser


def default_setup(args: argparse.Namespace, snapshot: bool = True) -> Config:
    """Load the config, join the process group, fix the seed and prepare ``save_path``.

    A ``seed`` of None is replaced by a random one chosen on rank 0 and shared with all ranks; the
    merged config (with that seed) is written to ``<save_path>/config.py`` on rank 0 when
    ``snapshot`` is set, unless resuming into a directory that already has one.
    """
    cfg = load_config(args.config_file, args.options)
    if not cfg.get("save_path"):
        raise ValueError(f"{args.config_file}: save_path is not set (pass --options save_path=DIR)")
    init_distributed(select_device(cfg.get("device")))
    if cfg.get("seed") is None:
        cfg.seed = comm.broadcast_object(secrets.randbelow(2**31))
    if comm.is_main_process():
        os.makedirs(os.path.join(cfg.save_path, "model"), exist_ok=True)
        snapshot_path = os.path.join(cfg.save_path, "config.py")
        if snapshot and not (cfg.get("resume") and os.path.exists(snapshot_path)):
            with open(snapshot_path, "w") as f:
                f.write(cfg.pretty_text())
    comm.barrier()
    return cfg
