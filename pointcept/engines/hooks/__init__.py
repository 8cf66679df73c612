"""Trainer hooks. Importing this package registers every hook in ``HOOKS``."""

from .base import HOOKS, HookBase, build_hooks
from .checkpoint import CheckpointLoader, CheckpointSaver
from .det_evaluator import DetEvaluator
from .dos import DOSScheduleHook
from .evaluator import SemSegEvaluator
from .timer import IterationTimer
from .writer import InformationWriter

__all__ = [
    "HOOKS",
    "HookBase",
    "build_hooks",
    "CheckpointLoader",
    "CheckpointSaver",
    "DetEvaluator",
    "DOSScheduleHook",
    "SemSegEvaluator",
    "IterationTimer",
    "InformationWriter",
]
