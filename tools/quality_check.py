"""docs/method.md section 9 and docs/results.md: does DOS pretraining help, and which of its ingredients?

    python tools/quality_check.py --data longtail --protocol small [--work-dir DIR]
    python tools/quality_check.py --data real --data-root DIR --protocol small
        [--presets dos,softmap,...] [--seeds 0,1,2] [--budgets "1%,10%,100%,2 scans"]
        [--modes linear,finetune] [--finetune-presets dos,random-init|all]
        [--pretrain-steps N] [--downstream-steps N] [--skew S] [--test-skew S]

Runs a named protocol (tools/quality/protocol.py: ``micro`` for tests, ``small`` ~20 min, ``full``
<= 2 h on 2 cores): every preset of the paper's ablation chain (configs/semantic_kitti/ablation,
plus ``random-init``) x seeds x label budgets x {linear probe, fine-tune}, identical for every
preset: pretrain the tiny PTv3 on the unlabelled pool, train the downstream model on the budget's
labelled scans, test on every test scan at full resolution (fragment voting).

Data (``--data``): ``longtail`` generates streets whose object classes follow a power law (skew s,
tools/demo_data/skew.py) in the training sequences, and unskewed test streets (``--test-skew``) so
that tail classes are present to be measured; ``real`` reads the SemanticKITTI samples of
``--data-root`` (default ``$DOS_REAL_DATA``), laid out as ``semantic_kitti/dataset/sequences/{00,08}/{velodyne,labels}``
(labelled) and ``semantic_kitti_unlabelled/dataset/sequences`` (see the data's SOURCES.md): labelled
pool = sequence 00, test = every labelled scan of 08, pretraining = every other scan, labels unread.

Resumable: every finished cell has its file under ``<work-dir>/cells`` (written atomically) and is
skipped when the command is run again. Writes ``results.json``, ``results.md`` (mIoU mean ± std over
seeds, head / common / tail mIoU, dos - preset with a 95 % bootstrap interval) and ``results.png``.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script, only tools/ is on the path
    sys.path.insert(0, ROOT)

from tools.quality.data import (  # noqa: E402
    LABELLED,
    REAL_TEST,
    UNLABELLED,
    class_point_counts,
    link_pretrain_scans,
    prepare_longtail,
    prepare_real,
)
from tools.quality.protocol import PRESETS, PROTOCOLS, REFERENCE, Budget  # noqa: E402

__all__ = ["link_pretrain_scans", "main", "missing_layout", "parse_args"]

# What --data real reads under --data-root: the labelled pool (00), a test scan (08), pretraining scans.
REQUIRED = (
    os.path.join(LABELLED, "00", "velodyne"),
    os.path.join(LABELLED, "00", "labels"),
    os.path.join(LABELLED, REAL_TEST, "velodyne", "000000.bin"),
    os.path.join(LABELLED, REAL_TEST, "labels", "000000.label"),
    UNLABELLED,
)


def missing_layout(data_root: str) -> list[str]:
    """The entries of ``REQUIRED`` absent under ``data_root`` (empty when the layout is complete)."""
    return [rel for rel in REQUIRED if not os.path.exists(os.path.join(data_root, rel))]


def _list(text: str | None, kind=str):
    return None if text is None else tuple(kind(x.strip()) for x in text.split(",") if x.strip())


def _finetune_presets(text: str | None):
    if text is not None and text.strip() == "all":
        return tuple(PRESETS)
    return _list(text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data",
        choices=("real", "longtail"),
        default="real",
        help="real scans or generated long-tail streets",
    )
    p.add_argument(
        "--data-root",
        default=os.environ.get("DOS_REAL_DATA") or None,
        help="--data real: folder holding semantic_kitti/ and semantic_kitti_unlabelled/ (default: $DOS_REAL_DATA)",
    )
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="small",
        help="named budget (tools/quality/protocol.py)",
    )
    p.add_argument(
        "--work-dir", default=None, help="runs, cells and results (default exp/quality_check/PROTOCOL-DATA)"
    )
    p.add_argument("--presets", help=f"comma-separated subset of {list(PRESETS)} (must include {REFERENCE})")
    p.add_argument(
        "--finetune-presets", help="comma-separated presets also fine-tuned (default: the protocol's; 'all')"
    )
    p.add_argument("--seeds", help="comma-separated seeds")
    p.add_argument("--budgets", help="comma-separated label budgets: 'P%%' or 'N scans'")
    p.add_argument("--modes", help="comma-separated subset of linear,finetune")
    p.add_argument("--pretrain-steps", type=int)
    p.add_argument("--downstream-steps", type=int)
    p.add_argument("--skew", type=float, help="--data longtail: class-frequency skew s of the generator")
    p.add_argument(
        "--test-skew", type=float, help="--data longtail: skew of the test sequences (default 0: unskewed)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="write the results of the finished cells, run nothing"
    )
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the downstream checkpoints")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    args = p.parse_args(argv)
    if args.data == "real":
        if not args.data_root:
            p.error("no real data given: pass --data-root DIR or set DOS_REAL_DATA (or use --data longtail)")
        if not os.path.isdir(args.data_root):
            p.error(f"--data-root {args.data_root!r} is not a folder")
        missing = missing_layout(args.data_root)
        if missing:
            p.error(
                f"--data-root {args.data_root!r} lacks the expected layout; missing: {', '.join(missing)} "
                f"(expected {LABELLED}/{{00,{REAL_TEST}}}/{{velodyne,labels}} and {UNLABELLED})"
            )
    try:
        args.protocol_spec = PROTOCOLS[args.protocol].override(
            presets=_list(args.presets),
            finetune_presets=_finetune_presets(args.finetune_presets),
            seeds=_list(args.seeds, int),
            budgets=_list(args.budgets),
            modes=_list(args.modes),
            pretrain_steps=args.pretrain_steps,
            downstream_steps=args.downstream_steps,
            skew=args.skew,
            test_skew=args.test_skew,
        )
    except ValueError as e:
        p.error(str(e))
    args.work_dir = args.work_dir or os.path.join("exp", "quality_check", f"{args.protocol}-{args.data}")
    return args


def distinct_budgets(budgets, available: int) -> tuple[tuple[str, ...], list[str]]:
    """The budgets that select a new number of scans out of ``available``, and notes on the others."""
    kept, seen, notes = [], {}, []
    for spec in budgets:
        n = Budget(spec).num_scans(available)
        if n in seen:
            notes.append(f"budget {spec!r} selects {n} of {available} scans, as {seen[n]!r} does: dropped")
            continue
        seen[n] = spec
        kept.append(spec)
    return tuple(kept), notes


class Progress:
    """Counts runs and estimates the time left from the mean duration of each kind of run so far.

    ``todo`` holds, per kind (pretrain, linear, finetune), the runs still to make; ``skipped`` the
    runs finished by an earlier call, which count towards the total but neither take time nor stay
    in the estimate. Kinds are timed apart: a fine-tuning cell takes about three linear cells.
    """

    def __init__(self, todo: dict[str, int], skipped: int = 0):
        self.left = dict(todo)
        self.total = sum(todo.values()) + skipped
        self.finished = 0
        self.minutes = {kind: [] for kind in todo}
        self.start = time.perf_counter()

    def eta(self) -> float | None:
        """Minutes left: each kind's runs left x its mean duration (any run's mean for an unseen kind)."""
        runs = [m for ms in self.minutes.values() for m in ms]
        eta = 0.0
        for kind, left in self.left.items():
            sample = self.minutes[kind] or runs
            if left and not sample:
                return None
            eta += left * sum(sample) / len(sample) if left else 0.0
        return eta

    def done(self, kind: str, what: str, minutes: float | None) -> None:
        """Report a run: made now (``minutes``) or skipped because an earlier call made it (None)."""
        self.finished += 1
        if minutes is not None:
            self.left[kind] -= 1
            self.minutes[kind].append(minutes)
        elapsed = (time.perf_counter() - self.start) / 60
        status = "skipped (done)" if minutes is None else f"{minutes:.2f} min"
        eta = self.eta()
        eta_text = "?" if eta is None else f"{eta:.1f} min"
        print(
            f"[{self.finished}/{self.total}] {what}: {status}; elapsed {elapsed:.1f} min, ETA {eta_text}",
            flush=True,
        )


def run_plan(protocol, presets, work: str) -> list[tuple]:
    """Every run in order, as (seed, preset, kind, budget, file written when it is done).

    kind is ``pretrain`` (budget None) or a mode. Seeds outermost, so that an interrupted run has
    every preset on its first seeds; a preset's pretraining comes before its cells.
    """
    from tools.quality.cells import cell_path, pretrain_dir

    plan = []
    for seed in protocol.seeds:
        for preset in presets:
            if PRESETS[preset].pretrain_config:
                done = os.path.join(pretrain_dir(work, preset, seed), "done.json")
                plan.append((seed, preset, "pretrain", None, done))
            for mode in protocol.modes:
                if preset in protocol.presets_for(mode):
                    for budget in protocol.budgets:
                        plan.append((seed, preset, mode, budget, cell_path(work, mode, budget, preset, seed)))
    return plan


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> dict:
    from pointcept.datasets.label_maps import SEMANTIC_KITTI_CLASS_NAMES
    from pointcept.utils.errors import UserError
    from pointcept.utils.stats import frequency_groups
    from tools.quality.cells import run_downstream, run_pretrain
    from tools.quality.report import chain, summarize, write_outputs

    args = parse_args(argv)
    protocol, work = args.protocol_spec, args.work_dir
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    os.makedirs(work, exist_ok=True)
    data = prepare_real(args.data_root, work) if args.data == "real" else prepare_longtail(protocol, work)
    budgets, notes = distinct_budgets(protocol.budgets, len(data.labelled))
    protocol = protocol.override(budgets=budgets)
    for note in notes:
        print(note)
    names = list(SEMANTIC_KITTI_CLASS_NAMES)
    train_points = class_point_counts(data.labelled, len(names))
    groups = frequency_groups(train_points)
    print(
        f"{data.source} data: {len(data.labelled)} labelled training scans; "
        + "; ".join(f"{g}: {', '.join(names[c] for c in groups[g])}" for g in groups)
    )
    # a preset run in no mode (e.g. --modes finetune and not a finetune preset) is not pretrained either
    active = [p for p in protocol.presets if any(p in protocol.presets_for(m) for m in protocol.modes)]
    plan = run_plan(protocol, active, work)
    todo = dict.fromkeys(("pretrain", *protocol.modes), 0)
    for _, _, kind, _, path in plan:
        todo[kind] += not os.path.exists(path)
    progress = Progress(todo, skipped=len(plan) - sum(todo.values()))
    cells, pretrains, weights, ran = [], [], {}, 0
    for seed, preset, kind, budget, path in plan:
        if kind == "pretrain":
            if os.path.exists(path):
                record, minutes = _load(path), None
            elif args.report_only:
                print(f"pretrain {preset} seed {seed} not run (--report-only): its cells are left out")
                continue
            else:
                record = run_pretrain(preset, seed, protocol, data, work)
                minutes, ran = record["minutes"], ran + 1
            weights[seed, preset] = record["weight"]
            pretrains.append(record)
            progress.done("pretrain", f"pretrain {preset} seed {seed}", minutes)
            continue
        if PRESETS[preset].pretrain_config and (seed, preset) not in weights:
            continue  # --report-only without this preset's pretraining
        if os.path.exists(path):
            record, minutes = _load(path), None
        elif args.report_only:
            continue
        else:
            weight = weights.get((seed, preset))
            record = run_downstream(
                preset, seed, budget, kind, weight, protocol, data, work, args.keep_checkpoints
            )
            minutes, ran = record["minutes"], ran + 1
        cells.append(record)
        progress.done(kind, f"{kind} {budget} {preset} seed {seed} (mIoU {record['mIoU']:.4f})", minutes)
    if not cells:
        raise UserError(f"no finished cell in {work}: nothing to report")
    summary = summarize(cells, protocol, groups)
    steps = chain(cells, protocol)
    results = dict(
        protocol=asdict(protocol),
        data=data.source,
        data_info=data.info,
        classes=names,
        train_points={names[c]: int(n) for c, n in enumerate(train_points)},
        groups={g: [names[c] for c in groups[g]] for g in groups},
        reference=REFERENCE,
        num_test_scans=len(cells[0]["scans"]),
        runs_this_call=ran,
        wall_minutes=(time.perf_counter() - start) / 60,  # this call (a resumed call skips finished cells)
        compute_minutes=sum(r["minutes"] for r in pretrains + cells),  # every cell, whichever call ran it
        load_average=dict(start=load_start, end=os.getloadavg()[0]),
        summary=summary,
        chain=steps,
        cells=cells,
    )
    paths = write_outputs(results, work)
    with open(paths["md"]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths.values()))
    return results


if __name__ == "__main__":
    from pointcept.utils.errors import run_cli

    run_cli(main)
