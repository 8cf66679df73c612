"""DetEvaluator on a fake trainer: schedule, metrics from the model's decoded boxes, best step by NDS,
tensorboard scalars, the test config's class range."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pointcept.datasets import collate_fn
from pointcept.engines.hooks import DetEvaluator
from pointcept.utils.config import Config

NAMES = ["car", "pedestrian"]


class EchoDetector(torch.nn.Module):
    """Predicts the batch's GT boxes shifted by ``shift`` metres in x, score 0.9."""

    def __init__(self, shift: float):
        super().__init__()
        self.shift = shift
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, batch):
        boxes = batch["gt_boxes"].clone()
        boxes[:, 0] += self.shift
        keep = batch["gt_labels"] >= 0
        counts = torch.stack([keep[: int(e)].sum() for e in batch["gt_offset"]])
        return dict(
            pred_boxes=boxes[keep],
            pred_scores=torch.full((int(keep.sum()),), 0.9),
            pred_labels=batch["gt_labels"][keep],
            pred_offset=counts,
        )


class Writer:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, key, value, step):
        self.scalars[key] = (value, step)


def sample(boxes, labels):
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 9)
    return dict(
        coord=torch.zeros(4, 3),
        gt_boxes=torch.from_numpy(boxes),
        gt_labels=torch.tensor(labels, dtype=torch.int64),
        gt_num_points=torch.full((len(labels),), 10, dtype=torch.int64),
    )


def make_trainer(shift, test=None):
    far_car = [45.0, 0, 0, 4, 2, 1.5, 0, 0, 0]
    loader = [
        collate_fn([sample([[5, 0, 0, 4, 2, 1.5, 0, 0, 0], [0, 6, 0, 0.6, 0.6, 1.8, 1, 0, 0]], [0, 1])]),
        collate_fn(
            [sample([[-8, 3, 0, 4, 2, 1.5, 2, 0, 0], far_car, [1, 1, 0, 1, 1, 1, 0, 0, 0]], [0, 0, -1])]
        ),
    ]
    return SimpleNamespace(
        cfg=Config(data=Config(names=NAMES), test=Config(test or {})),
        model_without_ddp=EchoDetector(shift),
        val_loader=loader,
        device=torch.device("cpu"),
        amp_dtype=None,
        eval_interval=10,
        step=0,
        max_steps=25,
        best_metric_value=-float("inf"),
        best_metric_name=None,
        is_best=False,
        writer=Writer(),
        logger=logging.getLogger("test_det_evaluator"),
    )


def test_schedule_best_step_and_scalars():
    hook = DetEvaluator()
    hook.trainer = t = make_trainer(shift=0.0)
    t.step = 5
    hook.after_step()
    assert not t.is_best and not t.writer.scalars  # not an eval step
    t.step = 10
    hook.after_step()
    assert t.is_best and t.best_metric_name == "NDS"
    # perfect boxes; no attributes in the GT, so NDS = (5 mAP + 4 TP scores) / 9 = 1
    assert t.best_metric_value == pytest.approx(1.0)
    assert t.writer.scalars["val/AP_car"][0] == pytest.approx(1.0) and "val/mAP" in t.writer.scalars
    # a worse model does not become the best
    t.is_best = False
    t.model_without_ddp.shift = 1.5
    t.step = 25  # the last step always evaluates
    hook.after_step()
    assert not t.is_best and t.best_metric_value == pytest.approx(1.0)
    assert t.writer.scalars["val/AP_car"] == (pytest.approx(0.5), 25)  # matches at 2 and 4 m only


def test_class_range_from_the_test_config():
    t = make_trainer(shift=0.0)
    hook = DetEvaluator()
    hook.trainer = t
    full = hook.evaluate()
    assert full["num_gt"] == {"car": 3, "pedestrian": 1}
    t.cfg.test = Config(class_range={"car": 40, "pedestrian": 40})
    assert hook.evaluate()["num_gt"] == {"car": 2, "pedestrian": 1}  # the car at 45 m is out
    with pytest.raises(ValueError, match="metric must be"):
        DetEvaluator(metric="mIoU")


def test_waymo_metric_from_the_test_config():
    t = make_trainer(
        shift=0.0,
        test=dict(metric="waymo", metric_options=dict(iou_thresholds=dict(car=0.7, pedestrian=0.5))),
    )
    hook = DetEvaluator()
    hook.trainer = t
    t.step = 10
    hook.after_step()
    # Echoed GT boxes: every Waymo AP/APH is 1, the best step is picked by 3D mAPH L2.
    assert t.is_best and t.best_metric_name == "mAPH_L2" and t.best_metric_value == pytest.approx(1.0)
    assert t.writer.scalars["val/APH_L2_car"][0] == pytest.approx(1.0) and "val/mAP_L1" in t.writer.scalars
    assert "val/NDS" not in t.writer.scalars
    # Shifted 1.5 m along x (4 x 2 m cars: 3D IoU 2.5 / 5.5 < 0.7): no car is found.
    t.model_without_ddp.shift = 1.5
    result = hook.evaluate()
    assert result["ap"]["3d"]["car"]["LEVEL_2"] == 0.0 and result["num_gt"]["car"]["LEVEL_2"] == 3
    # A nuScenes best key with the Waymo metric, a class without IoU threshold, a nuScenes setting.
    hook = DetEvaluator(metric="NDS")
    hook.trainer = t
    with pytest.raises(ValueError, match="not one of the waymo metrics"):
        hook.evaluate()
    hook = DetEvaluator()
    hook.trainer = make_trainer(0.0, test=dict(metric="waymo"))
    with pytest.raises(ValueError, match=r"no IoU threshold for classes \['car'\]"):
        hook.evaluate()
    hook.trainer = make_trainer(0.0, test=dict(metric="waymo", class_range={"car": 40}))
    with pytest.raises(ValueError, match="takes no class_range"):
        hook.evaluate()
