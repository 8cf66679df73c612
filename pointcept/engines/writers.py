"""Event writers of a training run: tensorboardX and, optionally, Weights & Biases.

Hooks write through one object, ``trainer.writer``, with tensorboardX's interface
(``add_scalar(tag, value, step)``, ``add_histogram(tag, values, step)``, ``close()``);
:func:`build_writer` returns None, one writer, or a :class:`MultiWriter` that forwards every call
to each of them. Writers exist on the main process only.
"""

import os
import uuid

from pointcept.utils.registry import ConfigError

# The Weights & Biases run id of a run folder, so that a resumed run continues the same W&B run.
WANDB_ID_FILE = "wandb_run_id.txt"


class WandbWriter:
    """Logs scalars (``run.log({tag: value}, step=step)``) and histograms (``wandb.Histogram``) to a
    Weights & Biases run in ``save_path`` (``wandb.init(dir=save_path)``).

    The run id is kept in ``<save_path>/wandb_run_id.txt`` and passed with ``resume="allow"``, so a
    resumed training run appends to the same W&B run. ``WANDB_MODE=offline`` (read by wandb) writes
    the run under ``save_path/wandb`` without network, for ``wandb sync`` later; the API key comes
    from ``wandb login`` or ``WANDB_API_KEY``, never from the config.
    """

    def __init__(self, save_path: str, project: str, name: str | None = None, config: dict | None = None):
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "enable_wandb=True needs the wandb package, which is not installed: "
                "pip install wandb (or set enable_wandb=False)"
            ) from None
        self._wandb = wandb
        id_path = os.path.join(save_path, WANDB_ID_FILE)
        if os.path.isfile(id_path):
            with open(id_path) as f:
                run_id = f.read().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            os.makedirs(save_path, exist_ok=True)
            with open(id_path, "w") as f:
                f.write(run_id + "\n")
        if name is None:
            # exp/<dataset>/<name> -> "<dataset>/<name>"
            parts = os.path.normpath(os.path.abspath(save_path)).split(os.sep)
            name = "/".join(parts[-2:])
        self.run = wandb.init(
            project=project, name=name, dir=save_path, config=config, id=run_id, resume="allow"
        )

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.run.log({tag: float(value)}, step=int(step))

    def add_histogram(self, tag: str, values, step: int) -> None:
        self.run.log({tag: self._wandb.Histogram(values)}, step=int(step))

    def close(self) -> None:
        self.run.finish()


class MultiWriter:
    """Forwards ``add_scalar`` / ``add_histogram`` / ``close`` to each of ``writers`` in order."""

    def __init__(self, writers: list):
        self.writers = list(writers)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        for w in self.writers:
            w.add_scalar(tag, value, step)

    def add_histogram(self, tag: str, values, step: int) -> None:
        for w in self.writers:
            w.add_histogram(tag, values, step)

    def close(self) -> None:
        for w in self.writers:
            w.close()


def build_writer(cfg, logger):
    """The writer(s) ``cfg`` asks for (``enable_tensorboard``, ``enable_wandb`` with
    ``wandb_project`` / ``wandb_name``) in ``cfg.save_path``; call on the main process only."""
    writers = []
    if cfg.get("enable_tensorboard", True):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            logger.warning("tensorboardX is not installed; tensorboard logging is off")
        else:
            writers.append(SummaryWriter(cfg.save_path))
    if cfg.get("enable_wandb", False):
        config = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        writers.append(
            WandbWriter(cfg.save_path, cfg.get("wandb_project") or "dos", cfg.get("wandb_name"), config)
        )
        logger.info(f"logging to Weights & Biases project {cfg.get('wandb_project') or 'dos'}")
    if not writers:
        return None
    return writers[0] if len(writers) == 1 else MultiWriter(writers)
