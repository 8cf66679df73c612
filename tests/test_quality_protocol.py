"""tools/quality_check.py's protocol: budgets and presets (fast), and the micro protocol end to end on
generated long-tail data (a couple of minutes on 2 cores: run it under the heavy lock), resume included."""

import json
import os
import re

import numpy as np
import pytest
from test_quality_check_args import _load_tool

from pointcept.utils.stats import seed_mious
from tools.quality.protocol import PRESETS, PROTOCOLS, Budget, downstream_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_label_budgets():
    assert [Budget(s).num_scans(40) for s in ("1%", "10%", "100%", "2 scans", "1 scan")] == [1, 4, 40, 2, 1]
    assert Budget("2 scans").num_scans(1) == 1 and Budget("50%").num_scans(3) == 2
    assert [Budget(s).slug for s in ("1%", "2.5%", "3 scans")] == ["1pct", "2_5pct", "3scans"]
    for bad in ("0%", "150%", "0 scans", "ten"):
        with pytest.raises(ValueError, match="label budget"):
            Budget(bad)


def test_presets_and_protocols():
    assert set(PRESETS) == {
        "naive",
        "sonata",
        "observable",
        "softmap",
        "dos",
        "regression",
        "alpha3",
        "random-init",
    }
    for name, preset in PRESETS.items():
        assert preset.pretrain_config is None or os.path.isfile(os.path.join(ROOT, preset.pretrain_config)), (
            name
        )
    assert downstream_config("linear", "naive").endswith("ablation/lin-mask-token-tiny.py")
    assert downstream_config("linear", "dos").endswith("semseg-dos-lin-tiny.py")
    assert set(PROTOCOLS["full"].budgets) == {"1%", "10%", "100%", "2 scans"}
    assert all(len(p.seeds) >= 3 for n, p in PROTOCOLS.items() if n != "micro")
    with pytest.raises(ValueError, match="must include 'dos'"):
        PROTOCOLS["micro"].override(presets=("softmap", "random-init"))
    with pytest.raises(ValueError, match="unknown preset"):
        PROTOCOLS["micro"].override(presets=("dos", "swav"))


def test_finetune_presets_restrict_only_fine_tuning(capsys):
    full = PROTOCOLS["full"]
    assert full.presets_for("linear") == full.presets
    assert full.presets_for("finetune") == ("dos", "random-init")
    # a preset subset keeps the protocol order and drops fine-tune presets outside it
    assert full.override(presets=("softmap", "dos")).presets_for("finetune") == ("dos",)
    assert PROTOCOLS["small"].presets_for("finetune") == PROTOCOLS["small"].presets
    with pytest.raises(ValueError, match="finetune_presets must include 'dos'"):
        full.override(finetune_presets=("random-init",))
    with pytest.raises(ValueError, match="unknown finetune preset"):
        full.override(finetune_presets=("dos", "swav"))
    qc = _load_tool()
    args = qc.parse_args(["--data", "longtail", "--protocol", "full", "--finetune-presets", "all"])
    assert args.protocol_spec.presets_for("finetune") == full.presets
    args = qc.parse_args(["--data", "longtail", "--protocol", "small", "--finetune-presets", "dos,naive"])
    assert args.protocol_spec.presets_for("finetune") == ("naive", "dos")


def test_cli_overrides_and_budget_dedup(capsys):
    qc = _load_tool()
    args = qc.parse_args(
        ["--data", "longtail", "--protocol", "micro", "--seeds", "3,4", "--budgets", "10%,2 scans"]
    )
    assert args.protocol_spec.seeds == (3, 4) and args.protocol_spec.budgets == ("10%", "2 scans")
    assert args.work_dir == os.path.join("exp", "quality_check", "micro-longtail")
    with pytest.raises(SystemExit):
        qc.parse_args(["--data", "longtail", "--presets", "softmap"])
    assert "must include 'dos'" in capsys.readouterr().err
    kept, notes = qc.distinct_budgets(("1%", "10%", "100%", "1 scan"), 3)
    assert kept == ("1%", "100%") and len(notes) == 2 and "selects 1 of 3 scans" in notes[0]


