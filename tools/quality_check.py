"""docs/method.md section 9: does DOS pretraining help on real scans? A small, CPU-sized protocol.

    python tools/quality_check.py --data-root DIR [--work-dir exp/quality_check] \
        [--pretrain-steps 300] [--probe-steps 150] [--arms dos,assignment,alpha0,random]

Data: the real SemanticKITTI scans of ``--data-root`` (default ``$DOS_REAL_DATA``; one of the two
is required), laid out as ``semantic_kitti/dataset/sequences/{00,08}/{velodyne,labels}`` (labelled)
and ``semantic_kitti_unlabelled/dataset/sequences`` (see the data's SOURCES.md). Protocol,
identical for every arm:

1. pretrain the tiny PTv3 of ``configs/semantic_kitti/pretrain-dos-tiny.py`` for
   ``--pretrain-steps`` steps on every scan except the held-out one (labels are never read: the
   scans are linked into a folder without label files);
2. linear-probe the frozen teacher encoder (``semseg-dos-lin-tiny.py``) on the labelled scans of
   sequence 00 for ``--probe-steps`` steps;
3. report mIoU / allAcc on the held-out scan 08/000000 at full resolution (fragment voting).

Arms: ``dos`` (softmap target, Zipf alpha 1.3), ``assignment`` (Sonata/SwAV-style per-point
assignment target), ``alpha0`` (softmaps with uniform Sinkhorn), ``random`` (no pretraining: the
probe runs on a randomly initialised encoder). Prints a table and writes ``results.json``.
"""

import argparse
import json
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELD_OUT = ("08", "000000")
ARMS = {
    "dos": dict(target="softmap", alpha=1.3),
    "assignment": dict(target="assignment", alpha=1.3),
    "alpha0": dict(target="softmap", alpha=0.0),
    "random": None,
}

LABELLED = os.path.join("semantic_kitti", "dataset", "sequences")
UNLABELLED = os.path.join("semantic_kitti_unlabelled", "dataset", "sequences")
# What the protocol reads under --data-root: probe scans (sequence 00), the held-out scan, pretraining scans.
REQUIRED = (
    os.path.join(LABELLED, "00", "velodyne"),
    os.path.join(LABELLED, "00", "labels"),
    os.path.join(LABELLED, HELD_OUT[0], "velodyne", HELD_OUT[1] + ".bin"),
    os.path.join(LABELLED, HELD_OUT[0], "labels", HELD_OUT[1] + ".label"),
    UNLABELLED,
)


def missing_layout(data_root: str) -> list[str]:
    """The entries of ``REQUIRED`` absent under ``data_root`` (empty when the layout is complete)."""
    return [rel for rel in REQUIRED if not os.path.exists(os.path.join(data_root, rel))]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data-root",
        default=os.environ.get("DOS_REAL_DATA") or None,
        help="real-data folder holding semantic_kitti/ and semantic_kitti_unlabelled/ (default: $DOS_REAL_DATA)",
    )
    p.add_argument("--work-dir", default="exp/quality_check", help="runs, links and results go here")
    p.add_argument(
        "--arms", default="dos,assignment,alpha0,random", help=f"comma-separated subset of {list(ARMS)}"
    )
    p.add_argument("--pretrain-steps", type=int, default=300)
    p.add_argument("--probe-steps", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    args = p.parse_args(argv)
    if not args.data_root:
        p.error("no real data given: pass --data-root DIR or set DOS_REAL_DATA")
    if not os.path.isdir(args.data_root):
        p.error(f"--data-root {args.data_root!r} is not a folder")
    missing = missing_layout(args.data_root)
    if missing:
        p.error(
            f"--data-root {args.data_root!r} lacks the expected layout; missing: {', '.join(missing)} "
            f"(expected {LABELLED}/{{00,{HELD_OUT[0]}}}/{{velodyne,labels}} and {UNLABELLED})"
        )
    return args


def link_pretrain_scans(data_root: str, out: str) -> int:
    """Symlink every real scan except the held-out one into ``out/dataset/sequences/SS/velodyne``."""
    count = 0
    for rel in (LABELLED, UNLABELLED):
        sequences = os.path.join(data_root, rel)
        for seq in sorted(os.listdir(sequences)):
            velodyne = os.path.join(sequences, seq, "velodyne")
            target_dir = os.path.join(out, "dataset", "sequences", seq, "velodyne")
            os.makedirs(target_dir, exist_ok=True)
            for name in sorted(os.listdir(velodyne)):
                if (seq, os.path.splitext(name)[0]) == HELD_OUT or not name.endswith(".bin"):
                    continue
                link = os.path.join(target_dir, name)
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(velodyne, name)), link)
                count += 1
    return count


