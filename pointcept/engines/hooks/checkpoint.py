"""Checkpoint saving and loading hooks (``model_last.pth`` / ``model_best.pth`` in ``<save_path>/model``)."""

import os

from pointcept.utils import comm
from pointcept.utils.errors import NonFiniteError, UserError
from pointcept.utils.seed import derive_seed, get_rng_state, set_rng_state, set_seed

from ..checkpoint import (
    CheckpointError,
    copy_checkpoint,
    extract_state_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from ..nonfinite import nonfinite_tensor
from .base import HOOKS, HookBase


def checkpoint_dir(save_path: str) -> str:
    return os.path.join(save_path, "model")


SAVE_ERROR_POLICIES = ("stop", "continue")


def save_last(trainer, on_error: str = "stop") -> bool:
    """Write ``model_last.pth`` (and ``model_best.pth`` if ``trainer.is_best``) on rank 0.

    Every rank takes part (the RNG states are gathered) and every rank learns the outcome. A model
    holding NaN/Inf is never saved: :class:`NonFiniteError` on every rank. A write error (full disk,
    read-only or missing directory) leaves the previous file in place; ``on_error="stop"`` raises
    it on every rank, ``"continue"`` logs an error and returns False (the next save retries).
    Returns True when the files were written.
    """
    t = trainer
    bad = nonfinite_tensor(t.model_without_ddp.state_dict())
    if bad is not None:
        raise NonFiniteError(
            f"step {t.step}: model tensor {bad!r} holds NaN/Inf; refusing to write a checkpoint from "
            "non-finite weights (the last checkpoint is intact)"
        )
    state = t.state_dict()
    state["rng"] = comm.all_gather(get_rng_state())
    state["config"] = t.cfg.pretty_text()
    last = os.path.join(checkpoint_dir(t.save_path), "model_last.pth")
    error = None
    if comm.is_main_process():
        try:
            save_checkpoint(last, state)
            if t.is_best:
                copy_checkpoint(last, os.path.join(checkpoint_dir(t.save_path), "model_best.pth"))
        except OSError as e:
            error = e
    message = comm.broadcast_object(None if error is None else str(error))
    if message is None:
        t.logger.info(f"saved {last} (step {t.step})")
        t.last_saved_step = t.step
        return True
    if on_error == "stop":
        if error is not None:
            raise error
        raise UserError(f"rank 0 could not write the checkpoint: {message}")
    previous = (
        f"the last good checkpoint is from step {t.last_saved_step}"
        if t.last_saved_step is not None
        else "no checkpoint of this run exists yet"
    )
    t.logger.error(
        f"CHECKPOINT NOT SAVED at step {t.step}: {message}. save_error='continue': training goes on "
        f"and the next save retries; {previous}"
    )
    return False


def restore_rank_rng(states: list, rank: int, seed: int, step: int) -> None:
    """Set this process's global RNGs on resume: rank ``r`` continues ``states[r]`` (the states of
    the ranks that wrote the checkpoint); a rank that did not exist then starts a fresh stream
    seeded by ``(seed, rank, step)``, so it differs from every other rank and from other resumes."""
    if rank < len(states):
        set_rng_state(states[rank])
    else:
        set_seed(derive_seed(seed, rank, step))


@HOOKS.register_module()
class CheckpointSaver(HookBase):
    """Saves ``model_last.pth`` every ``save_interval`` steps, at the last step and whenever an
    evaluator set ``trainer.is_best`` (then also copied to ``model_best.pth``). Place it after the
    evaluator. A failed write follows the config's ``save_error`` (see :func:`save_last`).

    The file holds ``trainer.state_dict()`` (model incl. any EMA/teacher submodules, optimizer,
    scheduler, AMP scaler, step, epoch, sampler position, best metric, non-finite step counters),
    the RNG states of every rank (``rng``, a list indexed by rank) and the config text.
    """

    def __init__(self, save_interval: int | None = None):
        self.save_interval = save_interval

    def after_step(self) -> None:
        t = self.trainer
        interval = self.save_interval or t.save_interval
        if t.step % interval and t.step != t.max_steps and not t.is_best:
            return
        save_last(t, t.save_error)


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
        saved_batch = ckpt.get("batch_size", t.batch_size)
        if int(saved_batch) != t.batch_size:
            done = t.epoch_index * int(saved_batch)
            t.epoch, t.epoch_index = t.train_sampler.position_after_samples(t.epoch, done)
            t.logger.warning(
                f"{path} was trained with batch_size={saved_batch}, this run uses {t.batch_size}: the "
                f"sampler continues from the global sample count ({done} samples into epoch "
                f"{int(ckpt['sampler']['epoch'])}), not bitwise as an uninterrupted run"
            )
        t.best_metric_value = float(ckpt.get("best_metric_value", t.best_metric_value))
        t.best_metric_name = ckpt.get("best_metric_name")
        if ckpt.get("nonfinite") is not None:
            t.nonfinite.load_state_dict(ckpt["nonfinite"])
        t.last_saved_step = t.step
        states = ckpt["rng"]
        if len(states) != t.world_size:
            t.logger.warning(
                f"{path} was written by {len(states)} rank(s), this run has {t.world_size}: model, "
                "optimizer, scheduler, step and data order continue exactly (the data of a step depends "
                "only on the seed, the step and the global batch_size); ranks below "
                f"{min(len(states), t.world_size)} continue their saved RNG streams, the others derive "
                "theirs from (seed, rank, step), so random choices inside the model differ from an "
                "uninterrupted run (docs/long_runs.md)"
            )
        restore_rank_rng(states, t.rank, t.seed, t.step)
        t.logger.info(f"resumed at step {t.step} (epoch {t.epoch}, batch {t.epoch_index})")
        if t.step == t.max_steps:
            t.logger.info(f"the run already finished (max_steps={t.max_steps}); nothing left to train")
