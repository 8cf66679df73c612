"""Step-based trainer driven by hooks.

One step = one global batch (``batch_size`` samples over all ranks) = one optimizer step; with
``grad_accum_steps = k`` each rank reads it as k micro-batches of ``batch_size / (world size x k)``
samples and accumulates their gradients (``step.train_step``), so the data, the step count and
everything scheduled per step do not depend on k. Hooks
(``configs/_base_/default_runtime.py``: ``hooks``) run at ``before_train``, ``before_epoch``,
``before_step``, ``after_step``, ``after_epoch`` and ``after_train``; an epoch is one pass of the
sampler over the training set. Evaluation and checkpointing are hooks keyed on ``step``
(``eval_interval``, ``save_interval``).
"""

import math
import time
import weakref

import torch
from torch.nn.parallel import DistributedDataParallel

from pointcept.utils import comm
from pointcept.utils.config import config_int
from pointcept.utils.errors import EXIT_PREEMPTED, DataLoaderError
from pointcept.utils.logger import close_file_handlers
from pointcept.utils.registry import ConfigError
from pointcept.utils.seed import WorkerInit, derive_seed, set_seed

from .amp import build_grad_scaler
from .hooks.base import build_hooks
from .hooks.checkpoint import SAVE_ERROR_POLICIES, save_last
from .label_check import LabelCheck
from .nonfinite import NonFiniteGuard
from .optim import build_optimizer
from .preemption import PreemptionGuard
from .run_folder import TRAINING_STARTED
from .run_setup import fill_seed, setup_run
from .sampler import EvalBatchSampler, SeededCollate, SeededDataset, TrainBatchSampler
from .scheduler import build_scheduler
from .step import train_step
from .storage import ScalarStorage
from .writers import build_writer

_REQUIRED_KEYS = ("model", "data", "batch_size", "max_steps", "optimizer", "save_path")


