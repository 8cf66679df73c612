"""Weight conversion to/from the official PTv3 implementations: parity, round trips, refusals.

Parity fixtures (random weights, a real input and the official CPU output) are found at
``$DOS_PTV3_FIXTURES`` or ``../shared/fixtures/ptv3_parity`` relative to the repository root.
Relative error = max |ours - official| / mean |official| (the stricter of the two usual choices).
"""

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcept.models import ptv3_convert as conv
from pointcept.utils.safe_pickle import UnsafeCheckpointError, safe_load

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DOS_PTV3_FIXTURES", ROOT.parent / "shared" / "fixtures" / "ptv3_parity"))
CASES = {"sonata": "sonata_encdec", "pointcept": "pointcept_m1"}


def fixture(fmt: str) -> dict:
    folder = FIXTURES / CASES[fmt]
    if not folder.is_dir():
        pytest.skip(f"PTv3 parity fixtures not found at {folder} (set DOS_PTV3_FIXTURES)")
    load = lambda name: torch.load(folder / name, weights_only=True)  # noqa: E731
    return dict(
        folder=folder,
        config=json.loads((folder / "meta.json").read_text())["model_config"],
        state_dict=load("weights.pth")["state_dict"],
        input=load("input.pth"),
        output=load("output.pth")["feat"],
    )


def released_checkpoint(fmt: str, fix: dict) -> dict:
    """The fixture weights in the layout each project releases."""
    if fmt == "sonata":
        return {"config": fix["config"], "state_dict": dict(fix["state_dict"])}
    state = {"module.backbone." + k: v for k, v in fix["state_dict"].items()}
    state["module.seg_head.weight"] = torch.zeros(19, 16)
    return {"state_dict": state, "epoch": 7, "best_metric_value": np.float64(0.61)}


def relative_error(fix: dict, state: dict, arch: dict) -> float:
    model = conv.check_against_model(state, arch)
    inp = fix["input"]
    with torch.no_grad():
        feat = model({k: inp[k] for k in ("coord", "feat", "grid_coord", "offset")}).feat
    assert feat.shape == fix["output"].shape
    return float((feat - fix["output"]).abs().max() / fix["output"].abs().mean())


@pytest.mark.parametrize("fmt", conv.FORMATS)
def test_converted_weights_reproduce_official_output(fmt):
    fix = fixture(fmt)
    ckpt = released_checkpoint(fmt, fix)
    official = fix["config"] if fmt == "pointcept" else None  # m1 checkpoints carry no config
    state, arch, report = conv.import_official(ckpt, fmt, official_config=official)
    assert report["mapped"] == len(fix["state_dict"])
    assert arch["shuffle_orders"] is False and arch["patch_rule"] == "batch_min"
    assert relative_error(fix, state, arch) < 1e-4
    if fmt == "pointcept":
        assert report["prefix"] == "module.backbone."
        assert report["dropped"] == ["module.seg_head.weight"]


def test_each_official_difference_matters():
    """Switching any of the parity options back to our default breaks parity on its fixture."""
    for fmt, options in (
        ("sonata", ("patch_rule",)),
        ("pointcept", ("patch_rule", "unpool_cpe")),
    ):
        fix = fixture(fmt)
        state, arch, _ = conv.import_official(
            released_checkpoint(fmt, fix), fmt, official_config=fix["config"]
        )
        for option in options:
            changed = dict(arch, **{option: conv.default_arch()[option]})
            assert relative_error(fix, state, changed) > 1e-3, (fmt, option)


@pytest.mark.parametrize("fmt", conv.FORMATS)
def test_export_then_import_is_identity(fmt):
    fix = fixture(fmt)
    state, arch, _ = conv.import_official(released_checkpoint(fmt, fix), fmt, official_config=fix["config"])
    exported, notes = conv.export_official(state, arch, fmt)
    assert notes == []
    assert conv.tensors_equal(exported["state_dict"], fix["state_dict"])  # official names restored
    back, arch_back, _ = conv.import_official(exported, fmt)
    assert conv.tensors_equal(back, state)
    assert arch_back == arch


def test_export_of_our_default_model_round_trips_through_sonata():
    arch = dict(
        in_channels=4,
        stride=(2,),
        enc_depths=(1, 1),
        enc_channels=(16, 32),
        enc_num_head=(2, 2),
        enc_patch_size=32,
        enc_mode=True,
        mask_token=True,
        stem="linear",
    )
    model = conv.PointTransformerV3(**arch)
    state = model.state_dict()
    full = {**conv.default_arch(), **arch}
    exported, notes = conv.export_official(state, full, "sonata")
    assert exported["state_dict"]["embedding.mask_token"] is state["mask_token"]
    assert exported["config"]["enc_mode"] is True and exported["config"]["enable_flash"] is True
    assert any("depth_rule" in n for n in notes)
    back, _, _ = conv.import_official(exported, "sonata")
    assert conv.tensors_equal(back, state)
    with pytest.raises(conv.ConversionError, match="stem='linear'"):
        conv.export_official(state, full, "pointcept")


