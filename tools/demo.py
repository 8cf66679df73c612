"""The main job on the embedded demo data, end to end through the user-facing commands:

1. ``tools/generate_demo_data.py``: synthetic 64-beam scans in the SemanticKITTI format;
2. ``tools/train.sh -c pretrain-dos-tiny``: DOS pretraining of a tiny PTv3 encoder;
3. ``tools/train.sh -c semseg-dos-lin-tiny``: linear probe on the frozen pretrained encoder;
4. ``tools/test.py``: fragment-voted evaluation of the probe on the val sequence, per-class table.

    python tools/demo.py [--exp-prefix demo] [--pretrain-steps N] [--probe-steps N] [--fresh]

Each step's full log is in its experiment folder under ``exp/semantic_kitti/``.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ROOT = "data/semantic_kitti_demo"


def run(step: str, cmd: list[str]) -> float:
    print(f"\n=== {step}\n$ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"demo: step '{step}' failed with exit code {proc.returncode} after {elapsed:.0f} s")
    print(f"=== {step}: done in {elapsed:.0f} s", flush=True)
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-prefix", default="demo", help="experiment names: <prefix>-pretrain, <prefix>-lin")
    p.add_argument("--pretrain-steps", type=int, default=None, help="override max_steps of the pretraining")
    p.add_argument("--probe-steps", type=int, default=None, help="override max_steps of the linear probe")
    p.add_argument("--fresh", action="store_true", help="regenerate the demo data even if it exists")
    args = p.parse_args()

    times = {}
    if args.fresh or not os.path.isdir(os.path.join(ROOT, DATA_ROOT, "dataset", "sequences")):
        times["data"] = run(
            "generate demo data", [sys.executable, "tools/generate_demo_data.py", "--out", DATA_ROOT]
        )
    else:
        print(f"demo data already in {DATA_ROOT} (use --fresh to regenerate)")

    pre, lin = f"{args.exp_prefix}-pretrain", f"{args.exp_prefix}-lin"
    pre_dir, lin_dir = f"exp/semantic_kitti/{pre}", f"exp/semantic_kitti/{lin}"
    extra = ["--", "--options"]
    pre_opts = extra + (
        [f"max_steps={args.pretrain_steps}", f"save_interval={args.pretrain_steps}"]
        if args.pretrain_steps
        else []
    )
    times["pretrain"] = run(
        "DOS pretraining",
        ["sh", "tools/train.sh", "-d", "semantic_kitti", "-c", "pretrain-dos-tiny", "-n", pre]
        + (pre_opts if args.pretrain_steps else []),
    )
    lin_opts = extra + (
        [
            f"max_steps={args.probe_steps}",
            f"eval_interval={args.probe_steps}",
            f"save_interval={args.probe_steps}",
        ]
        if args.probe_steps
        else []
    )
    times["probe"] = run(
        "linear probe",
        ["sh", "tools/train.sh", "-d", "semantic_kitti", "-c", "semseg-dos-lin-tiny", "-n", lin,
         "-w", f"{pre_dir}/model/model_last.pth"] + (lin_opts if args.probe_steps else []),
    )  # fmt: skip
    times["test"] = run(
        "evaluation (tools/test.py)",
        [sys.executable, "tools/test.py", "--config-file", f"{lin_dir}/config.py", "--options",
         f"weight={lin_dir}/model/model_last.pth", f"save_path={lin_dir}/test"],
    )  # fmt: skip

    with open(os.path.join(ROOT, lin_dir, "test", "metrics.json")) as f:
        metrics = json.load(f)
    summary = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("mIoU", "mAcc", "allAcc") if k in metrics)
    print(f"\ndemo finished: {summary}")
    print(
        "time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
        + f", total {sum(times.values()):.0f} s"
    )
    print(f"predictions: {lin_dir}/test; logs and tensorboard events: {pre_dir}, {lin_dir}")


if __name__ == "__main__":
    main()
