"""Checkpoint saving and loading hooks (``model_last.pth`` / ``model_best.pth`` in ``<save_path>/model``)."""

import os

from pointcept.utils import comm
from pointcept.utils.seed import get_rng_state, set_rng_state

from ..checkpoint import (
    CheckpointError,
    copy_checkpoint,
    extract_state_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from .base import HOOKS, HookBase


def checkpoint_dir(save_path: str) -> str:
    return os.path.join(save_path, "model")


@HOOKS.register_module()
class CheckpointSaver(HookBase):
    """Saves ``model_last.pth`` every ``save_interval`` steps, at the last step and whenever an
    evaluator set ``trainer.is_best`` (then also copied to ``model_best.pth``). Place it after the
    evaluator.

    The file holds ``trainer.state_dict()`` (model incl. any EMA/teacher submodules, optimizer,
    scheduler, AMP scaler, step, epoch, sampler position, best metric), the RNG states of every rank
    (``rng``, a list indexed by rank) and the config text.
    """

    def __init__(self, save_interval: int | None = None):
        self.save_interval = save_interval

    def after_step(self) -> None:
        t = self.trainer
        interval = self.save_interval or t.save_interval
        if t.step % interval and t.step != t.max_steps and not t.is_best:
            return
        state = t.state_dict()
        state["rng"] = comm.all_gather(get_rng_state())
        state["config"] = t.cfg.pretty_text()
        if comm.is_main_process():
            last = os.path.join(checkpoint_dir(t.save_path), "model_last.pth")
            save_checkpoint(last, state)
            t.logger.info(f"saved {last} (step {t.step})")
            if t.is_best:
                copy_checkpoint(last, os.path.join(checkpoint_dir(t.save_path), "model_best.pth"))
        comm.barrier()


@HOOKS.register_module()
class CheckpointLoader(HookBase):
    """Before training: resume a run or initialise the model from ``weight``.

    * ``resume=True``: continues the run in ``save_path`` from its own
      ``<save_path>/model/model_last.pth`` with everything (strict model weights, optimizer,
      scheduler, scaler, step, sampler position, best metric, RNG states). ``weight`` is ignored
      then: it only initialised the run when it started (the saved config.py of a run started
      with ``-w`` still holds it). If the run has no checkpoint yet, it starts afresh, initialised
      from ``weight`` if set, so a preempted job can be restarted with the same command.
    * ``weight`` only: loads model weights, strictly unless ``weight_strict=False``, renaming keys
      by ``key_map`` prefixes (e.g. ``{"student.backbone.": "backbone."}``) for partial loads.

    A run cannot be resumed with a ``max_steps`` other than the one its learning-rate schedule was
    built for (the schedule would have to change retroactively), nor past its own step count.
    """

    def before_train(self) -> None:
        t = self.trainer
        cfg = t.cfg
        if cfg.get("resume"):
            last = os.path.join(checkpoint_dir(t.save_path), "model_last.pth")
            if os.path.isfile(last):
                if cfg.get("weight"):
                    t.logger.info(f"resume=True: continuing from {last}; weight={cfg.weight} is not used")
                self.resume(last)
                return
            if not cfg.get("weight"):
                t.logger.warning(f"resume=True but {last} does not exist; starting from scratch")
                return
            t.logger.warning(
                f"resume=True but {last} does not exist yet; starting the run from step 0, "
                f"initialised from weight={cfg.weight}"
            )
        if cfg.get("weight"):
            t.logger.info(f"loading weights from {cfg.weight}")
            ckpt = load_checkpoint(cfg.weight)
            load_weights(
                t.model_without_ddp,
                extract_state_dict(ckpt),
                key_map=cfg.get("key_map"),
                strict=cfg.get("weight_strict", True),
            )

    def check_length(self, path: str, ckpt: dict) -> None:
        """Refuse to resume ``ckpt`` into a run of a different length (see class doc)."""
        t = self.trainer
        step = int(ckpt["step"])
        if step > t.max_steps:
            raise CheckpointError(
                f"cannot resume from {path}: it is at step {step}, beyond max_steps={t.max_steps}"
            )
        scheduler = ckpt.get("scheduler")
        planned = ckpt.get("max_steps")
        if planned is None and isinstance(scheduler, dict):
            planned = scheduler.get("total_steps")
        if planned is None or int(planned) == t.max_steps:
            return
        if t.scheduler is None:
            t.logger.info(f"extending the run from max_steps={planned} to {t.max_steps} (no lr scheduler)")
            return
        raise CheckpointError(
            f"cannot resume {path} with max_steps={t.max_steps}: the run's learning-rate schedule was "
            f"built for max_steps={planned} (it is at step {step}). To train longer, start a new run "
            f"initialised from it (train.sh -n NEW_NAME -w {path} -- --options max_steps=...), or "
            f"resume with max_steps={planned}."
        )

    def resume(self, path: str) -> None:
        t = self.trainer
        t.logger.info(f"resuming from {path}")
        ckpt = load_checkpoint(path)
        missing = [k for k in ("model", "optimizer", "scaler", "step", "sampler", "rng") if k not in ckpt]
        if missing:
            raise CheckpointError(
                f"{path} cannot be resumed from: it lacks {missing} (use weight= to load weights only)"
            )
        self.check_length(path, ckpt)
        load_weights(t.model_without_ddp, extract_state_dict(ckpt), strict=True)
        t.optimizer.load_state_dict(ckpt["optimizer"])
        if t.scheduler is not None:
            if ckpt.get("scheduler") is None:
                raise CheckpointError(f"{path} has no scheduler state but the config defines a scheduler")
            t.scheduler.load_state_dict(ckpt["scheduler"])
        t.scaler.load_state_dict(ckpt["scaler"])
        t.step = int(ckpt["step"])
        t.epoch, t.epoch_index = int(ckpt["sampler"]["epoch"]), int(ckpt["sampler"]["index"])
        t.best_metric_value = float(ckpt.get("best_metric_value", t.best_metric_value))
        t.best_metric_name = ckpt.get("best_metric_name")
        states = ckpt["rng"]
        if len(states) != t.world_size:
            t.logger.warning(
                f"{path} was written by {len(states)} rank(s), this run has {t.world_size}; "
                "reusing rank 0's RNG state, so the continuation is not bitwise identical"
            )
        set_rng_state(states[t.rank] if len(states) == t.world_size else states[0])
        t.logger.info(f"resumed at step {t.step} (epoch {t.epoch}, batch {t.epoch_index})")
        if t.step == t.max_steps:
            t.logger.info(f"the run already finished (max_steps={t.max_steps}); nothing left to train")
