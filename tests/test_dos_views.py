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


def explicit_pipeline(grid_size, feat_keys, apply_z, augmentations, max_points):
    """The standard pipeline written out: thin, copy origin, crop, per-view transforms, to tensor.

    Returns the pipeline and its per-view transform configs.
    """
    view = [
        dict(type="CenterShift", apply_z=apply_z),
        *augmentations,
        dict(type="GridSample", grid_size=grid_size, mode="train", return_grid_coord=True),
        dict(type="Collect", keys=("coord", "origin_coord", "grid_coord"), feat_keys=feat_keys),
    ]
    return Compose(
        [
            dict(type="GridSample", grid_size=grid_size, mode="train", return_grid_coord=False),
            dict(type="Copy", keys_dict={"coord": "origin_coord"}),
            dict(type="DOSViewGenerator", view_transform=view, crop_scale=(0.4, 1.0), max_points=max_points),
            dict(type="ToTensor"),
        ]
    ), view


STANDARD = [
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="y", center=(0, 0, 0), p=0.8),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
]


def indoor_scene(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    coord = (rng.random((n, 3)) * [6.0, 6.0, 2.5]).astype(np.float32)
    color = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    return dict(coord=coord, color=color, normal=rng.normal(size=(n, 3)).astype(np.float32), name="room")


def assert_same_views(a, b):
    assert set(a) == set(b)
    for key in ("view1", "view2"):
        assert set(a[key]) == set(b[key])
        for k in a[key]:
            assert a[key][k].dtype == b[key][k].dtype and torch.equal(a[key][k], b[key][k]), (key, k)


@pytest.mark.parametrize(
    "kwargs, explicit",
    [
        # Defaults: 0.05 m outdoor input, coord + strength, no z centring, the standard augmentations.
        (
            dict(),
            dict(grid_size=0.05, feat_keys=("coord", "strength"), apply_z=False, augmentations=STANDARD),
        ),
        (
            dict(grid_size=0.02, feat_keys=("coord", "color", "normal"), center_z=True),
            dict(
                grid_size=0.02, feat_keys=("coord", "color", "normal"), apply_z=True, augmentations=STANDARD
            ),
        ),
        (
            dict(grid_size=0.1, augmentations=STANDARD[3:5]),
            dict(grid_size=0.1, feat_keys=("coord", "strength"), apply_z=False, augmentations=STANDARD[3:5]),
        ),
    ],
)
def test_standard_pipeline_equals_the_explicit_one(kwargs, explicit):
    scene = make_scene(n=6000) if "color" not in str(kwargs) else indoor_scene()
    generator = Compose([dict(type="DOSViewGenerator", max_points=2500, **kwargs), dict(type="ToTensor")])
    reference, view = explicit_pipeline(max_points=2500, **explicit)
    assert generator.transforms[0].view_transform_cfg == view
    for seed in range(3):
        np.random.seed(seed)
        got = generator(dict(scene))
        np.random.seed(seed)
        want = reference(dict(scene))
        assert_same_views(got, want)
        assert got["view1"]["feat"].shape[1] == (9 if "color" in str(kwargs) else 4)


def test_config_grid_size_and_feat_keys_reach_the_pipeline():
    import os

    from pointcept.utils.config import load_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    want = {
        "semantic_kitti/pretrain-dos.py": (0.05, ("coord", "strength"), False),
        "semantic_kitti/pretrain-dos-tiny.py": (0.1, ("coord", "strength"), False),
        "scannet/pretrain-dos.py": (0.02, ("coord", "color", "normal"), True),
        "scannet/pretrain-dos-tiny.py": (0.05, ("coord", "color", "normal"), True),
    }
    for name, (grid_size, feat_keys, apply_z) in want.items():
        cfg = load_config(os.path.join(root, "configs", name))
        (gen,) = [
            t for t in Compose(cfg.data.train.transform).transforms if type(t).__name__ == "DOSViewGenerator"
        ]
        views = gen.view_transform.transforms
        assert gen.thin.grid_size == grid_size and views[-2].grid_size == grid_size, name
        assert views[-1].feat_keys == feat_keys and views[0].apply_z is apply_z, name
        assert cfg.model.match_radius == pytest.approx(grid_size * 4), name
    # A command-line override of the generator's grid size reaches both grid samplings.
    cfg = load_config(
        os.path.join(root, "configs", "semantic_kitti/pretrain-dos-tiny.py"),
        ["data.train.transform.0.grid_size=0.3"],
    )
    gen = Compose(cfg.data.train.transform).transforms[0]
    assert gen.thin.grid_size == 0.3 and gen.view_transform.transforms[-2].grid_size == 0.3
    np.random.seed(0)
    out = Compose(cfg.data.train.transform)(make_scene(n=6000))
    grid = torch.floor(out["view1"]["coord"] / 0.3).long()
    torch.testing.assert_close(grid - grid.min(0).values, out["view1"]["grid_coord"], rtol=0, atol=0)


def test_custom_view_transform_excludes_the_standard_arguments():
    gen = TRANSFORMS.get("DOSViewGenerator")(view_transform=VIEW_TRANSFORM)
    assert gen.thin is None and gen.view_transform_cfg == VIEW_TRANSFORM
    with pytest.raises(
        ValueError,
        match=r"view_transform replaces the standard view pipeline; do not also pass \['grid_size'\]",
    ):
        TRANSFORMS.get("DOSViewGenerator")(view_transform=VIEW_TRANSFORM, grid_size=0.1)
    standard = TRANSFORMS.get("DOSViewGenerator")(augmentations=[])
    assert [type(t).__name__ for t in standard.view_transform.transforms] == [
        "CenterShift",
        "GridSample",
        "Collect",
    ]
