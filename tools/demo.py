"""The main job on the embedded demo data, end to end through the user-facing commands:

1. ``tools/generate_demo_data.py``: synthetic 64-beam scans in the SemanticKITTI format;
2. ``tools/train.sh -c pretrain-dos-tiny``: DOS pretraining of a tiny PTv3 encoder;
3. ``tools/train.sh -c semseg-dos-lin-tiny``: linear probe on the frozen pretrained encoder;
4. ``tools/test.py``: fragment-voted evaluation of the probe on the val sequence, per-class table;
5. steps 3-4 again for the same encoder left at its random initialisation, the baseline that
   pretraining has to beat (skip with ``--no-baseline``).

    python tools/demo.py [--exp-prefix demo] [--pretrain-steps N] [--probe-steps N] [--fresh] [--no-baseline]

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
    p.add_argument(
        "--no-baseline", action="store_true", help="skip the probe of a randomly initialised encoder"
    )
    args = p.parse_args()

    times = {}
    if args.fresh or not os.path.isdir(os.path.join(ROOT, DATA_ROOT, "dataset", "sequences")):
        times["data"] = run(
            "generate demo data", [sys.executable, "tools/generate_demo_data.py", "--out", DATA_ROOT]
        )
    else:
        print(f"demo data already in {DATA_ROOT} (use --fresh to regenerate)")

    pre = f"{args.exp_prefix}-pretrain"
    pre_dir = f"exp/semantic_kitti/{pre}"
    pre_opts = ["seed=0"]
    if args.pretrain_steps:
        pre_opts += [f"max_steps={args.pretrain_steps}", f"save_interval={args.pretrain_steps}"]
    times["pretrain"] = run(
        "DOS pretraining",
        [
            "sh",
            "tools/train.sh",
            "-d",
            "semantic_kitti",
            "-c",
            "pretrain-dos-tiny",
            "-n",
            pre,
            "-o",  # the demo's runs are its own: a second demo replaces them
            "--",
            "--options",
        ]
        + pre_opts,
    )

    probe_opts = ["seed=0"]
    if args.probe_steps:
        probe_opts.append(f"max_steps={args.probe_steps}")
        probe_opts += [f"eval_interval={args.probe_steps}", f"save_interval={args.probe_steps}"]
    arms = {"DOS-pretrained": ["-w", f"{pre_dir}/model/model_last.pth"]}
    if not args.no_baseline:
        arms["random init"] = []  # the same frozen encoder, never trained: what pretraining must beat
    results = {}
    for arm, weight in arms.items():
        name = f"{args.exp_prefix}-lin" if weight else f"{args.exp_prefix}-lin-random"
        lin_dir = f"exp/semantic_kitti/{name}"
        times[f"probe ({arm})"] = run(
            f"linear probe of the {arm} encoder",
            ["sh", "tools/train.sh", "-d", "semantic_kitti", "-c", "semseg-dos-lin-tiny", "-n", name, "-o",
             *weight, "--", "--options", *probe_opts],
        )  # fmt: skip
        times[f"test ({arm})"] = run(
            f"evaluation of the {arm} probe (tools/test.py)",
            [sys.executable, "tools/test.py", "--config-file", f"{lin_dir}/config.py", "--options",
             f"weight={lin_dir}/model/model_last.pth", f"save_path={lin_dir}/test"],
        )  # fmt: skip
        with open(os.path.join(ROOT, lin_dir, "test", "metrics.json")) as f:
            results[arm] = (lin_dir, json.load(f))

    print("\ndemo finished: linear probe on the held-out demo scans (sequence 08)")
    print(f"  {'encoder':<16} {'mIoU':>7} {'mAcc':>7} {'allAcc':>7}  predictions")
    for arm, (lin_dir, m) in results.items():
        print(f"  {arm:<16} {m['mIoU']:7.4f} {m['mAcc']:7.4f} {m['allAcc']:7.4f}  {lin_dir}/test")
    print(
        "time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
        + f", total {sum(times.values()):.0f} s"
    )
    print(f"logs and tensorboard events: {pre_dir} and the probe folders above")


if __name__ == "__main__":
    main()
