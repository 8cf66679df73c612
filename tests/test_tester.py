"""SemSegTester: fragment voting against a per-fragment manual computation, predictions in the
dataset's format, metrics table and json."""

import json

import numpy as np
import pytest
import torch
from engine_toys import TOY_CLASSES, ToySegDataset, ToySegmentor, write_toy_config

from pointcept.engines import SemSegTester, intersection_and_union, save_checkpoint, summarize
from pointcept.utils.config import load_config


def manual_predictions(model, dataset):
    preds = []
    with torch.no_grad():
        for i in range(len(dataset)):
            data = dataset[i]
            probs = torch.zeros(len(data["segment"]), 4)
            for frag in data["fragment_list"]:
                logits = model(dict(feat=frag["feat"]))["seg_logits"]
                probs[frag["index"]] += torch.softmax(logits, dim=1)
            preds.append(probs.argmax(1))
    return preds


def test_fragment_voting_predictions_and_metrics(tmp_path):
    torch.manual_seed(0)
    model = ToySegmentor(teacher=True).eval()
    weight = str(tmp_path / "model_last.pth")
    save_checkpoint(weight, dict(model=model.state_dict(), step=3))
    cfg = load_config(write_toy_config(str(tmp_path / "cfg.py"), str(tmp_path / "out")), [f"weight={weight}"])
    tester = SemSegTester(cfg, fragment_batch_size=2)
    metrics = tester.test()

    dataset = ToySegDataset(num_samples=3, num_points=50, seed=3, test_mode=True)
    expected = manual_predictions(model, dataset)
    counts = [torch.zeros(4, dtype=torch.int64) for _ in range(3)]
    for i, pred in enumerate(expected):
        saved = np.fromfile(tmp_path / "out" / "result" / f"scan_{i:03d}.label", dtype=np.uint32)
        np.testing.assert_array_equal(saved, dataset.learning_map_inv[pred.numpy()])
        scan = intersection_and_union(pred, dataset[i]["segment"], 4)
        for c, x in zip(counts, scan):
            c += x
        name, scan_counts = tester.scan_counts[i]  # per-scan counts kept for statistics
        assert name == f"scan_{i:03d}" and torch.equal(scan_counts, torch.stack(scan))
    reference = summarize(*counts)
    assert metrics["mIoU"] == pytest.approx(reference["mIoU"]) and metrics["allAcc"] == pytest.approx(
        reference["allAcc"]
    )

    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["num_scans"] == 3 and written["weight"] == weight
    assert list(written["iou"]) == TOY_CLASSES
    assert written["mIoU"] == pytest.approx(reference["mIoU"])
    log = (tmp_path / "out" / "test.log").read_text()
    assert "Test [3/3] scan_002: 50 points, 3 fragments" in log and "tree" in log


def test_voting_averages_overlapping_fragments(tmp_path):
    # A fragment covering a point twice must count twice; a point in no fragment is an error.
    class Fixed(torch.nn.Module):
        def forward(self, batch):
            return dict(seg_logits=batch["feat"])

    cfg = load_config(write_toy_config(str(tmp_path / "cfg.py"), str(tmp_path / "out")))
    tester = SemSegTester(cfg, model=Fixed(), save_predictions=False)

    def frag(feat, idx):
        return dict(feat=torch.tensor(feat), coord=torch.zeros(len(idx), 3), index=torch.tensor(idx))

    data = dict(
        name="s",
        segment=np.array([0, 1]),
        fragment_list=[
            frag([[5.0, 0, 0, 0], [0, 0, 0, 0]], [0, 1]),
            frag([[0, 0, 5.0, 0], [0, 0, 5.0, 0]], [0, 0]),  # point 0 twice: class 2 outvotes class 0
            frag([[0, 5.0, 0, 0]], [1]),
        ],
    )
    assert tester.predict_scan(data).tolist() == [2, 1]
    data["segment"] = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="scan s: 1 of 3 points are in no fragment"):
        tester.predict_scan(data)


def test_missing_weight_is_a_clear_error(tmp_path):
    cfg = load_config(write_toy_config(str(tmp_path / "cfg.py"), str(tmp_path / "out")))
    with pytest.raises(ValueError, match="testing needs a checkpoint: pass --options weight=PATH"):
        SemSegTester(cfg)
    cfg.weight = str(tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        SemSegTester(cfg)


def test_training_key_map_is_not_applied_to_the_trained_checkpoint(tmp_path):
    # A probe config maps a pretraining checkpoint into the model ("teacher.backbone." -> ...);
    # tools/test.py loads the probe's own checkpoint, whose keys that map does not match.
    torch.manual_seed(0)
    model = ToySegmentor(teacher=True).eval()
    weight = str(tmp_path / "model_last.pth")
    save_checkpoint(weight, dict(model=model.state_dict(), step=3))
    options = [f"weight={weight}", "key_map={'pretrained.encoder.': 'encoder.'}"]
    cfg = load_config(write_toy_config(str(tmp_path / "cfg.py"), str(tmp_path / "out")), options)
    metrics = SemSegTester(cfg).test()
    assert 0.0 <= metrics["allAcc"] <= 1.0
    with pytest.raises(ValueError, match="matched no checkpoint key"):
        SemSegTester(cfg, key_map={"pretrained.encoder.": "encoder."})
