"""Detection end to end through the CLIs on generated scans with boxes: tools/train.py trains the tiny
CenterPoint from scratch (DetEvaluator during training), tools/test.py evaluates it (per-class table,
metrics.json, submission.json), tools/visualize.py draws its boxes; then a 2-step DOS pretraining
initialises the encoder of det-dos-ft-tiny through the strict key map, which trains and evaluates.

The car AP floor is far above what a detector without skill gets: the same number of random car
boxes per scan (uniform in the BEV range, car sizes, random headings and scores) is scored in the test.
"""

import json

import numpy as np
from cli_runner import run

from pointcept.datasets import SemanticKITTIDataset
from pointcept.engines.det_metrics import DetectionEvalConfig, evaluate_detections

CONFIG = "configs/semantic_kitti/det-centerpoint-tiny.py"
STEPS = 150
CLASSES = ["car", "truck", "pedestrian", "cyclist"]
RANGE = 40.0


def random_detector_car_ap(data_root: str, boxes_per_scan: int = 100, seed: int = 0) -> float:
    """Car AP of random car boxes against the val scans' GT (in the clip range, with points)."""
    rng = np.random.default_rng(seed)
    ds = SemanticKITTIDataset(data_root, split="val", box_classes=CLASSES)
    gts, preds = [], []
    for i in range(len(ds)):
        d = ds[i]
        inside = (np.abs(d["gt_boxes"][:, :2]) <= RANGE).all(1)
        gts.append(
            dict(
                boxes=d["gt_boxes"][inside],
                labels=d["gt_labels"][inside],
                num_points=d["gt_num_points"][inside],
            )
        )
        n = boxes_per_scan
        boxes = np.concatenate(
            [
                rng.uniform(-RANGE, RANGE, (n, 2)),
                np.full((n, 1), -0.9),
                rng.uniform([3.8, 1.7, 1.5], [4.8, 1.9, 1.7], (n, 3)),
                rng.uniform(-np.pi, np.pi, (n, 1)),
                np.zeros((n, 2)),
            ],
            axis=1,
        )
        preds.append(dict(boxes=boxes, labels=np.zeros(n, np.int64), scores=rng.random(n)))
    result = evaluate_detections(gts, preds, DetectionEvalConfig(CLASSES, use_attributes=False))
    return result["class_ap"]["car"]


def test_detector_trains_tests_and_fine_tunes_from_dos(tmp_path):
    data, exp = tmp_path / "demo", tmp_path / "exp"
    run([
        "tools/generate_demo_data.py", "--out", str(data), "--sequences", "00,01,02,03,04,08",
        "--scans-per-seq", "4", "--beams", "32", "--azimuth-steps", "512", "--max-range", "45", "--seed", "4",
    ])  # fmt: skip
    roots = [f"data.{split}.data_root={data}" for split in ("train", "val", "test")]
    log = run([
        "tools/train.py", "--config-file", CONFIG, "--options", f"save_path={exp}", *roots,
        f"max_steps={STEPS}", f"eval_interval={STEPS}", f"save_interval={STEPS}", "num_worker=2", "seed=0",
    ])  # fmt: skip
    assert "new best NDS" in log and (exp / "model" / "model_best.pth").is_file()
    out = run([
        "tools/test.py", "--config-file", str(exp / "config.py"), "--options",
        f"weight={exp / 'model' / 'model_last.pth'}", f"save_path={exp / 'test'}",
    ])  # fmt: skip
    assert "AP@0.5" in out and "NDS" in out
    metrics = json.loads((exp / "test" / "metrics.json").read_text())
    assert metrics["num_scans"] == 4 and metrics["num_gt"]["car"] >= 10
    car_ap, random_ap = metrics["class_ap"]["car"], random_detector_car_ap(str(data))
    # Measured with these settings (52 val cars): car AP 0.615 (AP@0.5/1/2/4 = 0.13/0.67/0.82/0.84),
    # NDS 0.198; 100 random car boxes per scan: car AP 0.002 (their precision stays below 0.1).
    assert random_ap < 0.05, random_ap
    assert car_ap > 0.4, metrics["ap"]["car"]
    submission = json.loads((exp / "test" / "result" / "submission.json").read_text())
    assert set(submission["results"]) == {f"08_{i:06d}" for i in range(4)}
    # The same checkpoint under the Waymo metric (rotated-IoU AP/APH; the demo's classes need IoU
    # thresholds: 0.5 for cars and trucks, as the short training's boxes are loose at 0.7).
    out = run([
        "tools/test.py", "--config-file", str(exp / "config.py"), "--options",
        f"weight={exp / 'model' / 'model_last.pth'}", f"save_path={exp / 'test-waymo'}", "+test.metric=waymo",
        "+test.metric_options={'iou_thresholds': {'car': 0.5, 'truck': 0.5, 'pedestrian': 0.5, 'cyclist': 0.5}}",
    ])  # fmt: skip
    assert "3D APH L2" in out and "mAPH L2" in out and "NDS" not in out
    waymo = json.loads((exp / "test-waymo" / "metrics.json").read_text())
    assert waymo["metric"] == "waymo" and waymo["num_gt"]["car"]["LEVEL_2"] == metrics["num_gt"]["car"]
    # Measured: car 3D AP L1/L2 0.075/0.068 (APH 0.034/0.030), BEV AP 0.161/0.145.
    assert waymo["ap"]["3d"]["car"]["LEVEL_2"] > 0.02, waymo["ap"]
    assert waymo["ap"]["bev"]["car"]["LEVEL_2"] > 0.05, waymo["ap"]
    png = tmp_path / "boxes.png"
    run([
        "tools/visualize.py", "--scan", str(data / "dataset/sequences/08/velodyne/000000.bin"),
        "--boxes", str(data / "dataset/sequences/08/boxes/000000.txt"),
        "--pred-boxes", str(exp / "test" / "result" / "submission.json"), "--out", str(png),
    ])  # fmt: skip
    assert png.stat().st_size > 10000

    # Fine-tuning from a (2-step) DOS checkpoint: the encoder comes through the strict key map.
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    run([
        "tools/train.py", "--config-file", "configs/semantic_kitti/pretrain-dos-tiny.py", "--options",
        f"save_path={pre}", f"data.train.data_root={data}", "max_steps=2", "save_interval=2", "num_worker=0",
        "seed=0",
    ])  # fmt: skip
    log = run([
        "tools/train.py", "--config-file", "configs/semantic_kitti/det-dos-ft-tiny.py", "--options",
        f"save_path={ft}", f"weight={pre / 'model' / 'model_last.pth'}", *roots, "max_steps=4",
        "eval_interval=4", "save_interval=4", "num_worker=0", "seed=0",
    ])  # fmt: skip
    assert (
        "loading weights from" in log
        and "Val at step 4" in log
        and (ft / "model" / "model_last.pth").is_file()
    )
