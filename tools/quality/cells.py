"""One protocol cell at a time, through the Trainer and the SemSegTester users run.

A pretraining cell (preset, seed) trains ``<preset>-tiny.py`` and leaves
``<work>/pretrain/<preset>/seed<s>/{model/model_last.pth, done.json}``. A downstream cell (preset,
seed, budget, mode) trains the linear probe or the fine-tuning config on the budget's labelled
scans, tests it on every test scan and writes ``<work>/cells/<mode>/<budget>/<preset>/seed<s>.json``
holding the per-scan intersection and union counts. Both markers are written atomically after the
work is done, so a cell either has its file (finished, skipped on resume) or is run again from
scratch. Downstream checkpoints are deleted once their cell file exists (``keep_checkpoints``
keeps them): the pretrained ones are what a later run reuses.
"""

import math
import os
import shutil
import time

from .data import DataSpec, label_subset, write_json_atomic
from .protocol import PRESETS, Budget, downstream_config

MIN_TRAIN_SAMPLES = 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def snapshot(cfg) -> None:
    """Write the merged config next to the run, as tools/train.py does (vis_prototypes reads it)."""
    os.makedirs(cfg.save_path, exist_ok=True)
    with open(os.path.join(cfg.save_path, "config.py"), "w") as f:
        f.write(cfg.pretty_text())


def train_run(config: str, save_path: str, seed: int, steps: int, options: dict):
    """Train ``config`` (relative to the repo root) for ``steps`` steps into ``save_path``; the trainer."""
    from pointcept.engines import Trainer
    from pointcept.utils.config import load_config

    run = {
        "save_path": save_path,
        "seed": seed,
        "max_steps": steps,
        "save_interval": steps,
        "log_interval": 10,
    }
    cfg = load_config(os.path.join(ROOT, config), {**run, **options})
    snapshot(cfg)
    trainer = Trainer(cfg)
    trainer.train()
    return trainer


def pretrain_dir(work_dir: str, preset: str, seed: int) -> str:
    return os.path.join(work_dir, "pretrain", preset, f"seed{seed}")


def cell_path(work_dir: str, mode: str, budget: str, preset: str, seed: int) -> str:
    return os.path.join(work_dir, "cells", mode, Budget(budget).slug, preset, f"seed{seed}.json")


def run_pretrain(preset: str, seed: int, protocol, data: DataSpec, work_dir: str) -> dict:
    """Pretrain (preset, seed); returns its done.json record (checkpoint path, final losses, minutes)."""
    save_path = pretrain_dir(work_dir, preset, seed)
    start = time.perf_counter()
    options = {
        "data.train.data_root": data.pretrain_root,
        "data.train.split": data.pretrain_split,
        "num_worker": protocol.num_worker,
    }
    trainer = train_run(PRESETS[preset].pretrain_config, save_path, seed, protocol.pretrain_steps, options)
    final = {k: float(v) for k, v in trainer.output.items() if hasattr(v, "dim") and v.dim() == 0}
    record = dict(
        preset=preset,
        seed=seed,
        steps=protocol.pretrain_steps,
        weight=os.path.join(save_path, "model", "model_last.pth"),
        final=final,
        minutes=(time.perf_counter() - start) / 60,
    )
    write_json_atomic(os.path.join(save_path, "done.json"), record)
    return record


def run_downstream(
    preset: str,
    seed: int,
    budget: str,
    mode: str,
    weight: str | None,
    protocol,
    data: DataSpec,
    work_dir: str,
    keep_checkpoints: bool = False,
) -> dict:
    """Train and test one downstream cell; writes and returns its record (per-scan counts included)."""
    from pointcept.engines.tester import SemSegTester

    start = time.perf_counter()
    num = Budget(budget).num_scans(len(data.labelled))
    labels_root, seqs, chosen = label_subset(data, seed, num, work_dir)
    save_path = os.path.join(work_dir, "runs", mode, Budget(budget).slug, preset, f"seed{seed}")
    options = {
        "evaluate": False,
        "data.val": None,
        "data.train.data_root": labels_root,
        "data.train.split": seqs,
        # fewer labelled scans than a batch (the tiny configs' batch is 2): repeat them, each copy
        # augmented on its own
        "+data.train.loop": max(1, math.ceil(MIN_TRAIN_SAMPLES / num)),
        "data.test.data_root": data.test_root,
        "data.test.split": data.test_split,
        "num_worker": protocol.num_worker,
        "weight": weight,
    }
    trainer = train_run(downstream_config(mode, preset), save_path, seed, protocol.downstream_steps, options)
    tester = SemSegTester(trainer.cfg, model=trainer.model_without_ddp, save_predictions=False)
    metrics = tester.test()
    scans = sorted(tester.scan_counts, key=lambda item: item[0])
    record = dict(
        preset=preset,
        seed=seed,
        budget=budget,
        mode=mode,
        num_labelled=num,
        labelled=[f"{s.seq}/{s.stem}" for s in chosen],
        weight=weight,
        steps=protocol.downstream_steps,
        mIoU=float(metrics["mIoU"]),
        allAcc=float(metrics["allAcc"]),
        scans=[name for name, _ in scans],
        counts=[c[:2].tolist() for _, c in scans],  # per scan: [intersection, union], each (C,)
        minutes=(time.perf_counter() - start) / 60,
    )
    write_json_atomic(cell_path(work_dir, mode, budget, preset, seed), record)
    if not keep_checkpoints:
        shutil.rmtree(os.path.join(save_path, "model"), ignore_errors=True)
    return record
