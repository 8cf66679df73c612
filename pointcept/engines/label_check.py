"""Guard against supervised training on data without labels.

A training batch is supervised if it carries ``segment``; a point's label is valid if it differs
from ``data.ignore_index``. Cross-entropy over zero valid points is 0, so a dataset whose labels
are all missing (wrong label folder, a learning map sending everything to ``ignore_index``) would
otherwise "train" with loss 0.0000 and exit successfully.

Rule: a few label-less scans are fine (they are counted, and reported in the log at the end of
each epoch and of the run); the run fails with :class:`NoLabelsError` when

* a whole epoch, observed from its first batch, had no valid label on any rank, or
* the run went from step 0 to ``max_steps`` (shorter than an epoch) without any valid label.

A self-supervised config whose batches carry ``segment`` only for monitoring sets
``check_labels = False``.

Both are decided on every rank at the same batch (one all-reduce of a counter), before that
batch's optimizer step, so the last label-less step is neither trained nor checkpointed.
"""

import torch

from pointcept.utils import comm
from pointcept.utils.errors import UserError


class NoLabelsError(UserError, ValueError):
    """Supervised training data carries no valid label."""


class LabelCheck:
    """Counts valid labels and label-less scans of training batches (see module doc).

    Args:
        ignore_index: label of unlabelled points.
        where: the training data, for messages (e.g. ``data.train (data_root=..., split=...)``).
        batches_per_epoch, max_steps: the trainer's.
        device: where the counter lives for the all-reduce (the trainer's device).
        enabled: False turns the check off (``check_labels = False`` in the config).
    """

    def __init__(
        self,
        ignore_index: int,
        where: str,
        batches_per_epoch: int,
        max_steps: int,
        device: torch.device,
        logger,
        enabled: bool = True,
    ):
        self.enabled = bool(enabled)
        self.ignore_index = int(ignore_index)
        self.batches_per_epoch, self.max_steps = batches_per_epoch, max_steps
        self.where = where
        self.device = device
        self.logger = logger
        self.supervised = False
        self.epoch_labels = 0  # valid labels seen in the current epoch (this rank)
        self.epoch_complete = False  # the current epoch has been observed from its first batch
        self.run_labels = 0  # valid labels seen by this process since its first step (this rank)
        self.scans = 0  # training scans seen by this process
        self.empty_scans = 0  # of which without any valid label
        self.epoch_empty_scans = 0

    def observe(
        self, batches: dict | list[dict], step: int, start_step: int, epoch: int, epoch_index: int
    ) -> None:
        """Count ``batches`` (a batch or the micro-batches of one step), what the optimizer step
        ``step`` (1-based) is about to train on, with ``epoch_index`` steps of ``epoch`` done before
        it, in a process that started at ``start_step``; then apply the rule (module doc)."""
        for i, batch in enumerate([batches] if isinstance(batches, dict) else batches):
            self.update(batch, epoch_index, first=i == 0)
        self.check(
            step,
            start_step,
            epoch,
            end_of_epoch=epoch_index + 1 == self.batches_per_epoch,
            end_of_run=step == self.max_steps,
        )

    def update(self, batch: dict, epoch_index: int, first: bool = True) -> None:
        """Count one (micro-)batch; ``first`` is False for later micro-batches of the same step."""
        segment = batch.get("segment") if self.enabled and isinstance(batch, dict) else None
        if not isinstance(segment, torch.Tensor):
            return
        self.supervised = True
        if epoch_index == 0 and first:
            self.epoch_labels, self.epoch_empty_scans, self.epoch_complete = 0, 0, True
        valid = segment.reshape(-1) != self.ignore_index
        offset = batch.get("offset")
        if isinstance(offset, torch.Tensor) and offset.numel() > 0:
            ends = offset.reshape(-1).tolist()
        else:
            ends = [valid.numel()]
        start, empty = 0, 0
        for end in ends:
            empty += not bool(valid[start:end].any())
            start = end
        num_valid = int(valid.sum())
        self.epoch_labels += num_valid
        self.run_labels += num_valid
        self.scans += len(ends)
        self.empty_scans += empty
        self.epoch_empty_scans += empty
        if empty and self.empty_scans == empty:
            self.logger.warning(
                f"{empty} training scan(s) in this batch have no valid label (all {self.ignore_index}); "
                "counting them, the totals are logged per epoch"
            )

    def _total(self, count: int) -> int:
        value = torch.tensor([count], dtype=torch.int64, device=self.device)
        comm.all_reduce(value)
        return int(value.item())

    def check(self, step: int, start_step: int, epoch: int, end_of_epoch: bool, end_of_run: bool) -> None:
        if not self.supervised or not (end_of_epoch or end_of_run):
            return
        if end_of_epoch:
            if self.epoch_empty_scans:
                self.logger.warning(
                    f"epoch {epoch}: {self.epoch_empty_scans} training scan(s) had no valid label "
                    f"({self.empty_scans} of {self.scans} so far on this rank)"
                )
            if self.epoch_complete and self._total(self.epoch_labels) == 0:
                raise NoLabelsError(
                    f"no valid label in a whole epoch of training data: every point of {self.where} "
                    f"is labelled ignore_index={self.ignore_index} (epoch {epoch}, step {step}). "
                    "Check the label files and the dataset's learning map, or train a self-supervised config."
                )
        if end_of_run and self.empty_scans:
            self.logger.warning(
                f"{self.empty_scans} of the {self.scans} training scans seen by this process "
                "had no valid label"
            )
        if end_of_run and start_step == 0 and self._total(self.run_labels) == 0:
            raise NoLabelsError(
                f"no valid label in any of the {step} training steps: every point of {self.where} is "
                f"labelled ignore_index={self.ignore_index}. Check the label files and the dataset's "
                "learning map, or train a self-supervised config."
            )
