import numpy as np
import pytest
import torch

from pointcept.datasets import TRANSFORMS, Compose, collate_fn, index_points, point_collate_fn
from pointcept.datasets.transform import (
    Collect,
    Copy,
    GridSample,
    PointClip,
    RandomFlip,
    RandomJitter,
    RandomRotate,
    RandomScale,
    SphereCrop,
    ToTensor,
)
from pointcept.utils.registry import ConfigError


def _sample(n=500, seed=0, extent=4.0):
    rng = np.random.default_rng(seed)
    return dict(
        coord=(rng.random((n, 3)) * extent).astype(np.float32),
        strength=rng.random((n, 1)).astype(np.float32),
        segment=rng.integers(-1, 5, n).astype(np.int64),
        name="s0",
    )


def test_gridsample_train_one_point_per_voxel_and_aligned_keys():
    np.random.seed(0)
    data = _sample()
    # tag every point's segment with its row so alignment of indexed keys can be checked
    data["segment"] = np.arange(500, dtype=np.int64)
    out = GridSample(grid_size=0.5, return_inverse=True)(dict(data))
    voxels = np.floor(data["coord"] / 0.5).astype(np.int64)
    n_vox = len(np.unique(voxels, axis=0))
    assert len(out["coord"]) == n_vox
    assert len(np.unique(out["grid_coord"], axis=0)) == n_vox
    assert out["grid_coord"].min() == 0 and out["grid_coord"].dtype == np.int64
    rows = out["segment"]
    np.testing.assert_array_equal(out["coord"], data["coord"][rows])
    np.testing.assert_array_equal(out["strength"], data["strength"][rows])
    np.testing.assert_array_equal(out["grid_coord"], voxels[rows] - voxels.min(0))
    # inverse maps every input point to the kept point of its own voxel
    np.testing.assert_array_equal(out["grid_coord"][out["inverse"]], voxels - voxels.min(0))
    assert out["name"] == "s0"


@pytest.mark.parametrize("hash_type", ["ravel", "fnv"])
def test_gridsample_test_fragments_cover_every_point_exactly(hash_type):
    data = _sample(n=800, seed=1)
    frags = GridSample(grid_size=0.6, hash_type=hash_type, mode="test")(data)
    voxels = np.floor(data["coord"] / 0.6).astype(np.int64)
    _, counts = np.unique(voxels, axis=0, return_counts=True)
    assert len(frags) == counts.max()
    index = np.concatenate([f["index"] for f in frags])
    np.testing.assert_array_equal(np.unique(index), np.arange(800))
    # every fragment holds exactly one point of every voxel
    for f in frags:
        assert len(f["index"]) == len(counts)
        assert len(np.unique(f["grid_coord"], axis=0)) == len(counts)
        np.testing.assert_array_equal(f["coord"], data["coord"][f["index"]])
    # fragments below the smallest voxel count never repeat a point
    first_k = np.concatenate([f["index"] for f in frags[: counts.min()]])
    assert len(np.unique(first_k)) == len(first_k)


def test_gridsample_test_composes_existing_index():
    data = _sample(n=100, seed=2)
    data["index"] = np.arange(100) + 1000
    frags = GridSample(grid_size=1.0, mode="test")(data)
    index = np.concatenate([f["index"] for f in frags])
    np.testing.assert_array_equal(np.unique(index), np.arange(1000, 1100))


def test_gridsample_validation():
    with pytest.raises(ValueError, match="grid_size"):
        GridSample(grid_size=0)
    with pytest.raises(ValueError, match="mode"):
        GridSample(mode="val")
    with pytest.raises(ValueError, match="hash_type"):
        GridSample(hash_type="md5")


def test_pointclip_drops_points_outside():
    data = _sample(n=300, seed=3, extent=10.0)
    data["segment"] = np.arange(300, dtype=np.int64)
    out = PointClip(point_cloud_range=(2, 2, 2, 8, 8, 8))(dict(data))
    inside = np.all((data["coord"] >= 2) & (data["coord"] <= 8), axis=1)
    assert len(out["coord"]) == inside.sum() < 300
    np.testing.assert_array_equal(out["segment"], np.flatnonzero(inside))
    np.testing.assert_array_equal(out["coord"], data["coord"][inside])  # dropped, not clamped
    with pytest.raises(ValueError, match="removed all"):
        PointClip(point_cloud_range=(50, 50, 50, 60, 60, 60))(_sample())
    with pytest.raises(ValueError, match="point_cloud_range"):
        PointClip(point_cloud_range=(1, 1, 1, 0, 0, 0))


def test_index_points_rejects_misaligned_keys():
    data = _sample(n=10)
    data["segment"] = data["segment"][:9]
    with pytest.raises(ValueError, match="'segment' has 9 rows"):
        index_points(data, np.arange(5))


