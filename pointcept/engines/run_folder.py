"""What a run leaves in its ``save_path``, and the rule that a new run never silently replaces it.

A folder holds a run when it has checkpoints (``model/*.pth``) or a ``train.log`` in which training
started (the trainer logs :data:`TRAINING_STARTED` at its first step). ``resume=True`` continues
that run; ``overwrite=True`` deletes exactly the files a run writes (``_RUN_FILES``, ``_RUN_DIRS``);
otherwise starting a run there raises :class:`RunExistsError`.
"""

import glob
import os
import shutil

from pointcept.utils.config import Config
from pointcept.utils.errors import UserError
from pointcept.utils.registry import ConfigError


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