def test_refuses_wrong_shape_and_unknown_key_naming_the_parameter():
    fix = fixture("sonata")
    ckpt = released_checkpoint("sonata", fix)
    bad = dict(ckpt, state_dict=dict(ckpt["state_dict"]))
    bad["state_dict"]["enc.enc2.block1.attn.qkv.weight"] = torch.zeros(144, 47)
    with pytest.raises(conv.ConversionError, match=r"enc\.2\.blocks\.1\.attn\.qkv\.weight.*\(144, 47\)"):
        conv.import_official(bad, "sonata")
    bad = dict(ckpt, state_dict=dict(ckpt["state_dict"]))
    bad["state_dict"]["enc.enc1.block0.attn.rpe.rpe_table"] = torch.zeros(3, 2)
    with pytest.raises(conv.ConversionError, match=r"unknown sonata parameter 'enc\.enc1\.block0\.attn\.rpe"):
        conv.import_official(bad, "sonata")
    bad = dict(ckpt, state_dict=dict(ckpt["state_dict"]))
    del bad["state_dict"]["dec.dec0.block0.norm2.0.bias"]
    with pytest.raises(conv.ConversionError, match=r"dec\.0\.blocks\.0\.norm2\.bias' is missing"):
        conv.import_official(bad, "sonata")
    with pytest.raises(conv.ConversionError, match="enable_rpe=True is not supported"):
        conv.import_official(dict(ckpt, config=dict(ckpt["config"], enable_rpe=True)), "sonata")
    with pytest.raises(conv.ConversionError, match=r"enc_channels: the config says"):
        conv.import_official(
            dict(ckpt, config=dict(ckpt["config"], enc_channels=[16, 32, 48, 64, 128])), "sonata"
        )
    # Heads, patch sizes, orders and strides are not in the weights: a config-less file needs them.
    with pytest.raises(conv.ConversionError, match="enc_num_head"):
        conv.import_official({"state_dict": ckpt["state_dict"]}, "sonata")


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "x": _Marker(marker)}, tmp_path / "evil.pth")
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"state_dict": {}, "x": _Marker(marker)}, f)
    for name in ("evil.pth", "evil.pkl"):
        with pytest.raises(UnsafeCheckpointError, match="refused to load"):
            safe_load(str(tmp_path / name))
    assert not marker.exists()
    # The loader itself works: numpy scalars, arrays and dtypes (Pointcept metadata) are admitted.
    torch.save({"v": np.float64(0.5), "a": np.arange(3), "d": np.dtype("float32")}, tmp_path / "ok.pth")
    loaded = safe_load(str(tmp_path / "ok.pth"))
    assert loaded["v"] == 0.5 and loaded["a"].tolist() == [0, 1, 2] and loaded["d"] == np.float32
    # The CLI refuses too (exit code 2), still without running anything.
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/convert_weights.py"), "--from", "sonata", "--to", "ours"]
        + [str(tmp_path / "evil.pth"), str(tmp_path / "out.pth")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and "refused to load" in result.stderr
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


def run_cli(*args):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/convert_weights.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_cli_end_to_end_on_the_fixture(tmp_path, capsys):
    fix = fixture("pointcept")
    src = tmp_path / "m1.pth"
    torch.save(released_checkpoint("pointcept", fix), src)
    official = tmp_path / "m1.json"
    official.write_text(json.dumps(fix["config"]))
    ours = tmp_path / "ours.pth"
    out = run_cli("--from", "pointcept", "--to", "ours", src, ours, "--official-config", official)
    assert "288 tensors mapped from prefix 'module.backbone.'" in out
    assert "dropped 1 non-backbone key(s)" in out and '"norm": "bn"' in out
    ckpt = safe_load(str(ours))
    state = {k[len("backbone.") :]: v for k, v in ckpt["model"].items()}
    assert relative_error(fix, state, ckpt["backbone_config"]) < 1e-4
    # ... and back to Pointcept naming, under the segmentor's prefix, identical to the original
    # (in-process through the CLI's main: a second subprocess would mostly time spconv's import).
    back = tmp_path / "back.pth"
    spec = importlib.util.spec_from_file_location("convert_weights", ROOT / "tools/convert_weights.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert (
        cli.main(
            ["--from", "ours", "--to", "pointcept", str(ours), str(back), "--out-prefix", "module.backbone."]
        )
        == 0
    )
    assert "288 tensors mapped from prefix 'backbone.'" in capsys.readouterr().out
    exported = safe_load(str(back))
    original = released_checkpoint("pointcept", fix)["state_dict"]
    original.pop("module.seg_head.weight")
    assert conv.tensors_equal(exported["state_dict"], original)
    assert exported["config"]["cls_mode"] is False and exported["config"]["enable_flash"] is False