def test_sphere_crop_keeps_nearest_points():
    data = _sample(n=1000, seed=4)
    out = SphereCrop(point_max=100, mode="center")(dict(data))
    assert len(out["coord"]) == 100
    center = (data["coord"].min(0) + data["coord"].max(0)) / 2
    dist = np.square(data["coord"] - center).sum(1)
    np.testing.assert_allclose(np.sort(np.square(out["coord"] - center).sum(1)), np.sort(dist)[:100])
    assert len(SphereCrop(sample_rate=0.25)(_sample(n=1000))["coord"]) == 250


def test_random_transforms_are_reproducible_from_global_seed():
    pipeline = Compose(
        [
            dict(type="RandomRotate", angle=(-1, 1), axis="z", p=1.0),
            dict(type="RandomScale", scale=(0.9, 1.1)),
            dict(type="RandomFlip", p=0.5),
            dict(type="RandomJitter", sigma=0.01, clip=0.05),
            dict(type="GridSample", grid_size=0.3),
        ]
    )
    np.random.seed(7)
    a = pipeline(_sample())
    np.random.seed(7)
    b = pipeline(_sample())
    np.random.seed(8)
    c = pipeline(_sample())
    np.testing.assert_array_equal(a["coord"], b["coord"])
    assert a["coord"].shape != c["coord"].shape or not np.array_equal(a["coord"], c["coord"])


def test_geometric_transforms_values():
    np.random.seed(0)
    data = _sample(n=50)
    rotated = RandomRotate(angle=(0.5, 0.5), center=(0, 0, 0), p=1.0)(dict(data))
    expected = np.stack([-data["coord"][:, 1], data["coord"][:, 0], data["coord"][:, 2]], 1)
    np.testing.assert_allclose(rotated["coord"], expected, atol=1e-5)
    scaled = RandomScale(scale=(2.0, 2.0))(dict(data))
    np.testing.assert_allclose(scaled["coord"], 2 * data["coord"])
    flipped = RandomFlip(p=1.0)(dict(data))
    np.testing.assert_allclose(flipped["coord"][:, :2], -data["coord"][:, :2])
    jittered = RandomJitter(sigma=1.0, clip=0.01)(dict(data))
    assert np.abs(jittered["coord"] - data["coord"]).max() <= 0.01 + 1e-6


def test_copy_tensor_collect_feat():
    data = Copy(keys_dict={"coord": "origin_coord"})(_sample(n=20))
    data["coord"] += 1
    assert not np.allclose(data["coord"], data["origin_coord"])
    out = Collect(keys=("coord", "segment"), feat_keys=("coord", "strength"))(ToTensor()(data))
    assert out["feat"].shape == (20, 4) and out["feat"].dtype == torch.float32
    torch.testing.assert_close(out["feat"][:, :3], out["coord"])
    assert out["segment"].dtype == torch.int64 and out["name"] == "s0"
    with pytest.raises(ValueError, match="'color'"):
        Collect(keys=("coord",), feat_keys=("color",))(data)


def test_compose_unknown_type_names_registry():
    with pytest.raises(ConfigError, match="NoSuchTransform"):
        Compose([dict(type="NoSuchTransform")])
    assert "GridSample" in TRANSFORMS


def test_collate_offsets_and_nested_views():
    samples = []
    for i, n in enumerate((3, 5, 2)):
        view = dict(coord=torch.randn(n, 3), segment=torch.arange(n))
        samples.append(
            dict(
                coord=torch.randn(n + 1, 3),
                name=f"s{i}",
                view1=view,
                view2=dict(coord=torch.randn(2 * n, 3), offset=torch.tensor([n, 2 * n])),
                weight=torch.tensor(float(i)),
            )
        )
    batch = collate_fn(samples)
    assert batch["offset"].tolist() == [4, 10, 13] and batch["offset"].dtype == torch.int64
    assert batch["coord"].shape == (13, 3)
    assert batch["name"] == ["s0", "s1", "s2"]
    assert batch["view1"]["offset"].tolist() == [3, 8, 10]
    assert batch["view1"]["segment"].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 0, 1]
    # per-sample offsets (two sub-clouds each) are shifted by the running total
    assert batch["view2"]["offset"].tolist() == [3, 6, 11, 16, 18, 20]
    assert batch["weight"].tolist() == [0.0, 1.0, 2.0]


def test_collate_numpy_and_errors():
    batch = collate_fn([dict(coord=np.zeros((2, 3), np.float32)), dict(coord=np.ones((4, 3), np.float32))])
    assert isinstance(batch["coord"], torch.Tensor) and batch["offset"].tolist() == [2, 6]
    with pytest.raises(ValueError, match="keys"):
        collate_fn([dict(coord=torch.zeros(1, 3)), dict(coord=torch.zeros(1, 3), extra=1)])
    with pytest.raises(ValueError, match="empty"):
        collate_fn([])


def test_point_collate_mix3d_merges_pairs():
    import random

    samples = [dict(coord=torch.zeros(n, 3)) for n in (2, 3, 4, 5, 6)]
    random.seed(0)
    batch = point_collate_fn(samples, mix_prob=1.0)
    assert batch["offset"].tolist() == [5, 14, 20]
    assert point_collate_fn(samples, mix_prob=0.0)["offset"].tolist() == [2, 5, 9, 14, 20]
