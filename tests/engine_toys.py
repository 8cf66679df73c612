"""Tiny registered dataset and segmentor for engine tests (independent of the real models/datasets).

``ToySegDataset``: seeded random clouds whose label is a function of the coordinates (so an MLP can
learn it), a random jitter drawn from numpy's global generator (exercises per-sample seeding), and
test-mode fragments. ``ToySegmentor``: a point-wise MLP following the model contract, with an
optional EMA teacher submodule. Imported by tests and, through ``custom_imports``, by
``tools/train.py`` subprocesses (with ``tests/`` on ``PYTHONPATH``). ``FaultAtStep``: a hook that
injects a fault (crash, signal, non-finite weights, read-only checkpoint folder) after a step.
"""

import copy
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from pointcept.datasets.builder import DATASETS
from pointcept.engines.hooks import HOOKS, HookBase
from pointcept.models.builder import MODELS
from pointcept.utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOY_CLASSES = ["ground", "car", "pole", "tree"]


def toy_labels(coord: np.ndarray) -> np.ndarray:
    """Class = quadrant of (x, y) around the origin: learnable from coordinates."""
    return (coord[:, 0] > 0).astype(np.int64) * 2 + (coord[:, 1] > 0).astype(np.int64)


@DATASETS.register_module()
class ToySegDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        num_samples: int = 16,
        num_points: int = 64,
        seed: int = 0,
        jitter: float = 0.05,
        ignore_ratio: float = 0.1,
        test_mode: bool = False,
        num_fragments: int = 3,
        delay: float = 0.0,
        fail_at: int | None = None,
        crash_at: int | None = None,
        files_dir: str | None = None,
    ):
        self.num_samples, self.num_points, self.seed = num_samples, num_points, seed
        self.jitter, self.ignore_ratio = jitter, ignore_ratio
        self.test_mode, self.num_fragments, self.delay = test_mode, num_fragments, delay
        # fail_at: that index raises ValueError; crash_at: the loading process dies (SIGKILL),
        # as a worker killed by the OOM killer would (only for DataLoader workers).
        self.fail_at, self.crash_at, self.files_dir = fail_at, crash_at, files_dir
        self.class_names = list(TOY_CLASSES)
        self.num_classes = len(TOY_CLASSES)
        self.ignore_index = -1
        self.learning_map_inv = np.array([40, 10, 80, 70], dtype=np.int64)

    def __len__(self) -> int:
        return self.num_samples

    def scan(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, idx])
        coord = rng.uniform(-1, 1, size=(self.num_points, 3)).astype(np.float32)
        segment = toy_labels(coord)
        segment[rng.random(self.num_points) < self.ignore_ratio] = -1
        return coord, segment

    def get_data_source(self, idx: int) -> str:
        """The file sample ``idx`` would come from (``files_dir`` set) — for error messages."""
        if self.files_dir is None:
            raise AttributeError("ToySegDataset without files_dir has no files")
        return os.path.join(self.files_dir, f"scan_{idx:03d}.bin")

    def __getitem__(self, idx: int) -> dict:
        if self.delay:
            time.sleep(self.delay)
        if idx == self.fail_at:
            raise ValueError("corrupt sample (simulated)")
        if idx == self.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        coord, segment = self.scan(idx)
        if self.test_mode:
            return self.prepare_test_data(idx, coord, segment)
        # The global generator, as real transforms use it: the engine seeds it per sample.
        coord = coord + np.random.normal(0, self.jitter, size=coord.shape).astype(np.float32)
        return dict(
            coord=torch.from_numpy(coord), feat=torch.from_numpy(coord), segment=torch.from_numpy(segment)
        )

    def prepare_test_data(self, idx: int, coord: np.ndarray, segment: np.ndarray) -> dict:
        n = len(coord)
        fragments = []
        for f in range(self.num_fragments):
            # Every point is in fragment (i mod num_fragments); fragment 0 also overlaps the next one.
            index = np.arange(f, n, self.num_fragments)
            if f == 0:
                index = np.concatenate([index, np.arange(1, n, self.num_fragments)])
            fragments.append(
                dict(
                    coord=torch.from_numpy(coord[index]),
                    feat=torch.from_numpy(coord[index]),
                    index=torch.from_numpy(index),
                )
            )
        return dict(name=f"scan_{idx:03d}", segment=segment, coord=coord, fragment_list=fragments)

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> None:
        os.makedirs(save_path, exist_ok=True)
        self.learning_map_inv[pred].astype(np.uint32).tofile(os.path.join(save_path, f"{name}.label"))


