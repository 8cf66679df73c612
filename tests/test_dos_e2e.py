"""End to end through the CLIs: DOS pretraining -> linear probe -> tools/test.py on generated scans."""

import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def test_pretrain_probe_test(tmp_path):
    data = tmp_path / "demo"
    run([
        "tools/generate_demo_data.py", "--out", str(data), "--sequences", "00,08", "--scans-per-seq", "2",
        "--beams", "16", "--azimuth-steps", "256",
    ])  # fmt: skip
    pre, lin = tmp_path / "pre", tmp_path / "lin"
    log = run([
        "tools/train.py", "--config-file", "configs/semantic_kitti/pretrain-dos-tiny.py", "--options",
        f"save_path={pre}", f"data.train.data_root={data}", "max_steps=4", "save_interval=4",
        "log_interval=1", "num_worker=0", "seed=0",
    ])  # fmt: skip
    assert "loss_same" in log and "loss_cross" in log
    ckpt = torch.load(pre / "model" / "model_last.pth", weights_only=True)
    assert ckpt["step"] == 4
    assert any(k.startswith("teacher.backbone.") for k in ckpt["model"])

    log = run([
        "tools/train.py", "--config-file", "configs/semantic_kitti/semseg-dos-lin-tiny.py", "--options",
        f"save_path={lin}", f"weight={pre / 'model' / 'model_last.pth'}", f"data.train.data_root={data}",
        f"data.val.data_root={data}", f"data.test.data_root={data}", "max_steps=4", "save_interval=4",
        "eval_interval=4", "num_worker=0", "seed=0",
    ])  # fmt: skip
    assert "mIoU" in log
    probe = torch.load(lin / "model" / "model_last.pth", weights_only=True)["model"]
    # The frozen backbone is exactly the pretrained teacher encoder.
    for key, value in ckpt["model"].items():
        if key.startswith("teacher.backbone."):
            torch.testing.assert_close(probe["backbone." + key[len("teacher.backbone.") :]], value)

    run([
        "tools/test.py", "--config-file", str(lin / "config.py"), "--options",
        f"weight={lin / 'model' / 'model_last.pth'}", f"save_path={lin / 'test'}",
    ])  # fmt: skip
    metrics = json.loads((lin / "test" / "metrics.json").read_text())
    assert 0.0 <= metrics["mIoU"] <= 1.0
    predictions = list((lin / "test" / "result").rglob("*.label"))
    assert len(predictions) == 2
