"""What a quality-check protocol runs: presets x seeds x label budgets x {linear probe, fine-tune}.

A protocol is a named budget (``micro`` for tests, ``small`` ~20 min, ``full`` <= 2 h on 2 cores)
fixing the presets, seeds, label budgets, modes, step counts and the generated data. Every preset is
a pretraining config of ``configs/semantic_kitti/ablation/`` (docs/method.md section 7) except
``random-init``, which skips pretraining: the downstream run starts from a random encoder. Each
(preset, seed) is pretrained once and shared by all its downstream cells; the seed also picks the
labelled subset, so cells with the same seed are paired across presets.
"""

import dataclasses
import re
from dataclasses import dataclass

ABLATION = "configs/semantic_kitti/ablation"


@dataclass(frozen=True)
class Preset:
    pretrain_config: str | None  # None: no pretraining (random init)
    mask_token: bool = False  # the checkpoint carries teacher.backbone.mask_token


PRESETS = {
    "naive": Preset(f"{ABLATION}/naive-tiny.py", mask_token=True),
    "sonata": Preset(f"{ABLATION}/sonata-tiny.py", mask_token=True),
    "observable": Preset(f"{ABLATION}/observable-tiny.py"),
    "softmap": Preset(f"{ABLATION}/softmap-tiny.py"),
    "dos": Preset(f"{ABLATION}/dos-tiny.py"),
    "regression": Preset(f"{ABLATION}/regression-tiny.py"),
    "alpha3": Preset(f"{ABLATION}/alpha3-tiny.py"),
    "random-init": Preset(None),
}
REFERENCE = "dos"  # every comparison is REFERENCE - preset

# Downstream configs; a mask-token checkpoint is probed with the probe built with a mask token (the
# key map loads strictly). Fine-tuning maps only the encoder's embedding and stages, so the token is
# simply not mapped there.
MODES = {
    "linear": ("configs/semantic_kitti/semseg-dos-lin-tiny.py", f"{ABLATION}/lin-mask-token-tiny.py"),
    "finetune": (
        "configs/semantic_kitti/semseg-dos-ft-tiny.py",
        "configs/semantic_kitti/semseg-dos-ft-tiny.py",
    ),
}


def downstream_config(mode: str, preset: str) -> str:
    plain, with_token = MODES[mode]
    return with_token if PRESETS[preset].mask_token else plain


@dataclass(frozen=True)
class Budget:
    """A label budget: a fraction of the labelled training scans or a fixed number of them."""

    spec: str  # "10%" or "2 scans"

    def __post_init__(self):
        if not re.fullmatch(r"\d+(\.\d+)?%|\d+ scans?", self.spec):
            raise ValueError(
                f"label budget {self.spec!r}: expected 'P%' (e.g. '10%') or 'N scans' (e.g. '2 scans')"
            )
        if self.spec.endswith("%") and not 0 < float(self.spec[:-1]) <= 100:
            raise ValueError(f"label budget {self.spec!r}: the percentage must be in (0, 100]")
        if not self.spec.endswith("%") and int(self.spec.split()[0]) < 1:
            raise ValueError(f"label budget {self.spec!r}: at least one scan")

    @property
    def slug(self) -> str:
        if self.spec.endswith("%"):
            return self.spec[:-1].replace(".", "_") + "pct"
        return self.spec.split()[0] + "scans"

    def num_scans(self, available: int) -> int:
        """Labelled scans this budget uses out of ``available``: at least 1, at most all of them."""
        if self.spec.endswith("%"):
            n = round(float(self.spec[:-1]) / 100 * available)
        else:
            n = int(self.spec.split()[0])
        return max(1, min(available, n))


@dataclass(frozen=True)
class Protocol:
    name: str
    presets: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: tuple[str, ...]
    modes: tuple[str, ...]
    pretrain_steps: int
    downstream_steps: int
    # the presets that are also fine-tuned (None: all); the linear probe always runs every preset
    finetune_presets: tuple[str, ...] | None = None
    resamples: int = 2000  # bootstrap resamples per interval
    num_worker: int = 0
    # generated long-tail data (--data longtail)
    skew: float = 1.0  # the training sequences (pretraining and the labelled pool)
    # the test sequences: unskewed by default, so that every class, tail ones included, is measured
    # (long-tailed training, balanced test, as long-tail benchmarks evaluate)
    test_skew: float = 0.0
    train_sequences: tuple[str, ...] = ("00", "01")
    test_sequences: tuple[str, ...] = ("08",)
    scans_per_seq: int = 4
    beams: int = 32
    azimuth_steps: int = 512
    data_seed: int = 0

    def __post_init__(self):
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise ValueError(f"unknown preset(s) {unknown}; choose from {list(PRESETS)}")
        if REFERENCE not in self.presets:
            raise ValueError(
                f"the presets must include {REFERENCE!r}: every comparison is {REFERENCE} - preset"
            )
        if self.finetune_presets is not None:
            unknown = [p for p in self.finetune_presets if p not in PRESETS]
            if unknown:
                raise ValueError(f"unknown finetune preset(s) {unknown}; choose from {list(PRESETS)}")
            if REFERENCE not in self.finetune_presets:
                raise ValueError(f"finetune_presets must include {REFERENCE!r}")
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"unknown mode(s) {bad}; choose from {list(MODES)}")
        for spec in self.budgets:
            Budget(spec)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        if self.pretrain_steps < 1 or self.downstream_steps < 1:
            raise ValueError("pretrain_steps and downstream_steps must be >= 1")

    def presets_for(self, mode: str) -> tuple[str, ...]:
        """The presets run in ``mode``, in protocol order (finetune: those also in finetune_presets)."""
        if mode == "finetune" and self.finetune_presets is not None:
            return tuple(p for p in self.presets if p in self.finetune_presets)
        return self.presets

    def override(self, **changes) -> "Protocol":
        """A copy with the given fields replaced (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


ALL_PRESETS = tuple(PRESETS)
PROTOCOLS = {
    # tests: two presets, two seeds, two budgets, both modes, a couple of steps each (~2 min)
    "micro": Protocol(
        name="micro",
        presets=("dos", "random-init"),
        seeds=(0, 1),
        budgets=("100%", "1 scan"),
        modes=("linear", "finetune"),
        pretrain_steps=2,
        downstream_steps=2,
        resamples=200,
        scans_per_seq=2,
        beams=16,
        azimuth_steps=256,
    ),
    # every preset, 3 seeds, 2 budgets, both modes, short runs (~20 min on 2 idle cores)
    "small": Protocol(
        name="small",
        presets=ALL_PRESETS,
        seeds=(0, 1, 2),
        budgets=("10%", "100%"),
        modes=("linear", "finetune"),
        pretrain_steps=40,
        downstream_steps=25,
        train_sequences=("00", "01", "02", "03", "04"),
        scans_per_seq=4,
    ),
    # the whole design: 1 %, 10 %, 100 % and a 2-scan few-shot setting; the linear probe (the paper's
    # setting) runs the whole chain, fine-tuning the label-efficiency comparison dos vs random init
    "full": Protocol(
        name="full",
        presets=ALL_PRESETS,
        finetune_presets=("dos", "random-init"),
        seeds=(0, 1, 2),
        budgets=("1%", "10%", "100%", "2 scans"),
        modes=("linear", "finetune"),
        pretrain_steps=150,
        downstream_steps=60,
        train_sequences=("00", "01", "02", "03", "04", "05", "06", "07", "09", "10"),
        scans_per_seq=10,
    ),
}
