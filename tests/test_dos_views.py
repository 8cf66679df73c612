"""DOSViewGenerator: two overlapping, independently augmented views with their origin coordinates."""

import numpy as np
import pytest
import torch

from pointcept.datasets import TRANSFORMS, Compose, collate_fn

VIEW_TRANSFORM = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=1.0),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", p=1.0),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="GridSample", grid_size=0.1, mode="train", return_grid_coord=True),
    dict(type="Collect", keys=("coord", "origin_coord", "grid_coord"), feat_keys=("coord", "strength")),
]


def make_scene(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    coord = (rng.random((n, 3)) * [20.0, 20.0, 2.0]).astype(np.float32)
    return dict(coord=coord, strength=rng.random((n, 1)).astype(np.float32), name=f"scene{seed}")


def make_generator(**kwargs):
    cfg = dict(type="DOSViewGenerator", view_transform=VIEW_TRANSFORM, crop_scale=(0.4, 1.0), max_points=3000)
    cfg.update(kwargs)
    return Compose([cfg, dict(type="ToTensor")])


def test_views_are_crops_with_original_coordinates():
    np.random.seed(0)
    scene = make_scene()
    out = make_generator()(dict(scene))
    assert set(out) == {"view1", "view2", "name"} and out["name"] == "scene0"
    scene_rows = {tuple(p) for p in scene["coord"].tolist()}
    for key in ("view1", "view2"):
        view = out[key]
        assert set(view) == {"coord", "origin_coord", "grid_coord", "feat"}
        n = len(view["coord"])
        assert 0 < n <= 3000
        assert view["feat"].shape == (n, 4) and view["grid_coord"].dtype == torch.int64
        # origin_coord rows are untouched scene points; coord is augmented.
        assert all(tuple(p) in scene_rows for p in view["origin_coord"].tolist())
        assert not torch.allclose(view["coord"], view["origin_coord"])
        # One point per voxel after GridSample on the augmented coordinates.
        assert len(torch.unique(view["grid_coord"], dim=0)) == n
    first = {tuple(p) for p in out["view1"]["origin_coord"].tolist()}
    second = {tuple(p) for p in out["view2"]["origin_coord"].tolist()}
    assert len(first & second) > 0


def test_crop_fraction_and_determinism():
    scene = make_scene(n=2000)
    sizes = []
    for seed in range(10):
        np.random.seed(seed)
        out = make_generator(view_transform=[dict(type="ToTensor")])(dict(scene))
        sizes.append(len(out["view1"]["coord"]))
    assert min(sizes) >= 0.4 * 2000 - 1 and max(sizes) <= 2000
    assert len(set(sizes)) > 1
    np.random.seed(3)
    a = make_generator()(dict(scene))
    np.random.seed(3)
    b = make_generator()(dict(scene))
    torch.testing.assert_close(a["view2"]["coord"], b["view2"]["coord"])


def test_views_collate_with_their_own_offsets():
    np.random.seed(1)
    gen = make_generator()
    batch = collate_fn([gen(dict(make_scene(seed=s))) for s in range(3)])
    for key in ("view1", "view2"):
        view = batch[key]
        assert view["offset"].shape == (3,)
        assert int(view["offset"][-1]) == len(view["coord"])
    assert batch["name"] == ["scene0", "scene1", "scene2"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="crop_scale"):
        TRANSFORMS.get("DOSViewGenerator")(view_transform=[], crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="view_keys"):
        TRANSFORMS.get("DOSViewGenerator")(view_transform=[], view_keys=("a", "a"))
