"""Training and evaluation: trainer, hooks, tester, checkpoints, optimizers, schedulers, metrics."""

from .checkpoint import (
    CheckpointError,
    apply_key_map,
    extract_state_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from .det_tester import DetTester
from .hooks import (
    HOOKS,
    CheckpointLoader,
    CheckpointSaver,
    DetEvaluator,
    HookBase,
    InformationWriter,
    IterationTimer,
    SemSegEvaluator,
)
from .launch import init_distributed, select_device
from .metrics import format_metrics_table, intersection_and_union, summarize
from .optim import LAYER_ID, OPTIMIZERS, PrefixLayerId, build_optimizer
from .run_setup import RunContext, default_argument_parser, default_setup, setup_run
from .sampler import EvalBatchSampler, SeededCollate, SeededDataset, TrainBatchSampler
from .scheduler import SCHEDULERS, CosineWarmupLR, OneCycleLR, build_scheduler, cosine_schedule
from .step import train_step
from .tester import TESTERS, SemSegTester
from .trainer import Trainer

__all__ = [
    "DetEvaluator",
    "DetTester",
    "CheckpointError",
    "apply_key_map",
    "extract_state_dict",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "default_argument_parser",
    "default_setup",
    "RunContext",
    "setup_run",
    "HOOKS",
    "CheckpointLoader",
    "CheckpointSaver",
    "HookBase",
    "InformationWriter",
    "IterationTimer",
    "SemSegEvaluator",
    "init_distributed",
    "select_device",
    "format_metrics_table",
    "intersection_and_union",
    "summarize",
    "LAYER_ID",
    "OPTIMIZERS",
    "PrefixLayerId",
    "build_optimizer",
    "EvalBatchSampler",
    "SeededCollate",
    "SeededDataset",
    "TrainBatchSampler",
    "SCHEDULERS",
    "CosineWarmupLR",
    "OneCycleLR",
    "build_scheduler",
    "cosine_schedule",
    "train_step",
    "TESTERS",
    "SemSegTester",
    "Trainer",
]