class Trainer:
    """Builds model, data, optimizer, scheduler and hooks from ``cfg`` and runs ``max_steps`` steps.

    Attributes used by hooks: ``cfg``, ``model`` (DDP-wrapped when distributed),
    ``model_without_ddp``, ``optimizer``, ``scheduler``, ``scaler``, ``train_loader``,
    ``train_sampler``, ``val_loader``, ``step`` (completed optimizer steps), ``max_steps``, ``epoch``,
    ``epoch_index`` (batches done in the current epoch), ``forward_kwargs`` (passed to the model,
    refreshed by hooks in ``before_step``), ``output`` (the last model output), ``storage``,
    ``writer`` (tensorboardX and/or Weights & Biases, see ``writers.py``; None when off), ``logger``,
    ``device``, ``best_metric_value``,
    ``step_skipped`` (the last step's update was dropped by the ``nonfinite`` policy),
    ``save_error``, ``last_saved_step``.

    Faults of long runs (docs/long_runs.md): SIGTERM/SIGUSR1 end ``train()`` after the current
    step with ``model_last.pth`` written and ``stopped_by`` set (``tools/train.py`` exits 3);
    ``nonfinite``, ``save_error`` and ``data_timeout`` are config keys.
    """

    def __init__(self, cfg):
        missing = [k for k in _REQUIRED_KEYS if cfg.get(k) is None]
        if missing:
            raise ConfigError(f"config is missing required key(s) {missing}")
        self.cfg = cfg
        run = setup_run(cfg, "train.log")
        self.device, self.rank, self.world_size = run.device, run.rank, run.world_size
        self.logger, self.amp_dtype = run.logger, run.amp_dtype
        self.save_path = cfg.save_path
        fill_seed(cfg)
        # Integers are checked, not truncated: batch_size=1.7 is an error naming the key.
        self.seed = config_int(cfg, "seed")
        self.max_steps = config_int(cfg, "max_steps", minimum=1)
        self.batch_size = config_int(cfg, "batch_size", minimum=1)
        self.num_worker = config_int(cfg, "num_worker", 0, minimum=0)
        self.batch_size_val = config_int(cfg, "batch_size_val", 0, minimum=0) or 1
        self.eval_interval = config_int(cfg, "eval_interval", 0, minimum=0) or self.max_steps
        self.save_interval = config_int(cfg, "save_interval", 0, minimum=0) or self.max_steps
        self.log_interval = config_int(cfg, "log_interval", 0, minimum=0) or 1
        self.clip_grad = cfg.get("clip_grad")
        self.nonfinite = NonFiniteGuard.from_config(cfg.get("nonfinite"))
        self.save_error = cfg.get("save_error", "stop")
        if self.save_error not in SAVE_ERROR_POLICIES:
            raise ConfigError(f"save_error must be one of {SAVE_ERROR_POLICIES}, got {self.save_error!r}")
        self.data_timeout = float(cfg.get("data_timeout") or 0)
        if self.data_timeout < 0:
            raise ConfigError(
                f"data_timeout must be >= 0 seconds (0 = wait forever), got {self.data_timeout}"
            )
        self.grad_accum_steps = config_int(cfg, "grad_accum_steps", 1, minimum=1)
        self.logger.info(f"device {self.device}, world size {self.world_size}, seed {self.seed}")
        set_seed(derive_seed(self.seed, self.rank))

        self.model_without_ddp = self.build_model()
        self.model = self.model_without_ddp
        if self.world_size > 1:
            self.model = DistributedDataParallel(
                self.model_without_ddp,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(cfg.get("find_unused_parameters", False)),
            )
        self.scaler = build_grad_scaler(self.device, self.amp_dtype)
        self.train_tags: tuple[str, ...] = ()  # dataset tags of a ConcatDataset training set
        self.train_loader, self.train_sampler = self.build_train_loader()
        self.val_loader = (
            self.build_val_loader() if cfg.get("evaluate", True) and cfg.data.get("val") else None
        )
        self.optimizer = build_optimizer(
            cfg.optimizer,
            self.model_without_ddp,
            param_dicts=cfg.get("param_dicts"),
            layer_decay=cfg.get("layer_decay"),
            no_decay_keywords=tuple(cfg.get("no_decay_keywords") or ()),
        )
        self.scheduler = build_scheduler(cfg.get("scheduler"), self.optimizer, self.max_steps)
        self.writer = self.build_writer()
        self.storage = ScalarStorage()
        self.step = 0
        self.epoch = 0
        self.epoch_index = 0
        self.forward_kwargs: dict = {}
        self.output: dict = {}
        self.data_time = 0.0
        self.best_metric_value = -math.inf
        self.best_metric_name: str | None = None
        self.is_best = False  # set by an evaluator hook in after_step when the metric improves
        self.step_skipped = False  # the last step's update was skipped (nonfinite policy "skip")
        self.last_saved_step: int | None = None  # step of the last checkpoint written or resumed
        self.stopped_by: str | None = None  # the signal(s) that ended train() early, if any
        # Hooks hold a weak proxy: a strong reference from trainer.hooks back to the trainer
        # would form a cycle that keeps the model and loaders alive until the GC runs.
        self.hooks = build_hooks(cfg.get("hooks") or [], weakref.proxy(self))
        self.label_check = LabelCheck(
            cfg.data.get("ignore_index", -1),
            self.describe_train_data(),
            self.train_sampler.batches_per_epoch,
            self.max_steps,
            self.device,
            self.logger,
            enabled=cfg.get("check_labels", True),
        )

    # ------------------------------------------------------------------ builders
    def build_model(self) -> torch.nn.Module:
        from pointcept.models.builder import build_model

        model = build_model(self.cfg.model).to(self.device)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_all = sum(p.numel() for p in model.parameters())
        self.logger.info(f"model {type(model).__name__}: {n_all} parameters, {n_train} trainable")
        return model

    def _loader_kwargs(self) -> dict:
        num_workers = self.num_worker // self.world_size
        return dict(
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=WorkerInit(self.seed, self.rank),
            # A private generator: otherwise creating a loader iterator draws from the global torch
            # RNG, and a resumed run (which creates it at a different point) would diverge.
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=False,
            # Only meaningful with workers; DataLoader refuses a timeout without them.
            timeout=self.data_timeout if num_workers > 0 else 0,
        )

    def build_train_loader(self) -> tuple[torch.utils.data.DataLoader, TrainBatchSampler]:
        from pointcept.datasets import build_dataset, collate_fn

        dataset = build_dataset(self.cfg.data.train, where="data.train")
        mix_prob = float(self.cfg.get("mix_prob", 0.0))
        if mix_prob > 0:
            from functools import partial

            from pointcept.datasets import point_collate_fn

            collate_fn = partial(point_collate_fn, mix_prob=mix_prob)
        # A dataset with its own sampling rule (ConcatDataset) sets the epoch length and order.
        epoch_order = getattr(dataset, "epoch_order", None)
        try:
            sampler = TrainBatchSampler(
                getattr(dataset, "samples_per_epoch", len(dataset)) if epoch_order else len(dataset),
                self.batch_size,
                True,
                self.seed,
                self.rank,
                self.world_size,
                epoch_order=epoch_order,
                micro_batches=self.grad_accum_steps,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.train_tags = tuple(getattr(dataset, "tags", ()))
        loader = torch.utils.data.DataLoader(
            SeededDataset(dataset),
            batch_sampler=sampler,
            collate_fn=SeededCollate(collate_fn),
            **self._loader_kwargs(),
        )
        self.logger.info(
            f"train set: {len(dataset)} samples, {sampler.batches_per_epoch} steps per epoch, "
            f"{sampler.local_batch_size} samples per rank per step"
            + (
                f" in {sampler.micro_batches} micro-batches of {sampler.micro_batch_size}"
                if sampler.micro_batches > 1
                else ""
            )
        )
        return loader, sampler

    def build_val_loader(self) -> torch.utils.data.DataLoader:
        from pointcept.datasets import build_dataset, collate_fn

        dataset = build_dataset(self.cfg.data.val, where="data.val")
        per_rank = max(1, self.batch_size_val // self.world_size)
        sampler = EvalBatchSampler(len(dataset), per_rank, self.seed, self.rank, self.world_size)
        return torch.utils.data.DataLoader(
            SeededDataset(dataset),
            batch_sampler=sampler,
            collate_fn=SeededCollate(collate_fn),
            **self._loader_kwargs(),
        )

    def describe_train_data(self) -> str:
        train = self.cfg.data.get("train") or {}
        details = ", ".join(f"{k}={train[k]!r}" for k in ("data_root", "split") if k in train)
        return f"data.train ({details})" if details else "data.train"

    def build_writer(self):
        if not comm.is_main_process():
            return None
        return build_writer(self.cfg, self.logger)

    # ------------------------------------------------------------------ loop
    def call_hooks(self, event: str) -> None:
        for hook in self.hooks:
            getattr(hook, event)()

    @property
    def next_position(self) -> tuple[int, int]:
        """Sampler ``(epoch, index)`` of the next batch to train on (saved in checkpoints)."""
        if self.epoch_index >= self.train_sampler.batches_per_epoch:
            return self.epoch + 1, 0
        return self.epoch, self.epoch_index

    def train(self) -> None:
        self.call_hooks("before_train")
        self.train_sampler.set_position(*self.next_position)
        self.epoch, self.epoch_index = self.next_position
        # Worker seeds also depend on where this loader starts, so a resumed run's workers do not
        # replay the first run's streams (per-sample seeding already fixes the data itself).
        self.train_loader.worker_init_fn.start = self.step
        data_iter = iter(self.train_loader)
        self.model.train()
        self.logger.info(f"{TRAINING_STARTED} {self.step} to {self.max_steps} (epoch {self.epoch})")
        first = True
        start_step = self.step
        with PreemptionGuard() as preemption:
            while self.step < self.max_steps:
                if first or self.epoch_index == 0:
                    self.call_hooks("before_epoch")
                    first = False
                start = time.perf_counter()
                batches = [self.next_batch(data_iter) for _ in range(self.grad_accum_steps)]
                self.data_time = time.perf_counter() - start
                self.log_data_mix(batches)
                self.label_check.observe(batches, self.step + 1, start_step, self.epoch, self.epoch_index)
                self.call_hooks("before_step")
                self.run_step(batches[0] if len(batches) == 1 else batches)
                self.step += 1
                self.epoch_index += 1
                self.call_hooks("after_step")
                self.is_best = False
                if self.epoch_index == self.train_sampler.batches_per_epoch:
                    self.call_hooks("after_epoch")
                    self.epoch, self.epoch_index = self.epoch + 1, 0
                if self.step < self.max_steps and preemption.should_stop(self.device):
                    self.stop_for_preemption(preemption)
                    break
        del data_iter
        if self.stopped_by is None:
            self.call_hooks("after_train")
        if self.writer is not None:
            self.writer.close()
        comm.barrier()
        close_file_handlers()

    def log_data_mix(self, batches: list[dict]) -> None:
        """With a tagged training set (``ConcatDataset``), log ``mix/<tag>``: the share of this
        step's samples (all micro-batches) from each dataset (every tag every step, so ranks log
        the same keys)."""
        if not self.train_tags:
            return
        tags = [t for b in batches if isinstance(b, dict) for t in (b.get("dataset") or [])]
        if not tags:
            return
        for tag in self.train_tags:
            self.storage.put(f"mix/{tag}", sum(t == tag for t in tags) / len(tags))

    def next_batch(self, data_iter) -> dict:
        """The next training batch; a hung (``data_timeout``) or dead worker is reported naming
        the samples of the batch it was loading."""
        try:
            return next(data_iter)
        except RuntimeError as e:
            text = str(e)
            if not (text.startswith("DataLoader timed out") or text.startswith("DataLoader worker")):
                raise
            indices = self.train_sampler.batch_indices(self.epoch, self.epoch_index)
            hint = (
                f"no batch arrived within data_timeout={self.data_timeout:g}s"
                if text.startswith("DataLoader timed out")
                else text.splitlines()[0]
            )
            raise DataLoaderError(
                f"{hint} at step {self.step + 1} (epoch {self.epoch}, batch {self.epoch_index}); this "
                f"rank's samples of that batch are {self.describe_train_data()} indices {indices}. "
                "A worker hangs or crashed: check those samples' files and the transforms, raise "
                "data_timeout, or set num_worker=0 to get the error in the main process"
            ) from e

    def stop_for_preemption(self, preemption: PreemptionGuard) -> None:
        """After the step in progress: write ``model_last.pth`` (unless this step already did).
        A write error stops the run (exit 1) whatever ``save_error`` says: exit 3 promises a
        checkpoint of this step."""
        if self.last_saved_step != self.step:
            save_last(self, on_error="stop")
        self.stopped_by = preemption.describe()  # includes signals that arrived during the save
        self.logger.warning(
            f"preempted by {self.stopped_by}: stopped after step {self.step} of {self.max_steps}; "
            f"model_last.pth holds step {self.step}; exiting with code {EXIT_PREEMPTED}; "
            "continue with -r true (resume=True)"
        )

    def run_step(self, batch: dict | list[dict]) -> None:
        """One optimizer step on ``batch`` or on a list of micro-batches (see ``step.train_step``);
        sets ``self.output``."""
        self.output = train_step(
            self.model,
            batch,
            self.optimizer,
            self.scaler,
            self.scheduler,
            device=self.device,
            amp_dtype=self.amp_dtype,
            clip_grad=self.clip_grad,
            forward_kwargs=self.forward_kwargs,
            storage=self.storage,
            step_number=self.step + 1,
            nonfinite=self.nonfinite,
        )
        self.step_skipped = self.nonfinite.last_skipped

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly (see ``hooks/checkpoint.py``)."""
        epoch, index = self.next_position
        return dict(
            model=self.model_without_ddp.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
            scaler=self.scaler.state_dict(),
            step=self.step,
            max_steps=self.max_steps,
            epoch=epoch,
            sampler=dict(epoch=epoch, index=index),
            batch_size=self.batch_size,  # global batch the sampler position counts in
            best_metric_value=self.best_metric_value,
            best_metric_name=self.best_metric_name,
            nonfinite=self.nonfinite.state_dict(),
        )
