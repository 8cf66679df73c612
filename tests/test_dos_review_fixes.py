"""Review fixes of issue 10: fp32 cosine logits under autocast, per-view colour augmentation indoors,
one coordinate-centring rule for pretraining and probing, and Sinkhorn iterations vs row error."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pointcept.datasets.base import DefaultDataset
from pointcept.datasets.dos_views import DOSViewGenerator
from pointcept.datasets.transform import (
    ChromaticAutoContrast,
    ChromaticJitter,
    ChromaticTranslation,
    Compose,
)
from pointcept.models.dos_head import DOSHead
from pointcept.ops import zipf_prior, zipf_sinkhorn
from pointcept.utils.config import load_config


def test_head_logits_are_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    head = DOSHead(12, 32, 16, 40)
    feat = torch.randn(50, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head(feat)
        hidden = head.mlp(feat)
    assert hidden.dtype == torch.bfloat16  # the MLP does run under autocast
    assert logits.dtype == torch.float32
    expected = F.normalize(hidden.float(), dim=-1) @ F.normalize(head.prototypes.float(), dim=-1).t()
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
    # Without autocast, the head is the plain fp32 cosine.
    plain = F.normalize(head.mlp(feat), dim=-1) @ F.normalize(head.prototypes, dim=-1).t()
    torch.testing.assert_close(head(feat), plain, rtol=0, atol=0)


def _colour_sample(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        coord=rng.uniform(0, 4, (n, 3)).astype(np.float32),
        color=rng.uniform(0.3, 0.6, (n, 3)).astype(np.float32),
    )


def test_chromatic_auto_contrast_stretches_each_channel():
    data = _colour_sample()
    before = data["color"].copy()
    out = ChromaticAutoContrast(p=1.0, blend_factor=1.0)(data)
    np.testing.assert_allclose(out["color"].min(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out["color"].max(0), 1.0, atol=1e-6)
    lo, hi = before.min(0), before.max(0)
    np.testing.assert_allclose(out["color"], (before - lo) / (hi - lo), atol=1e-6)
    half = ChromaticAutoContrast(p=1.0, blend_factor=0.5)(dict(color=before.copy(), coord=data["coord"]))
    np.testing.assert_allclose(half["color"], 0.5 * before + 0.5 * (before - lo) / (hi - lo), atol=1e-6)
    untouched = ChromaticAutoContrast(p=0.0)(dict(color=before.copy(), coord=data["coord"]))
    np.testing.assert_array_equal(untouched["color"], before)


def test_chromatic_translation_and_jitter_values():
    np.random.seed(0)
    data = _colour_sample()
    before = data["color"].copy()
    out = ChromaticTranslation(p=1.0, ratio=0.05)(data)
    shift = out["color"] - before
    assert np.allclose(shift, shift[0], atol=1e-6)  # one offset per channel for the whole sample
    assert 0 < np.abs(shift[0]).max() <= 0.05 + 1e-6
    out = ChromaticJitter(p=1.0, std=0.05)(dict(color=before.copy(), coord=data["coord"]))
    noise = out["color"] - before
    assert abs(noise.std() - 0.05) < 0.01 and abs(noise.mean()) < 0.01
    assert not np.allclose(noise, noise[0])  # per point
    clipped = ChromaticJitter(p=1.0, std=5.0)(dict(color=before.copy(), coord=data["coord"]))
    assert clipped["color"].min() >= 0.0 and clipped["color"].max() <= 1.0
    with pytest.raises(ValueError, match="p must be in"):
        ChromaticJitter(p=1.5)


@pytest.mark.parametrize(
    "config", ["configs/scannet/pretrain-dos.py", "configs/scannet/pretrain-dos-tiny.py"]
)
def test_indoor_views_get_colour_augmentation_drawn_per_view(config):
    cfg = load_config(config)
    generator_cfg = dict(cfg["data"]["train"]["transform"][0])
    generator = Compose([generator_cfg]).transforms[0]
    assert isinstance(generator, DOSViewGenerator)
    types = [t["type"] for t in generator.view_transform_cfg]  # the per-view pipeline that runs
    assert {"ChromaticAutoContrast", "ChromaticTranslation", "ChromaticJitter"} <= set(types)
    assert types.index("ChromaticJitter") > types.index("RandomRotate")  # after the standard ones
    np.random.seed(1)
    rng = np.random.default_rng(0)
    n = 3000
    scene = dict(
        coord=rng.uniform(0, 3, (n, 3)).astype(np.float32),
        color=np.full((n, 3), 0.5, dtype=np.float32),
        normal=np.tile(np.array([[0, 0, 1]], dtype=np.float32), (n, 1)),
    )
    out = generator(scene)
    colours = [out[k]["feat"][:, 3:6] for k in ("view1", "view2")]
    for colour in colours:
        assert not np.allclose(colour, 0.5)  # augmented
    # Independent draws: the two views of the same grey scene get different colour shifts.
    assert abs(float(colours[0].mean() - colours[1].mean())) > 1e-3


class _OneScan(DefaultDataset):
    """One synthetic LiDAR-like scan far from the origin, read through the SemanticKITTI transforms."""

    def __init__(self, **kwargs):
        super().__init__(data_root="unused", **kwargs)

    def get_data_list(self):
        return ["scan"]

    def get_data(self, idx):
        rng = np.random.default_rng(3)
        n = 4000
        coord = rng.uniform(-1, 1, (n, 3)) * np.array([20.0, 12.0, 2.0]) + np.array([30.0, -17.0, 1.0])
        return dict(
            coord=coord.astype(np.float32),
            strength=rng.uniform(0, 1, (n, 1)).astype(np.float32),
            segment=rng.integers(0, 19, n),
        )


def _deterministic(transforms):
    return [t for t in transforms if not t["type"].startswith("Random")]


def _assert_crop_centred(feat, raw_z_range, grid_size):
    xyz = np.asarray(feat)[:, :3]
    centre = (xyz.min(0) + xyz.max(0)) / 2
    np.testing.assert_allclose(centre[:2], 0.0, atol=1e-4 if grid_size is None else grid_size)
    assert raw_z_range[0] - 1e-4 <= xyz[:, 2].min() and xyz[:, 2].max() <= raw_z_range[1] + 1e-4  # z kept


@pytest.mark.parametrize(
    "probe",
    [
        "configs/semantic_kitti/semseg-dos-lin-tiny.py",
        "configs/semantic_kitti/semseg-dos-ft-tiny.py",
        "configs/semantic_kitti/semseg-dos-lin.py",
        "configs/semantic_kitti/semseg-dos-ft.py",
    ],
)
def test_probe_and_tester_centre_coordinates_like_pretraining(probe):
    """Pretraining views, probe training crops, evaluation scans and test fragments all feed the
    network coordinate features with the x, y bounding-box centre of the fed cloud at 0 and z kept."""
    raw = _OneScan().get_data(0)
    z_range = (raw["coord"][:, 2].min(), raw["coord"][:, 2].max())
    pretrain = load_config(
        probe.replace("semseg-dos-lin", "pretrain-dos").replace("semseg-dos-ft", "pretrain-dos")
    )
    view_cfg = dict(pretrain["data"]["train"]["transform"][0], augmentations=[])
    np.random.seed(0)
    views = Compose([view_cfg]).transforms[0](dict(raw))
    for key in ("view1", "view2"):
        assert views[key]["feat"].shape[1] == 4
        _assert_crop_centred(views[key]["feat"], z_range, None)

    cfg = load_config(probe)["data"]
    np.random.seed(0)
    train = _OneScan(transform=_deterministic(cfg["train"]["transform"]))[0]
    _assert_crop_centred(train["feat"], z_range, None)
    val = _OneScan(transform=cfg["val"]["transform"])[0]
    _assert_crop_centred(val["feat"], z_range, None)
    test_cfg = cfg["test"]
    test = _OneScan(transform=test_cfg["transform"], test_mode=True, test_cfg=test_cfg["test_cfg"])[0]
    grid_size = test_cfg["test_cfg"]["voxelize"]["grid_size"]
    for fragment in test["fragment_list"]:
        # Fragments hold one point per voxel of the centred scan: centred up to a voxel.
        _assert_crop_centred(fragment["feat"], z_range, grid_size)


def test_sinkhorn_row_error_falls_from_3_to_10_iterations_on_real_size_logits(capsys):
    """Row-marginal error of Zipf-Sinkhorn at the pretraining sizes (one cloud of ~4000 level-2 cells,
    K = 1024, tau_t = 0.04 on cosine logits of an untrained head)."""
    torch.manual_seed(0)
    head = DOSHead(896, 256, 256, 1024)
    logits = head(torch.randn(4000, 896)) / 0.04
    offset = torch.tensor([2500, 4000])
    errors = {}
    for alpha in (0.0, 1.3):
        prior = zipf_prior(1024, alpha)
        for iters in (3, 10):
            _, row_error = zipf_sinkhorn(logits, offset, prior=prior, n_iter=iters, return_error=True)
            errors[alpha, iters] = row_error.max().item()
        print(f"alpha={alpha}: row error T=3 {errors[alpha, 3]:.3e}, T=10 {errors[alpha, 10]:.3e}")
        assert errors[alpha, 10] < errors[alpha, 3]
    assert "row error T=3" in capsys.readouterr().out
