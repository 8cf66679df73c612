"""Strict configs: unknown keys in files and --options, closest-name suggestions, Pointcept keys,
``+key`` to add a nested key, every shipped config loads, and the CLI's one-line error."""

import glob
import os
import re
import subprocess
import sys
import textwrap

import pytest

from pointcept.utils import config as config_module
from pointcept.utils.config import DEFAULT_RUNTIME, known_keys, load_config
from pointcept.utils.config_keys import POINTCEPT_KEYS, closest, did_you_mean
from pointcept.utils.registry import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.py"), recursive=True))
TINY = os.path.join(ROOT, "configs", "semantic_kitti", "semseg-ptv3-tiny.py")
HINT = " (a helper variable's name must start with '_')"  # ends every unknown-key error of a file


def write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def error(path: str, options=None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(path, options)
    return str(exc.value)


@pytest.fixture
def exp(tmp_path):
    """A config inheriting the real default_runtime.py, with a nested model dict."""
    return write(
        tmp_path / "exp.py",
        f"""
        _base_ = [{DEFAULT_RUNTIME!r}]
        model = dict(type="M", alpha=1.0, backbone=dict(depth=2, channels=8))
        _helper = 3  # a helper variable: not a config key
        max_steps = _helper * 10
        """,
    )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_shipped_config_loads_strictly(path):
    if config_module._leftover_patches(config_module._read_file(path)):
        # a _base_ fragment that patches its parents' lists (_by_type_): checked as merged into them
        cfg = config_module._read_file(path, strict=True)
        assert "/_base_/" in path.replace(os.sep, "/")
    else:
        cfg = load_config(path)
    assert set(cfg) <= known_keys()


def test_known_keys_are_default_runtime_keys_including_engine_reads():
    keys = known_keys()
    assert keys == frozenset(config_module._read_file(DEFAULT_RUNTIME))
    # read by the engine with cfg.get(...) (trainer's label check, train.sh -o)
    assert {"check_labels", "overwrite", "max_steps", "amp_dtype", "model", "data", "test", "hooks"} <= keys
    assert not any(k.startswith("_") for k in keys)


def test_typo_in_a_config_file_names_the_file_and_closest_key(exp, tmp_path):
    child = write(tmp_path / "child.py", '_base_ = "exp.py"\nmax_step = 10\n')
    assert error(child) == f"unknown config key 'max_step' in {child}; did you mean 'max_steps'?{HINT}"
    # A typo in a base file is reported in that file, even when the child is correct.
    write(tmp_path / "base.py", "batch_sise = 4\n")
    top = write(tmp_path / "top.py", f'_base_ = ["base.py", {DEFAULT_RUNTIME!r}]\nbatch_size = 2\n')
    assert error(top) == (
        f"unknown config key 'batch_sise' in {tmp_path / 'base.py'}; did you mean 'batch_size' or 'batch_size_val'?{HINT}"
    )


def test_helper_variable_without_underscore_is_refused_with_a_hint(exp, tmp_path):
    cfg = load_config(exp)
    assert cfg.max_steps == 30 and "_helper" not in cfg
    bad = write(tmp_path / "bad.py", '_base_ = "exp.py"\ndata_root = "data/scannet"\n')
    assert error(bad) == f"unknown config key 'data_root' in {bad}; did you mean 'data'?{HINT}"
    other = write(tmp_path / "other.py", '_base_ = "exp.py"\nbase_lr = 0.1\n')
    assert error(other) == (
        f"unknown config key 'base_lr' in {other}; the known keys are those of "
        f"configs/_base_/default_runtime.py{HINT}"
    )


def test_typo_in_options_top_level(exp):
    assert (
        error(exp, ["max_step=2"]) == "unknown config key 'max_step' in --options; did you mean 'max_steps'?"
    )
    assert error(exp, {"eval_intreval": 5}) == (
        "unknown config key 'eval_intreval' in --options; did you mean 'eval_interval', 'log_interval' or "
        "'save_interval'?"
    )
    assert error(exp, ["zzz=1"]) == (
        "unknown config key 'zzz' in --options; the known keys are those of configs/_base_/default_runtime.py"
    )
    # a known key this config does not define is settable (train.sh passes overwrite/resume/weight)
    cfg = load_config(exp, ["save_path=x", "resume=False", "weight=None", "overwrite=True"])
    assert cfg.overwrite is True and cfg.save_path == "x"


def test_typo_in_options_nested(exp):
    assert error(exp, ["model.alpah=0"]) == (
        "unknown config key 'model.alpah' in --options; did you mean 'model.alpha'? (add it with +model.alpah=...)"
    )
    assert error(exp, ["model.backbone.dpth=3"]) == (
        "unknown config key 'model.backbone.dpth' in --options; did you mean 'model.backbone.depth'? "
        "(add it with +model.backbone.dpth=...)"
    )
    # no close name: the existing siblings are listed
    assert error(exp, ["model.backbone.zzz=3"]) == (
        "unknown config key 'model.backbone.zzz' in --options; model.backbone has: channels, depth "
        "(add it with +model.backbone.zzz=...)"
    )
    # a missing intermediate dict is named at the level where it is missing
    assert error(exp, ["model.head.width=3"]).startswith("unknown config key 'model.head' in --options")
    # inside a list element
    assert error(exp, ["hooks.1.warmup_step=3"]).startswith(
        "unknown config key 'hooks.1.warmup_step' in --options; did you mean 'hooks.1.warmup_steps'?"
    )
    # existing nested keys are fine, with their type checked as before
    cfg = load_config(exp, ["model.alpha=0.5", "model.backbone.depth=4", "hooks.1.warmup_steps=5"])
    assert cfg.model.alpha == 0.5 and cfg.model.backbone.depth == 4 and cfg.hooks[1].warmup_steps == 5
    assert "expected a number" in error(exp, ["model.alpha=abc"])


def test_plus_prefix_adds_a_nested_key(exp):
    cfg = load_config(exp, ["+model.backbone.drop_path=0.3", "+model.head.width=16", "+layer_decay.rate=0.9"])
    assert cfg.model.backbone == dict(depth=2, channels=8, drop_path=0.3)
    assert cfg.model.head == dict(width=16)  # missing dicts are created
    assert cfg.layer_decay == dict(rate=0.9)  # a None value becomes a dict
    # without +, a None parent is refused with the way out
    assert error(exp, ["layer_decay.rate=0.9"]) == (
        "cannot set 'layer_decay.rate': layer_decay is None in this config; set it whole (layer_decay=...) "
        "or create it with +layer_decay.rate=..."
    )
    # + on an existing key just sets it (type still checked); + never adds a top-level key
    assert load_config(exp, ["+model.alpha=2"]).model.alpha == 2
    assert "expected a number" in error(exp, ["+max_steps=abc"])
    assert (
        error(exp, ["+max_step=2"]) == "unknown config key 'max_step' in --options; did you mean 'max_steps'?"
    )
    assert error(exp, ["+new.deep=1"]).startswith("unknown config key 'new' in --options")


def test_non_strict_keeps_the_old_behaviour(exp, tmp_path):
    child = write(tmp_path / "child.py", '_base_ = "exp.py"\nmax_step = 10\nepoch = 3\n')
    cfg = load_config(child, ["new.deep=1", "model.alpah=0"], strict=False)
    assert cfg.max_step == 10 and cfg.epoch == 3 and cfg.new.deep == 1 and cfg.model.alpah == 0


def test_suggestion_text():
    assert did_you_mean([]) == ""
    assert did_you_mean(["a"]) == "; did you mean 'a'?"
    assert did_you_mean(["a", "b", "c"]) == "; did you mean 'a', 'b' or 'c'?"
    assert closest("batch_sizes", ["batch_size", "batch_size_val", "seed"]) == [
        "batch_size",
        "batch_size_val",
    ]
    assert closest("qqq", ["batch_size", "seed"]) == []


# Each Pointcept key and what its message must name here.
POINTCEPT_EXPECTED = {
    "epoch": "this trainer is step-based: set max_steps (steps = epochs x scans / batch_size)",
    "eval_epoch": "set eval_interval and save_interval in steps",
    "enable_amp": "set amp_dtype='bf16'|'fp16'|None",
    "wandb_key": "`wandb login` or the WANDB_API_KEY environment variable",
    "gradient_accumulation_steps": "is spelled grad_accum_steps here",
    "sync_bn": "SyncBatchNorm",
    "empty_cache": "torch.cuda.empty_cache()",
    "empty_cache_per_epoch": "torch.cuda.empty_cache()",
    "num_worker_per_gpu": "set num_worker, the total over all processes",
    "batch_size_per_gpu": "set batch_size, the global batch over all processes",
    "batch_size_val_per_gpu": "set batch_size_val",
    "batch_size_test": "set test.fragment_batch_size",
    "test_only": "tools/test.py",
    "train": "tools/train.py always runs pointcept.engines.Trainer",
    "test.verbose": "remove it",
}


def test_every_pointcept_key_has_an_expected_message_and_is_not_a_known_key():
    assert set(POINTCEPT_EXPECTED) == set(POINTCEPT_KEYS)
    # an entry for a key that became supported would never be reached: remove it then
    assert not {k for k in POINTCEPT_KEYS if "." not in k} & known_keys()


@pytest.mark.parametrize("key", sorted(POINTCEPT_EXPECTED))
def test_pointcept_key_in_file_and_options_names_our_equivalent(key, exp, tmp_path):
    if "." in key:  # test.verbose: inside the test dict
        text = '_base_ = "exp.py"\ntest = dict(type="SemSegTester", verbose=True)\n'
    else:
        text = f'_base_ = "exp.py"\n{key} = 2\n'
    child = write(tmp_path / "child.py", text)
    assert error(child) == f"config key '{key}' in {child} {POINTCEPT_KEYS[key]}"
    assert error(exp, [f"{key}=2"]) == f"config key '{key}' in --options {POINTCEPT_KEYS[key]}"
    assert POINTCEPT_EXPECTED[key] in POINTCEPT_KEYS[key]


def test_gradient_accumulation_message_names_our_key_and_the_batch_meaning(exp):
    message = error(exp, ["gradient_accumulation_steps=4"])
    assert "grad_accum_steps" in message and "batch_size = b x G x grad_accum_steps" in message
    assert load_config(exp, ["grad_accum_steps=4"]).grad_accum_steps == 4


@pytest.mark.parametrize("value, ours", [("float16", "fp16"), ("half", "fp16"), ("bfloat16", "bf16")])
def test_pointcept_amp_dtype_spelling(value, ours, exp, tmp_path):
    expected = (
        f"amp_dtype={value!r} is Pointcept's spelling; set amp_dtype={ours!r} "
        "(autocast is on whenever amp_dtype is not None)"
    )
    assert error(exp, [f"amp_dtype={value}"]) == expected
    child = write(tmp_path / "child.py", f'_base_ = "exp.py"\namp_dtype = {value!r}\n')
    assert error(child) == expected
    assert load_config(exp, [f"amp_dtype={ours}"]).amp_dtype == ours


def test_without_the_configs_folder_only_pointcept_keys_are_checked(exp, monkeypatch, tmp_path):
    monkeypatch.setattr(config_module, "DEFAULT_RUNTIME", str(tmp_path / "absent.py"))
    known_keys.cache_clear()
    try:
        assert known_keys() is None
        assert load_config(exp, ["max_step=2"]).max_step == 2
        assert error(exp, ["epoch=2"]).startswith("config key 'epoch' in --options")
    finally:
        monkeypatch.undo()
        known_keys.cache_clear()
    assert "max_steps" in known_keys()


def test_quality_check_options_are_known_keys(tmp_path, monkeypatch):
    """tools/quality_check.py (tools/quality/cells.py) loads its configs with option dicts; every key
    must exist."""
    import pointcept.engines
    import pointcept.engines.tester
    from tools.quality.cells import run_downstream, run_pretrain
    from tools.quality.data import DataSpec, Scan
    from tools.quality.protocol import PROTOCOLS

    loaded = []

    class FakeTrainer:
        def __init__(self, cfg):
            loaded.append(cfg)
            self.cfg, self.output, self.model_without_ddp = cfg, {}, None

        def train(self):
            pass

    class FakeTester:
        def __init__(self, cfg, model=None, save_predictions=True):
            self.scan_counts = []

        def test(self):
            return {"mIoU": 0.0, "allAcc": 0.0}

    monkeypatch.setattr(pointcept.engines, "Trainer", FakeTrainer)
    monkeypatch.setattr(pointcept.engines.tester, "SemSegTester", FakeTester)
    scan = Scan("00", "000000", str(tmp_path / "a.bin"), str(tmp_path / "a.label"))
    data = DataSpec("real", str(tmp_path / "scans"), ["00", "08"], [scan], str(tmp_path), ["08"], {})
    protocol = PROTOCOLS["micro"]
    work = str(tmp_path / "work")
    run_pretrain("dos", 0, protocol, data, work)
    run_downstream("dos", 0, "100%", "linear", None, protocol, data, work)
    run_downstream("naive", 0, "100%", "finetune", "w.pth", protocol, data, work)
    run_downstream("naive", 0, "100%", "linear", "w.pth", protocol, data, work)
    pre, lin, ft, lin_token = loaded
    assert pre.model.target == "softmap" and pre.model.alpha == 1.3 and pre.max_steps == 2
    assert pre.data.train.split == ["00", "08"]
    assert lin.data.val is None and lin.data.train.split == ["00"] and lin.evaluate is False
    assert lin.data.train.loop == 4 and lin.data.test.split == ["08"] and lin.model.freeze_backbone
    assert ft.weight == "w.pth" and not ft.model.freeze_backbone and ft.data.train.loop == 4
    assert lin_token.model.backbone.mask_token is True and lin.model.backbone.mask_token is False


def test_train_cli_refuses_an_option_typo_in_one_line(tmp_path):
    save = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "tools/train.py",
            "--config-file",
            TINY,
            "--options",
            f"save_path={save}",
            "max_step=2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr == (
        "error: unknown config key 'max_step' in --options; did you mean 'max_steps'?\n"
        "(add --debug for the traceback)\n"
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not save.exists()  # refused before anything was written


def test_error_messages_are_single_lines(exp):
    for options in (["max_step=2"], ["model.alpah=0"], ["epoch=3"], ["amp_dtype=float16"]):
        assert not re.search(r"\n", error(exp, options))