@MODELS.register_module()
class ToySegmentor(torch.nn.Module):
    """Point-wise MLP segmentor: ``feat`` (N, C) -> ``seg_logits`` (N, num_classes)."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 4,
        hidden: int = 16,
        teacher: bool = False,
        nan_at: tuple = (),
        nan_mode: str = "loss",
    ):
        super().__init__()
        # Training forward calls numbered from 1 in nan_at produce a NaN: in the loss term
        # "loss_aux" (nan_mode="loss") or, with a finite loss, in the gradients (nan_mode="grad").
        self.nan_at, self.nan_mode, self.calls = tuple(nan_at), nan_mode, 0
        self.backbone = torch.nn.Sequential(
            torch.nn.Linear(in_channels, hidden), torch.nn.ReLU(), torch.nn.LayerNorm(hidden)
        )
        self.head = torch.nn.Linear(hidden, num_classes)
        self.teacher = copy.deepcopy(self.backbone).requires_grad_(False) if teacher else None

    def forward(self, batch: dict, momentum: float = 0.9) -> dict:
        feat = self.backbone(batch["feat"])
        logits = self.head(feat)
        out = {}
        if "segment" in batch:
            out["loss"] = F.cross_entropy(logits, batch["segment"], ignore_index=-1)
            if self.training and self.nan_at:
                self.calls += 1
                zero = (logits * 0).sum()
                aux = zero
                if self.calls in self.nan_at:
                    # sqrt'(0) = inf: a finite value with NaN gradients
                    aux = zero * float("nan") if self.nan_mode == "loss" else torch.sqrt(zero)
                out["loss_ce"], out["loss_aux"] = out["loss"].detach(), aux
                out["loss"] = out["loss"] + aux
        if self.training:
            out["class_usage"] = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).float()
            out["dropout_draw"] = torch.rand(())  # consumes the global RNG like dropout would
            if self.teacher is not None:
                with torch.no_grad():
                    for t, s in zip(self.teacher.parameters(), self.backbone.parameters()):
                        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
        else:
            out["seg_logits"] = logits
        return out


def toy_config_text(save_path: str, **overrides) -> str:
    """Source of a complete toy training config (``overrides`` are appended as assignments)."""
    lines = [
        'custom_imports = ["engine_toys"]',
        'model = dict(type="ToySegmentor", in_channels=3, num_classes=4, hidden=16, teacher=True)',
        f"data = dict(num_classes=4, ignore_index=-1, names={TOY_CLASSES!r},",
        '    train=dict(type="ToySegDataset", num_samples=12, num_points=64, seed=1),',
        '    val=dict(type="ToySegDataset", num_samples=4, num_points=64, seed=2, jitter=0.0),',
        '    test=dict(type="ToySegDataset", num_samples=3, num_points=50, seed=3, test_mode=True))',
        "batch_size = 4",
        "batch_size_val = 2",
        "num_worker = 0",
        "max_steps = 12",
        "eval_interval = 6",
        "save_interval = 4",
        "log_interval = 3",
        'optimizer = dict(type="AdamW", lr=0.01, weight_decay=0.01)',
        'scheduler = dict(type="CosineWarmupLR", warmup_steps=2)',
        "clip_grad = 1.0",
        "seed = 7",
        'device = "cpu"',
        f"save_path = {save_path!r}",
        "hooks = [",
        '    dict(type="CheckpointLoader"),',
        '    dict(type="IterationTimer", warmup_steps=1),',
        '    dict(type="InformationWriter"),',
        '    dict(type="SemSegEvaluator"),',
        '    dict(type="CheckpointSaver"),',
        "]",
        'test = dict(type="SemSegTester", fragment_batch_size=2)',
    ]
    lines += [f"{k} = {v!r}" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


def write_toy_config(path: str, save_path: str, **overrides) -> str:
    with open(path, "w") as f:
        f.write(toy_config_text(save_path, **overrides))
    return path


def load_toy_config(tmp_path, name: str = "run", **overrides):
    """The toy config with ``overrides``, written to ``tmp_path/<name>.py`` (save_path
    ``tmp_path/<name>``) and loaded."""
    return load_config(write_toy_config(str(tmp_path / f"{name}.py"), str(tmp_path / name), **overrides))


def train_py_env() -> dict:
    """Environment for a ``tools/train.py`` subprocess that imports these toys."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")]),
        "OMP_NUM_THREADS": "1",
    }


def train_py_command(cfg_path: str, *options: str, nproc: int = 1) -> list[str]:
    """``python tools/train.py --config-file CFG [--options ...]``, under torchrun if ``nproc > 1``."""
    cmd = [sys.executable]
    if nproc > 1:
        cmd += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd += [os.path.join(REPO, "tools", "train.py"), "--config-file", cfg_path]
    return cmd + (["--options", *options] if options else [])


@HOOKS.register_module()
class FaultAtStep(HookBase):
    """After step ``at``: ``fault="crash"`` raises RuntimeError, ``"signal"`` sends ``signum`` to
    this process, ``"poison"`` writes inf into the model's ``head.bias``, ``"read_only"`` makes
    ``<save_path>/model`` read-only. ``FaultAtStep.fired`` lists the steps it acted at."""

    fired: list[int] = []

    def __init__(self, at: int, fault: str, signum: int = int(signal.SIGTERM)):
        if fault not in ("crash", "signal", "poison", "read_only"):
            raise ValueError(f"unknown fault {fault!r}")
        self.at, self.fault, self.signum = at, fault, signum

    def after_step(self):
        t = self.trainer
        if t.step != self.at:
            return
        FaultAtStep.fired.append(t.step)
        if self.fault == "crash":
            raise RuntimeError(f"simulated crash after step {self.at}")
        if self.fault == "signal":
            os.kill(os.getpid(), self.signum)
        elif self.fault == "poison":
            with torch.no_grad():
                t.model_without_ddp.head.bias[0] = float("inf")
        else:
            os.chmod(os.path.join(t.save_path, "model"), 0o500)


def torchrun_train(cfg_path: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """``tools/train.py --config-file cfg_path`` as ``nproc`` local torchrun processes (gloo on CPU),
    with the repository and ``tests/`` on PYTHONPATH; output captured as text."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([repo, os.path.join(repo, "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd += [os.path.join(repo, "tools", "train.py"), "--config-file", cfg_path]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
