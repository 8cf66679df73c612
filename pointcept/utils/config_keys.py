"""Pointcept config keys that are spelled differently here, and closest-name suggestions.

The known top-level keys are those of ``configs/_base_/default_runtime.py`` (see
:func:`pointcept.utils.config.known_keys`). A Pointcept key that is not one of them is looked up in
:data:`POINTCEPT_KEYS`, whose message names what to set instead. Pointcept keys with the same name
and meaning here need no entry: ``evaluate``, ``weight``, ``resume``, ``save_path``, ``seed``,
``num_worker``, ``batch_size``, ``batch_size_val`` (both global, summed over processes),
``mix_prob``, ``clip_grad``, ``param_dicts``, ``find_unused_parameters``, ``enable_wandb``,
``wandb_project``, ``amp_dtype`` (values spelled ``"bf16"``/``"fp16"``: see
:data:`AMP_DTYPE_SPELLINGS`).

An entry is consulted only for a key that is not known: if a key becomes supported (it is added to
``default_runtime.py``), its entry here stops applying and should be removed.
"""

import difflib
from collections.abc import Iterable

_EMPTY_CACHE = "is not supported: the trainer never calls torch.cuda.empty_cache(): remove it"

# Dotted key -> what it is in Pointcept and what to set here (the message follows "'<key>' ").
POINTCEPT_KEYS: dict[str, str] = {
    "epoch": (
        "is Pointcept's epoch count; this trainer is step-based: set max_steps "
        "(steps = epochs x scans / batch_size)"
    ),
    "eval_epoch": (
        "is Pointcept's number of evaluation rounds; this trainer is step-based: set eval_interval "
        "and save_interval in steps (e.g. max_steps // eval_epoch)"
    ),
    "enable_amp": (
        "is Pointcept's autocast switch; here amp_dtype alone decides: "
        "set amp_dtype='bf16'|'fp16'|None (None = full precision)"
    ),
    "wandb_key": (
        "is not read from configs: Weights & Biases takes the API key from `wandb login` or the "
        "WANDB_API_KEY environment variable (enable_wandb=True, wandb_project, wandb_name): remove it"
    ),
    "gradient_accumulation_steps": (
        "is spelled grad_accum_steps here; note that batch_size stays the global batch of one "
        "optimizer step (summed over processes and micro-batches): with Pointcept-style micro-batches "
        "of b samples on G processes set batch_size = b x G x grad_accum_steps"
    ),
    "sync_bn": (
        "is not supported: models are not converted to SyncBatchNorm here (BatchNorm statistics "
        "stay per process): remove it"
    ),
    "empty_cache": _EMPTY_CACHE,
    "empty_cache_per_epoch": _EMPTY_CACHE,
    "num_worker_per_gpu": (
        "is derived in Pointcept; set num_worker, the total over all processes "
        "(each gets num_worker // world_size)"
    ),
    "batch_size_per_gpu": (
        "is derived in Pointcept; set batch_size, the global batch over all processes "
        "(each gets batch_size // world_size)"
    ),
    "batch_size_val_per_gpu": (
        "is derived in Pointcept; set batch_size_val, the global validation batch over all processes"
    ),
    "batch_size_test": (
        "is Pointcept's test batch; tools/test.py runs one scan at a time split into fragments: "
        "set test.fragment_batch_size (fragments per forward pass)"
    ),
    "test_only": "is not used here: evaluate a checkpoint with tools/test.py (tools/test.sh)",
    "train": (
        "is Pointcept's trainer choice (train=dict(type='DefaultTrainer')); tools/train.py always "
        "runs pointcept.engines.Trainer: remove it (the training dataset is data.train)"
    ),
    "test.verbose": (
        "is Pointcept's tester option; SemSegTester here always logs every scan and the "
        "per-class table: remove it"
    ),
}

# Pointcept's amp_dtype values -> ours.
AMP_DTYPE_SPELLINGS: dict[str, str] = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16"}


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` that look like ``name`` (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6)


def did_you_mean(names: list[str]) -> str:
    """``"; did you mean 'a', 'b' or 'c'?"``, or ``""`` for no names."""
    if not names:
        return ""
    quoted = [f"'{n}'" for n in names]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"; did you mean {listed}?"