def _mtimes(root):
    return {
        os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith(".json")
    }


def test_micro_protocol_end_to_end_and_resume(tmp_path, capsys):
    qc = _load_tool()
    work = str(tmp_path / "qc")
    argv = ["--data", "longtail", "--protocol", "micro", "--work-dir", work]
    results = qc.main(argv)
    micro = PROTOCOLS["micro"]
    n_cells = len(micro.presets) * len(micro.seeds) * len(micro.budgets) * len(micro.modes)

    # files and schema
    for ext in ("json", "md", "png"):
        assert os.path.getsize(os.path.join(work, f"results.{ext}")) > 0
    with open(os.path.join(work, "results.json")) as f:
        written = json.load(f)
    assert set(written) >= {
        "protocol",
        "data",
        "groups",
        "classes",
        "summary",
        "cells",
        "wall_minutes",
        "load_average",
    }
    assert written["data"] == "longtail" and written["protocol"]["name"] == "micro"
    assert len(written["cells"]) == n_cells and written["runs_this_call"] == n_cells + len(micro.seeds)
    assert set(written["groups"]) == {"head", "common", "tail"} and all(written["groups"].values())
    counts = written["train_points"]
    head, tail = written["groups"]["head"], written["groups"]["tail"]
    assert min(counts[c] for c in head) >= max(counts[c] for c in tail)
    rows = written["summary"]
    assert len(rows) == len(micro.modes) * len(micro.budgets) * len(micro.presets)
    by_key = {(r["mode"], r["budget"], r["preset"]): r for r in rows}
    cells = {(c["mode"], c["budget"], c["preset"], c["seed"]): c for c in written["cells"]}
    for (mode, budget, preset), row in by_key.items():
        assert row["seeds"] == list(micro.seeds)
        # the pooled per-seed mIoU of the stored per-scan counts is the tester's mIoU
        per_seed = [cells[mode, budget, preset, s] for s in micro.seeds]
        assert row["mIoU"]["per_seed"] == pytest.approx([c["mIoU"] for c in per_seed], abs=1e-9)
        stacked = np.asarray([c["counts"] for c in per_seed])
        assert stacked.shape == (2, 2, 2, 19)  # seeds, test scans, (I, U), classes
        assert seed_mious(stacked).tolist() == pytest.approx(row["mIoU"]["per_seed"])
        assert row["mIoU"]["mean"] == pytest.approx(np.mean(row["mIoU"]["per_seed"]))
        assert row["mIoU"]["std"] == pytest.approx(np.std(row["mIoU"]["per_seed"], ddof=1))
        if preset == "dos":
            assert row["vs_reference"] is None
        else:
            vs = row["vs_reference"]
            assert set(vs) == {"seeds", "all", "head", "common", "tail"}
            ref = by_key[mode, budget, "dos"]["mIoU"]["per_seed"]
            assert vs["all"]["diff"] == pytest.approx(np.mean(ref) - np.mean(row["mIoU"]["per_seed"]))
            assert vs["all"]["low"] <= vs["all"]["high"]
    assert by_key["linear", "1 scan", "dos"]["num_labelled"] == 1
    assert by_key["linear", "100%", "dos"]["num_labelled"] == 4  # 00 and 01, 2 scans each

    md = open(os.path.join(work, "results.md")).read()
    assert f"this call ran {n_cells + len(micro.seeds)} of them in " in md
    for mode in micro.modes:
        assert f"## {mode}, 100% of the labelled scans (4 labelled scans)" in md
        assert f"## {mode}, 1 labelled scan\n" in md
    assert md.count("| dos | 2 |") == 4 and md.count("| random-init | 2 |") == 4
    assert "| preset | seeds | mIoU | head | common | tail | Δ mIoU [95 % CI] | Δ tail [95 % CI] |" in md
    assert md.count("## Label efficiency, ") == 2  # both modes ran two budgets
    assert [r["step"] for r in written["chain"]] == [["random-init", "dos"]] * 4  # 2 modes x 2 budgets
    assert md.count("| random-init → dos: DOS pretraining vs none | — |") == 2
    assert os.path.getsize(os.path.join(work, "label_efficiency.png")) > 0

    with open(os.path.join(work, "results.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(os.path.join(work, "results.png"))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert not [f for _, _, files in os.walk(work) for f in files if ".tmp" in f]
    assert not os.path.exists(os.path.join(work, "runs", "linear", "100pct", "dos", "seed0", "model"))
    assert os.path.isfile(os.path.join(work, "pretrain", "dos", "seed0", "model", "model_last.pth"))

    # resume: nothing runs again, no cell file is rewritten, the summary is the same
    cell_files = _mtimes(os.path.join(work, "cells"))
    again = qc.main(argv)
    assert again["runs_this_call"] == 0
    assert "this call ran none (report from finished cells)" in open(os.path.join(work, "results.md")).read()
    assert _mtimes(os.path.join(work, "cells")) == cell_files
    assert again["summary"] == results["summary"]
    # a missing cell is the only one run
    os.remove(os.path.join(work, "cells", "finetune", "1scans", "random-init", "seed1.json"))
    capsys.readouterr()
    third = qc.main(argv)
    assert third["runs_this_call"] == 1
    # progress: every run counted, the finished ones skipped, the estimate left for the one to run only
    total = n_cells + len(micro.seeds)
    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\[\d+/\d+\] ", line)]
    assert len(lines) == total and lines[-1].startswith(f"[{total}/{total}] ")
    assert sum("skipped (done)" in line for line in lines) == total - 1
    (made,) = [line for line in lines if "skipped" not in line]
    assert made.startswith(f"[{total}/{total}] finetune 1 scan random-init seed 1 ")  # the last run
    assert made.endswith("ETA 0.0 min")
    # fine-tuning restricted to dos: random-init is still probed, not fine-tuned, and nothing runs
    fourth = qc.main(argv + ["--finetune-presets", "dos"])
    assert fourth["runs_this_call"] == 0
    assert {(r["mode"], r["preset"]) for r in fourth["summary"]} == {
        ("linear", "dos"),
        ("linear", "random-init"),
        ("finetune", "dos"),
    }


def _cell(preset, seed, inter, union, mode="linear", budget="100%", num_labelled=4):
    counts = np.zeros((2, 2, 19))
    counts[:, 0, :2], counts[:, 1, :2] = inter, union  # two scans, classes 0 and 1
    miou = float(np.mean(counts[:, 0, :2].sum(0) / counts[:, 1, :2].sum(0)))
    return dict(
        preset=preset, seed=seed, mode=mode, budget=budget, num_labelled=num_labelled, mIoU=miou,
        scans=["08_000000", "08_000001"], counts=counts.tolist(), minutes=0.1,
    )  # fmt: skip


def _results(protocol, rows) -> dict:
    """The fields of results.json the report reads, around ``rows``."""
    return dict(
        protocol=dict(vars(protocol)), data="longtail", groups=dict(head=["car"], common=["bicycle"], tail=[]),
        num_test_scans=2, compute_minutes=0.4, runs_this_call=4, wall_minutes=0.5, load_average=dict(start=1.0, end=2.0),
        summary=rows,
    )  # fmt: skip


def test_report_from_synthetic_cells(tmp_path):
    from tools.quality.report import markdown, summarize, write_outputs

    protocol = PROTOCOLS["micro"].override(presets=("dos", "softmap"), budgets=("100%",), modes=("linear",))
    # dos: IoU 1/2 (seed 0) and 3/4 (seed 1) on both classes; softmap: 1/4 on both, both seeds
    cells = [
        _cell("dos", 0, [[1, 1], [1, 1]], [[2, 2], [2, 2]]),
        _cell("dos", 1, [[3, 3], [3, 3]], [[4, 4], [4, 4]]),
        _cell("softmap", 0, [[1, 1], [1, 1]], [[4, 4], [4, 4]]),
        _cell("softmap", 1, [[1, 1], [1, 1]], [[4, 4], [4, 4]]),
    ]
    groups = dict(head=[0], common=[1], tail=[])
    rows = summarize(cells, protocol, groups)
    dos, soft = rows
    assert dos["mIoU"]["per_seed"] == pytest.approx([0.5, 0.75]) and dos["mIoU"]["mean"] == pytest.approx(
        0.625
    )
    assert dos["groups"]["head"]["mean"] == pytest.approx(0.625)
    assert soft["vs_reference"]["all"]["diff"] == pytest.approx(0.375)
    # seed resamples: differences 0.25, 0.5 (each 1/4) and 0.375 (1/2); the scans are identical
    assert soft["vs_reference"]["all"]["low"] == pytest.approx(0.25)
    assert soft["vs_reference"]["all"]["high"] == pytest.approx(0.5)
    assert "tail" not in soft["vs_reference"]  # an empty group has no comparison
    results = _results(protocol, rows)
    md = markdown(results)
    assert "| dos | 2 | 62.5 ± 17.7 | 62.5 ± 17.7 | 62.5 ± 17.7 | n/a | — | — |" in md
    assert "| softmap | 2 | 25.0 ± 0.0 | 25.0 ± 0.0 | 25.0 ± 0.0 | n/a | +37.5 [+25.0, +50.0] | — |" in md
    assert "tail = (none)" in md
    assert "2 test scans; 0.4 min of runs in all; this call ran 4 of them in 0.5 min wall time" in md
    paths = write_outputs(results, str(tmp_path))
    with open(paths["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_label_efficiency_table_and_chart(tmp_path):
    from tools.quality.report import markdown, summarize, write_outputs

    protocol = PROTOCOLS["micro"].override(
        presets=("dos", "random-init"), budgets=("100%", "1 scan"), modes=("linear",)
    )
    iou = {("dos", "100%"): 3, ("random-init", "100%"): 2, ("dos", "1 scan"): 2, ("random-init", "1 scan"): 1}
    cells = [
        _cell(p, s, [[n, n], [n, n]], [[4, 4], [4, 4]], budget=b, num_labelled=4 if b == "100%" else 1)
        for (p, b), n in iou.items()
        for s in (0, 1)
    ]
    rows = summarize(cells, protocol, dict(head=[0], common=[1], tail=[]))
    results = _results(protocol, rows)
    md = markdown(results)
    table = md[md.index("## Label efficiency, linear") :].splitlines()
    assert table[2] == "| labelled scans | dos | random-init | Δ dos − random-init [95 % CI] |"
    # fewest labelled scans first, whatever the protocol's budget order
    assert table[4] == "| 1 (1 scan) | 50.0 ± 0.0 | 25.0 ± 0.0 | +25.0 [+25.0, +25.0] |"
    assert table[5] == "| 4 (100%) | 75.0 ± 0.0 | 50.0 ± 0.0 | +25.0 [+25.0, +25.0] |"
    paths = write_outputs(results, str(tmp_path))
    with open(paths["efficiency"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # one budget: no label-efficiency table, no chart
    single = dict(results, protocol=dict(results["protocol"], budgets=("100%",)))
    single["summary"] = [r for r in rows if r["budget"] == "100%"]
    assert "Label efficiency" not in markdown(single)
    assert "efficiency" not in write_outputs(single, str(tmp_path / "one"))


def test_chain_steps_paired_differences_and_verdicts():
    from tools.quality.report import chain, markdown, summarize, verdict

    assert verdict(0.4, dict(diff=-0.1, low=-0.2, high=0.1)) == "noise"
    assert verdict(0.4, dict(diff=-0.1, low=-0.2, high=-0.05)) == "opposite"
    assert verdict(-6.3, dict(diff=-0.1, low=-0.2, high=-0.05)) == "same"
    assert verdict(None, dict(diff=0.3, low=0.1, high=0.5)) == "—"
    protocol = PROTOCOLS["micro"].override(
        presets=("naive", "sonata", "dos", "random-init"), budgets=("100%",), modes=("linear",)
    )
    # IoU on both classes: naive 1/4, sonata 2/4, dos 3/4 on seed 0 and 1/4 on seed 1, random init 1/4
    iou = {("naive", 0): 1, ("naive", 1): 1, ("sonata", 0): 2, ("sonata", 1): 2, ("dos", 0): 3, ("dos", 1): 1}
    iou |= {("random-init", 0): 1, ("random-init", 1): 1}
    cells = [_cell(p, s, [[n, n], [n, n]], [[4, 4], [4, 4]]) for (p, s), n in iou.items()]
    steps = chain(cells, protocol)
    # only the steps whose two presets ran: sonata -> observable etc. are absent
    assert [r["step"] for r in steps] == [["naive", "sonata"], ["random-init", "dos"]]
    jitter, pretraining = steps
    assert jitter["diff"]["diff"] == pytest.approx(0.25) and jitter["verdict"] == "same"
    assert (jitter["diff"]["low"], jitter["diff"]["high"]) == pytest.approx((0.25, 0.25))
    # dos - random init: +0.5 on seed 0, 0 on seed 1; seed resamples give 0, 0.25 or 0.5
    assert pretraining["diff"]["diff"] == pytest.approx(0.25) and pretraining["verdict"] == "—"
    assert (pretraining["diff"]["low"], pretraining["diff"]["high"]) == pytest.approx((0.0, 0.5))
    results = _results(protocol, summarize(cells, protocol, dict(head=[0], common=[1], tail=[])))
    md = markdown(dict(results, chain=steps))
    assert "| naive → sonata: + token jitter (Sonata) | +0.4 | +25.0 [+25.0, +25.0] same |" in md
    assert "| random-init → dos: DOS pretraining vs none | — | +25.0 [+0.0, +50.0] |" in md


def test_report_groups_absent_from_the_test_scans_read_n_a():
    from tools.quality.report import _diff, summarize

    protocol = PROTOCOLS["micro"].override(presets=("dos", "softmap"), budgets=("100%",), modes=("linear",))
    # class 1 (the tail group) never occurs in the test scans: no intersection and no union
    cells = [
        _cell(preset, seed, [[1, 0], [1, 0]], [[2, 0], [2, 0]])
        for preset in ("dos", "softmap")
        for seed in (0, 1)
    ]
    rows = summarize(cells, protocol, dict(head=[0], common=[], tail=[1]))
    tail = rows[1]["vs_reference"]["tail"]
    assert np.isnan(tail["diff"]) and _diff(tail) == "n/a"
    assert _diff(rows[1]["vs_reference"]["all"]) == "+0.0 [+0.0, +0.0]"


def test_longtail_test_sequences_use_their_own_skew(tmp_path):
    """Training sequences carry the protocol's skew, test sequences its test_skew (default 0): the
    written scans equal a direct generation with each setting."""
    from tools.demo_data import SensorConfig, write_semantic_kitti
    from tools.quality.data import prepare_longtail

    protocol = PROTOCOLS["micro"].override(skew=3.0, scans_per_seq=1)
    assert protocol.test_skew == 0.0
    data = prepare_longtail(protocol, str(tmp_path / "work"))
    sensor = SensorConfig(beams=protocol.beams, azimuth_steps=protocol.azimuth_steps)
    for skew in (3.0, 0.0):
        write_semantic_kitti(str(tmp_path / f"s{skew}"), {"00": 1, "08": 1}, sensor, seed=0, skew=skew)

    def labels(root, seq):
        return np.fromfile(
            os.path.join(root, "dataset", "sequences", seq, "labels", "000000.label"), np.uint32
        )

    assert np.array_equal(labels(data.pretrain_root, "00"), labels(str(tmp_path / "s3.0"), "00"))
    assert np.array_equal(labels(data.test_root, "08"), labels(str(tmp_path / "s0.0"), "08"))
    assert not np.array_equal(labels(str(tmp_path / "s3.0"), "00"), labels(str(tmp_path / "s0.0"), "00"))
    with open(os.path.join(data.test_root, "generator.json")) as f:
        assert json.load(f)["test_skew"] == 0.0
    # the same folder with another test skew is refused, not silently mixed
    with pytest.raises(ValueError, match="use another --work-dir"):
        prepare_longtail(protocol.override(test_skew=1.0), str(tmp_path / "work"))