def snapshot(cfg) -> None:
    """Write the merged config next to the run, as tools/train.py does (vis_prototypes reads it)."""
    os.makedirs(cfg.save_path, exist_ok=True)
    with open(os.path.join(cfg.save_path, "config.py"), "w") as f:
        f.write(cfg.pretty_text())


def train_run(config: str, save_path: str, seed: int, steps: int, options: dict):
    """Train ``config`` for ``steps`` steps into ``save_path`` (config snapshot included); the trainer."""
    from pointcept.engines import Trainer
    from pointcept.utils.config import load_config

    run = {
        "save_path": save_path,
        "seed": seed,
        "max_steps": steps,
        "save_interval": steps,
        "log_interval": 25,
    }
    cfg = load_config(config, {**run, **options})
    snapshot(cfg)
    trainer = Trainer(cfg)
    trainer.train()
    return trainer


def pretrain(arm: str, args, scans_root: str) -> tuple[str, dict]:
    save_path = os.path.join(args.work_dir, arm, "pretrain")
    options = {
        "data.train.data_root": scans_root,
        "model.target": ARMS[arm]["target"],
        "model.alpha": ARMS[arm]["alpha"],
    }
    trainer = train_run(
        os.path.join(ROOT, "configs/semantic_kitti/pretrain-dos-tiny.py"),
        save_path,
        args.seed,
        args.pretrain_steps,
        options,
    )
    final = {k: float(v) for k, v in trainer.output.items() if hasattr(v, "dim") and v.dim() == 0}
    return os.path.join(save_path, "model", "model_last.pth"), final


def probe(arm: str, args, weight: str | None) -> dict:
    from pointcept.engines.tester import SemSegTester

    labelled = os.path.join(args.data_root, "semantic_kitti")
    save_path = os.path.join(args.work_dir, arm, "probe")
    options = {
        "evaluate": False,
        "data.val": None,
        "data.train.data_root": labelled,
        "data.train.split": "00",
        "data.test.data_root": labelled,
        "data.test.split": HELD_OUT[0],
        "weight": weight,
    }
    trainer = train_run(
        os.path.join(ROOT, "configs/semantic_kitti/semseg-dos-lin-tiny.py"),
        save_path,
        args.seed,
        args.probe_steps,
        options,
    )
    tester = SemSegTester(trainer.cfg, model=trainer.model_without_ddp, save_predictions=False)
    return tester.test()


def main(argv=None) -> None:
    args = parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"--arms: unknown arm(s) {unknown}; choose from {list(ARMS)}")
    os.makedirs(args.work_dir, exist_ok=True)
    scans_root = os.path.join(args.work_dir, "pretrain_scans")
    num_scans = link_pretrain_scans(args.data_root, scans_root)
    print(f"pretraining scans: {num_scans} (held out: {'/'.join(HELD_OUT)})")
    results = {}
    for arm in arms:
        start = time.perf_counter()
        weight, final = (None, {}) if ARMS[arm] is None else pretrain(arm, args, scans_root)
        metrics = probe(arm, args, weight)
        results[arm] = dict(
            mIoU=float(metrics["mIoU"]),
            mAcc=float(metrics["mAcc"]),
            allAcc=float(metrics["allAcc"]),
            final_pretrain=final,
            minutes=(time.perf_counter() - start) / 60,
        )
        print(
            f"[{arm}] mIoU {metrics['mIoU']:.4f} allAcc {metrics['allAcc']:.4f} in {results[arm]['minutes']:.1f} min"
        )
    with open(os.path.join(args.work_dir, "results.json"), "w") as f:
        json.dump(dict(args=vars(args), results=results), f, indent=2)
    print(
        f"\nheld-out scan {'/'.join(HELD_OUT)}; pretrain {args.pretrain_steps} steps, probe {args.probe_steps} steps"
    )
    print(f"{'arm':<12}{'mIoU':>8}{'mAcc':>8}{'allAcc':>8}{'pretrain loss':>15}{'protos used':>13}{'min':>7}")
    for arm, r in results.items():
        loss = r["final_pretrain"].get("loss", float("nan"))
        used = r["final_pretrain"].get("prototypes_in_use", float("nan"))
        print(
            f"{arm:<12}{r['mIoU']:>8.4f}{r['mAcc']:>8.4f}{r['allAcc']:>8.4f}{loss:>15.4f}{used:>13.1f}{r['minutes']:>7.1f}"
        )


if __name__ == "__main__":
    from pointcept.utils.errors import run_cli

    run_cli(main)
