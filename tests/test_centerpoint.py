"""CenterPoint on the PTv3 encoder: radius rule, heatmap targets, decoding, circle NMS, training."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcept.models import build_model
from pointcept.models.detection import (
    BEVGrid,
    circle_nms,
    decode_detections,
    encode_targets,
    gaussian_radius,
    scatter_to_bev,
    split_predictions,
)
from pointcept.models.detection.losses import heatmap_focal_loss, regression_l1_loss
from pointcept.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RANGE = (-12.8, -12.8, -2.0, 12.8, 12.8, 4.0)


def backbone_cfg(**overrides) -> dict:
    cfg = dict(load_config(str(ROOT / "configs/_base_/models/ptv3-tiny.py"))["model"]["backbone"])
    cfg.update({"enc_mode": True, **overrides})
    return cfg


def model_cfg(**overrides) -> dict:
    cfg = dict(
        type="CenterPoint",
        backbone=backbone_cfg(),
        num_classes=2,
        point_cloud_range=RANGE,
        bev_cell_size=0.8,
        upcast_level=2,
        neck=dict(channels=(32, 32), num_blocks=(1, 1)),
        head_channels=32,
        nms_radius=(2.0, 1.0),
    )
    cfg.update(overrides)
    return cfg


def make_batch(num_clouds=2, boxes_per_cloud=3, points_per_box=100, background=300, seed=0) -> dict:
    """Clouds of boxes filled with points on a flat ground, in the collated batch layout."""
    rng = np.random.default_rng(seed)
    coords, boxes, labels, grids = [], [], [], []
    for _ in range(num_clouds):
        cloud_boxes = []
        for i in range(boxes_per_cloud):
            label = i % 2
            size = [4.0, 1.8, 1.6] if label == 0 else [0.8, 0.8, 1.8]
            # boxes on a ring, far apart, so that NMS never merges two of them
            angle = 2 * math.pi * i / boxes_per_cloud + rng.uniform(-0.2, 0.2)
            centre = [7 * math.cos(angle), 7 * math.sin(angle), size[2] / 2]
            cloud_boxes.append([*centre, *size, rng.uniform(-math.pi, math.pi), *rng.normal(0, 2, 2)])
            labels.append(label)
        cloud_boxes = np.array(cloud_boxes, dtype=np.float32)
        pts = []
        for b in cloud_boxes:
            local = rng.uniform(-0.5, 0.5, (points_per_box, 3)) * b[3:6]
            c, s = math.cos(b[6]), math.sin(b[6])
            pts.append(
                np.stack(
                    [c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]], 1
                )
                + b[:3]
            )
        pts.append(np.concatenate([rng.uniform(-12, 12, (background, 2)), np.zeros((background, 1))], 1))
        coord = np.concatenate(pts).astype(np.float32)
        grid = np.floor(coord / 0.1).astype(np.int64)
        coords.append(coord)
        grids.append(grid - grid.min(0))
        boxes.append(cloud_boxes)
    coord = torch.from_numpy(np.concatenate(coords))
    return dict(
        coord=coord,
        grid_coord=torch.from_numpy(np.concatenate(grids)),
        feat=torch.cat([coord, torch.ones(len(coord), 1)], dim=1),
        offset=torch.cumsum(torch.tensor([len(c) for c in coords]), 0),
        gt_boxes=torch.from_numpy(np.concatenate(boxes)),
        gt_labels=torch.tensor(labels, dtype=torch.long),
        gt_offset=torch.cumsum(torch.tensor([len(b) for b in boxes]), 0),
    )


# ---------------------------------------------------------------- radius rule and targets


def test_gaussian_radius_hand_computed():
    # 10 x 10 cells, IoU 0.1: shrinking binds, (l - 2r)(w - 2r) = 0.1 lw  =>  r = 5 - sqrt(10) / 2.
    # 20 x 5: r = (25 - sqrt(625 - 4 * 0.9 * 100)) / 4 = (25 - sqrt(265)) / 4.
    # 10 x 10, IoU 0.7: shrink root (20 - sqrt(400 - 120)) / 4, below the translation root
    # (20 - sqrt(400 - 400 * 0.3 / 1.7)) / 2 and the growth root (-14 + sqrt(196 + 84)) / 2.8.
    got = gaussian_radius(torch.tensor([10.0, 20.0]), torch.tensor([10.0, 5.0]), 0.1)
    torch.testing.assert_close(got, torch.tensor([5 - math.sqrt(10) / 2, (25 - math.sqrt(265)) / 4]))
    got = gaussian_radius(torch.tensor([10.0]), torch.tensor([10.0]), 0.7)
    torch.testing.assert_close(got, torch.tensor([(20 - math.sqrt(280)) / 4]))
    assert (20 - math.sqrt(280)) / 4 < (20 - math.sqrt(400 - 120 / 1.7)) / 2 < (-14 + math.sqrt(280)) / 2.8
    # At the radius, every displacement mode keeps IoU >= o and the binding one is exactly o.
    for length, width, o in [(10.0, 10.0, 0.1), (20.0, 5.0, 0.1), (7.5, 3.2, 0.3), (3.0, 1.0, 0.5)]:
        r = float(gaussian_radius(torch.tensor([length]), torch.tensor([width]), o))
        shifted = (length - r) * (width - r) / (2 * length * width - (length - r) * (width - r))
        shrunk = (length - 2 * r) * (width - 2 * r) / (length * width)
        grown = length * width / ((length + 2 * r) * (width + 2 * r))
        assert min(shifted, shrunk, grown) == pytest.approx(o, abs=1e-5)
    with pytest.raises(ValueError, match="min_overlap"):
        gaussian_radius(torch.tensor([1.0]), torch.tensor([1.0]), 1.0)


def test_heatmap_target_peak_window_and_ignored_boxes():
    grid = BEVGrid(RANGE, 0.8)  # 32 x 32 cells
    boxes = torch.tensor(
        [
            [1.0, -2.0, 0.5, 4.0, 1.8, 1.5, 0.3, 1.0, 0.5],  # cloud 0, class 1
            [5.0, 5.0, 0.5, 24.0, 8.0, 3.0, 0.0, 0.0, 0.0],  # cloud 1, class 0, big: radius from the rule
            [0.0, 0.0, 0.5, 4.0, 1.8, 1.5, 0.0, 0.0, 0.0],  # cloud 1, ignored label
            [20.0, 0.0, 0.5, 4.0, 1.8, 1.5, 0.0, 0.0, 0.0],  # cloud 1, outside the range
        ]
    )
    target = encode_targets(boxes, torch.tensor([1, 0, -1, 0]), torch.tensor([1, 4]), grid, 2, 0.1, 2)
    heat = target["heatmap"]
    assert heat.shape == (2, 2, 32, 32)
    torch.testing.assert_close(target["box_index"], torch.tensor([0, 1]))
    torch.testing.assert_close(target["batch"], torch.tensor([0, 1]))
    # box 0: u = (1 + 12.8) / 0.8 = 17.25 -> ix 17, v = (-2 + 12.8) / 0.8 = 13.5 -> iy 13
    assert heat[0, 1, 13, 17] == 1.0 and heat[0, 1].max() == 1.0 and int((heat == 1.0).sum()) == 2
    assert heat[0, 0].max() == 0.0 and heat[1, 1].max() == 0.0  # other classes stay empty
    sigma = 5 / 6  # radius 2 (the rule gives < 1 cell for a car at 0.8 m): sigma = (2r + 1) / 6
    assert float(heat[0, 1, 13, 18]) == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert float(heat[0, 1, 15, 19]) == pytest.approx(math.exp(-8 / (2 * sigma**2)), rel=1e-6)
    assert heat[0, 1, 13, 20] == 0.0 and heat[0, 1, 16, 17] == 0.0  # beyond the 5 x 5 window
    torch.testing.assert_close(target["reg"][0, :2], torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(target["reg"][0, 3:6], torch.log(torch.tensor([4.0, 1.8, 1.5])))
    # the big box: 30 x 10 cells -> radius floor((40 - sqrt(1600 - 1080)) / 4) = floor(4.30) = 4
    assert int(target["radius"][1]) == 4
    assert heat[1, 0, 22, 22] == 1.0 and heat[1, 0, 22, 26] > 0 and heat[1, 0, 22, 27] == 0


def _dense(target, grid, num_clouds):
    reg = torch.zeros(num_clouds, 10, grid.ny * grid.nx)
    reg[target["batch"], :, target["cell"]] = target["reg"]
    return reg.view(num_clouds, 10, grid.ny, grid.nx)


def test_encode_decode_round_trip():
    grid = BEVGrid(RANGE, 0.8)
    batch = make_batch(num_clouds=3, boxes_per_cloud=4, seed=3)
    target = encode_targets(batch["gt_boxes"], batch["gt_labels"], batch["gt_offset"], grid, 2)
    assert len(target["batch"]) == 12
    out = decode_detections(
        target["heatmap"], _dense(target, grid, 3), grid, score_threshold=0.99, nms_radius=(2.0, 1.0)
    )
    torch.testing.assert_close(out["pred_offset"], torch.tensor([4, 8, 12]))
    assert (out["pred_scores"] == 1.0).all()
    for cloud, pred in enumerate(split_predictions(out)):
        lo, hi = 4 * cloud, 4 * cloud + 4
        gt, labels = batch["gt_boxes"][lo:hi], batch["gt_labels"][lo:hi]
        # match by centre (order within a cloud follows scores, all equal here)
        order = torch.cdist(pred["boxes"][:, :2], gt[:, :2]).argmin(1)
        assert sorted(order.tolist()) == [0, 1, 2, 3]
        torch.testing.assert_close(pred["boxes"], gt[order], atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(pred["labels"], labels[order])


# ---------------------------------------------------------------- losses, NMS and scatter


def test_focal_and_l1_losses_hand_computed():
    # p = 0.5 everywhere: positive -(0.5^2) log 0.5; target 0.5: -(0.5^4)(0.5^2) log 0.5; target 0: -(0.5^2) log 0.5
    logits = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([[[[1.0, 0.5, 0.0]]]])
    expected = math.log(2) * (0.25 + 0.0625 * 0.25 + 0.25)
    assert float(heatmap_focal_loss(logits, target, 1)) == pytest.approx(expected, rel=1e-6)
    assert float(heatmap_focal_loss(logits, target, 2)) == pytest.approx(expected / 2, rel=1e-6)
    # a confident, correct map costs ~0; saturated logits stay finite
    sharp = torch.tensor([[[[30.0, -30.0, -30.0]]]])
    assert 0 <= float(heatmap_focal_loss(sharp, target, 1)) < 1e-6
    assert torch.isfinite(heatmap_focal_loss(-sharp * 100, target, 1))
    pred, tgt = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    assert float(regression_l1_loss(pred, tgt, torch.tensor([1.0, 0.5]), 2)) == pytest.approx(
        (1 + 1 + 1 + 0.5) / 2
    )


def test_decoding_keeps_local_maxima_only():
    grid = BEVGrid((0, 0, -1, 8, 8, 1), 1.0)
    heat = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 2, 2], heat[0, 0, 2, 3], heat[0, 0, 6, 6] = 0.9, 0.8, 0.5  # 0.8 touches the 0.9 peak
    heat[0, 1, 2, 3] = 0.7  # another class at the same cell as the suppressed 0.8
    reg = torch.zeros(1, 10, 8, 8)
    out = decode_detections(heat, reg, grid, topk=10, score_threshold=0.1)
    torch.testing.assert_close(out["pred_scores"], torch.tensor([0.9, 0.7, 0.5]))
    torch.testing.assert_close(out["pred_labels"], torch.tensor([0, 1, 0]))
    torch.testing.assert_close(out["pred_boxes"][:, :2], torch.tensor([[2.0, 2.0], [3.0, 2.0], [6.0, 6.0]]))
    torch.testing.assert_close(out["pred_boxes"][:, 3:6], torch.ones(3, 3))  # exp(0)
    out = decode_detections(heat, reg, grid, topk=1, score_threshold=0.1)
    torch.testing.assert_close(out["pred_scores"], torch.tensor([0.9, 0.7]))  # top-1 per class


def test_circle_nms_is_greedy_and_class_aware():
    centers = torch.tensor(
        [[0.0, 0.0], [1.2, 0.0], [2.4, 0.0], [0.1, 0.0], [0.1, 0.0], [0.0, 1.5], [0.5, 0.0]]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.85, 0.5, 0.3, 0.2])
    labels = torch.tensor([0, 0, 0, 1, 1, 0, 2])
    keep = circle_nms(centers, scores, labels, torch.tensor([1.5, 0.0, 1.0]))
    # 1 is within 1.5 m of 0 (same class): suppressed; 2 is 2.4 m from 0 (kept although 1.2 m from
    # the suppressed 1); 3 and 4 are class 1 (radius 0: no suppression); 5 is exactly 1.5 m from 0
    # (not below the radius): kept; 6 is class 2, alone in its class.
    torch.testing.assert_close(keep, torch.tensor([0, 3, 2, 4, 5, 6]))
    assert circle_nms(centers[:0], scores[:0], labels[:0], torch.tensor([1.0])).shape == (0,)


def test_scatter_to_bev_max_and_mean():
    grid = BEVGrid((0, 0, -1, 2, 2, 1), 1.0)
    coord = torch.tensor(
        [[0.5, 0.5, 0], [0.6, 0.4, 0], [1.5, 0.5, 0], [0.5, 0.5, 0], [2.5, 0.5, 0], [0.5, 0.5, 3]]
    )
    feat = torch.tensor(
        [[1.0, -4.0], [3.0, -2.0], [5.0, 6.0], [7.0, 8.0], [9.0, 9.0], [9.0, 9.0]], requires_grad=True
    )
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    bev = scatter_to_bev(feat, coord, batch, 2, grid, "max")
    assert bev.shape == (2, 2, 2, 2)
    torch.testing.assert_close(bev[0, :, 0, 0], torch.tensor([3.0, -2.0]))  # max, even of negative features
    torch.testing.assert_close(bev[0, :, 0, 1], torch.tensor([5.0, 6.0]))  # x -> last dim
    torch.testing.assert_close(bev[1, :, 0, 0], torch.tensor([7.0, 8.0]))  # out-of-range points ignored
    assert not bev[0, :, 1].detach().any() and not bev[1, :, :, 1].detach().any()
    mean = scatter_to_bev(feat, coord, batch, 2, grid, "mean")
    torch.testing.assert_close(mean[0, :, 0, 0], torch.tensor([2.0, -3.0]))
    mean.sum().backward()
    torch.testing.assert_close(feat.grad[:, 0], torch.tensor([0.5, 0.5, 1.0, 1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="must divide"):
        BEVGrid((0, 0, 0, 2, 2, 1), 0.3)


# ---------------------------------------------------------------- the model


def test_config_validation_and_stage_selection():
    with pytest.raises(ValueError, match="enc_mode=True"):
        build_model(model_cfg(backbone=backbone_cfg(enc_mode=False)))
    with pytest.raises(ValueError, match="stages"):
        build_model(model_cfg(upcast_level=2, stages=(1,)))
    torch.manual_seed(0)
    model = build_model(model_cfg(upcast_level=1, stages=(1, 3)))
    model.eval()
    data = make_batch(points_per_box=40, background=100)
    with torch.no_grad():
        bev = model.bev_features(data)
    assert bev.shape == (2, 32 + 128, 32, 32)
    with pytest.raises(ValueError, match="needs 'gt_boxes'"):
        model.train()(dict((k, v) for k, v in data.items() if not k.startswith("gt_")))


def test_forward_backward_reaches_encoder_and_eval_predicts():
    torch.manual_seed(0)
    model = build_model(model_cfg())
    data = make_batch()
    out = model(data)
    assert set(out) == {"loss", "loss_hm", "loss_reg", "num_objects"} and int(out["num_objects"]) == 6
    assert torch.isfinite(out["loss"]) and out["loss_hm"] > 0 and out["loss_reg"] > 0
    torch.testing.assert_close(out["loss"], out["loss_hm"] + 0.25 * out["loss_reg"])
    out["loss"].backward()
    for name, module in [
        ("encoder stem", model.backbone.embedding),
        ("neck", model.neck),
        ("head", model.head),
    ]:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, name
    model.eval()
    with torch.no_grad():
        pred = model(data)
        no_gt = model(dict((k, v) for k, v in data.items() if not k.startswith("gt_")))
    assert {"pred_boxes", "pred_scores", "pred_labels", "pred_offset", "loss"} <= set(pred)
    assert set(no_gt) == {"pred_boxes", "pred_scores", "pred_labels", "pred_offset"}
    k = len(no_gt["pred_scores"])
    assert no_gt["pred_boxes"].shape == (k, 9) and torch.isfinite(no_gt["pred_boxes"]).all()
    assert no_gt["pred_offset"].shape == (2,) and int(no_gt["pred_offset"][-1]) == k
    assert (no_gt["pred_scores"] >= 0.1).all() and no_gt["pred_labels"].max() < 2


def test_overfits_one_tiny_batch():
    torch.manual_seed(0)
    model = build_model(model_cfg())
    data = make_batch(points_per_box=50, background=150, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):
        out = model(data)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        history.append((out["loss_hm"].item(), out["loss_reg"].item()))
    first, last = history[0], history[-1]
    assert last[0] < 0.5 * first[0], history
    assert last[1] < first[1], history
