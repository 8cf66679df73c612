"""Checkpoint saving and loading hooks (``model_last.pth`` / ``model_best.pth`` in ``<save_path>/model``)."""

import os

from pointcept.utils import comm
from pointcept.utils.seed import get_rng_state, set_rng_state

from ..checkpoint import copy_checkpoint, extract_state_dict, load_checkpoint, load_weights, save_checkpoint
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

    * ``resume=True``: loads ``weight`` if set, else ``<save_path>/model/model_last.pth``, with
      everything (strict model weights, optimizer, scheduler, scaler, step, sampler position, best
      metric, RNG states). If that file does not exist the run starts from scratch (with a warning),
      so a preempted job can be restarted with the same command.
    * ``weight`` only: loads model weights, strictly unless ``weight_strict=False``, renaming keys
      by ``key_map`` prefixes (e.g. ``{"student.backbone.": "backbone."}``) for partial loads.
    """

    def before_train(self) -> None:
        t = self.trainer
        cfg = t.cfg
        if cfg.get("resume"):
            path = cfg.get("weight") or os.path.join(checkpoint_dir(t.save_path), "model_last.pth")
            if not os.path.isfile(path):
                t.logger.warning(f"resume=True but {path} does not exist; starting from scratch")
                return
            self.resume(path)
        elif cfg.get("weight"):
            t.logger.info(f"loading weights from {cfg.weight}")
            ckpt = load_checkpoint(cfg.weight)
            load_weights(
                t.model_without_ddp,
                extract_state_dict(ckpt),
                key_map=cfg.get("key_map"),
                strict=cfg.get("weight_strict", True),
            )

    def resume(self, path: str) -> None:
        t = self.trainer
        t.logger.info(f"resuming from {path}")
        ckpt = load_checkpoint(path)
        missing = [k for k in ("model", "optimizer", "scaler", "step", "sampler", "rng") if k not in ckpt]
        if missing:
            raise ValueError(
                f"{path} cannot be resumed from: it lacks {missing} (use weight= to load weights only)"
            )
        load_weights(t.model_without_ddp, extract_state_dict(ckpt), strict=True)
        t.optimizer.load_state_dict(ckpt["optimizer"])
        if t.scheduler is not None:
            if ckpt.get("scheduler") is None:
                raise ValueError(f"{path} has no scheduler state but the config defines a scheduler")
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
