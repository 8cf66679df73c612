from pathlib import Path

import pytest
import torch

from pointcept.models import build_model, upcast
from pointcept.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = [dict(type="CrossEntropyLoss", ignore_index=-1), dict(type="LovaszLoss", ignore_index=-1)]


def backbone_cfg(**overrides) -> dict:
    cfg = dict(load_config(str(ROOT / "configs/_base_/models/ptv3-tiny.py"))["model"]["backbone"])
    cfg.update(overrides)
    return cfg


def random_batch(sizes=(300, 120), side=30, seed=0, num_classes=5) -> dict:
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for n in sizes:
        cells = torch.randperm(side**3, generator=gen)[:n]
        grids.append(torch.stack([cells // side**2, (cells // side) % side, cells % side], dim=1))
    grid = torch.cat(grids)
    coord = grid.float() * 0.05
    segment = torch.randint(-1, num_classes, (len(grid),), generator=gen)
    return dict(
        coord=coord,
        grid_coord=grid,
        feat=torch.cat([coord, torch.rand(len(grid), 1, generator=gen)], dim=1),
        offset=torch.cumsum(torch.tensor(sizes), 0),
        segment=segment,
    )


def test_linear_probe_on_encoder_concatenates_all_stages():
    torch.manual_seed(0)
    model = build_model(
        dict(
            type="DefaultSegmentor",
            backbone=backbone_cfg(enc_mode=True),
            num_classes=5,
            backbone_out_channels=16 + 32 + 64 + 128,
            criteria=CRITERIA,
            freeze_backbone=True,
        )
    )
    model.train()
    assert model.training and not model.backbone.training
    assert all(not p.requires_grad for p in model.backbone.parameters())
    data = random_batch()
    out = model(data)
    assert out["seg_logits"].shape == (420, 5)
    assert set(out) == {"seg_logits", "loss", "loss_CrossEntropyLoss", "loss_LovaszLoss"}
    torch.testing.assert_close(out["loss"], out["loss_CrossEntropyLoss"] + out["loss_LovaszLoss"])
    out["loss"].backward()
    assert model.seg_head.weight.grad.abs().sum() > 0
    # The head sees exactly the up-cast backbone features (frozen backbone: deterministic).
    expected = model.seg_head(upcast(model.backbone(data)).feat)
    torch.testing.assert_close(out["seg_logits"], expected)


def test_full_backbone_with_decoder_trains_end_to_end():
    torch.manual_seed(0)
    model = build_model(
        dict(
            type="DefaultSegmentor",
            backbone=backbone_cfg(drop_path=0.0),
            num_classes=5,
            backbone_out_channels=16,
            criteria=CRITERIA,
        )
    ).train()
    out = model(random_batch())
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        logits = model({k: v for k, v in random_batch().items() if k != "segment"})
    assert set(logits) == {"seg_logits"}


def test_upcast_level_reads_coarse_features_at_every_point():
    torch.manual_seed(0)
    model = build_model(
        dict(
            type="DefaultSegmentor",
            backbone=backbone_cfg(enc_mode=True),
            num_classes=3,
            backbone_out_channels=64 + 128,
            criteria=[],
            upcast_level=2,
        )
    ).eval()
    data = random_batch()
    logits = model(data)["seg_logits"]
    assert logits.shape == (420, 3)
    # Points in the same level-2 cell share their logits.
    point = model.backbone(data)
    level1 = point.pooling_parent.pooling_parent
    cell = point.pooling_parent.pooling_inverse[level1.pooling_inverse]
    for c in cell.unique()[:20]:
        rows = logits[cell == c]
        torch.testing.assert_close(rows, rows[:1].expand_as(rows))


def test_wrong_out_channels_and_missing_labels_raise():
    model = build_model(
        dict(
            type="DefaultSegmentor",
            backbone=backbone_cfg(enc_mode=True),
            num_classes=5,
            backbone_out_channels=128,
            criteria=CRITERIA,
        )
    )
    data = random_batch()
    with pytest.raises(ValueError, match="set backbone_out_channels=240"):
        model(data)
    model.backbone_out_channels = 240
    model.seg_head = torch.nn.Linear(240, 5)
    with pytest.raises(ValueError, match="needs 'segment'"):
        model.train()({k: v for k, v in data.items() if k != "segment"})
