"""The DOS view generator: two overlapping, differently augmented global views of one scene."""

from collections.abc import Sequence

import numpy as np

from .builder import TRANSFORMS
from .transform import Compose, GridSample, index_points

# The standard per-view augmentations (rotation about z, small tilt, scale, flip, jitter).
STANDARD_AUGMENTATIONS = (
    dict(type="RandomRotate", angle=(-1, 1), axis="z", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="x", center=(0, 0, 0), p=0.8),
    dict(type="RandomRotate", angle=(-1 / 64, 1 / 64), axis="y", center=(0, 0, 0), p=0.8),
    dict(type="RandomScale", scale=(0.9, 1.1)),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
)
# Defaults of the standard pipeline: Pointcept's outdoor input (0.05 m voxels, coord + strength).
DEFAULT_GRID_SIZE = 0.05
DEFAULT_FEAT_KEYS = ("coord", "strength")
# The arguments that set up the standard pipeline (refused together with a custom view_transform).
_STANDARD_ARGS = ("grid_size", "feat_keys", "center_z", "augmentations", "extra_augmentations")


def standard_view_transform(
    grid_size: float = DEFAULT_GRID_SIZE,
    feat_keys: Sequence[str] = DEFAULT_FEAT_KEYS,
    center_z: bool = False,
    augmentations: Sequence[dict] = STANDARD_AUGMENTATIONS,
) -> list[dict]:
    """The per-view transform configs of the standard pipeline.

    ``CenterShift`` (the view's centre to the origin; ``center_z`` also shifts z, indoors), the
    ``augmentations``, ``GridSample`` (the view's ``grid_coord``, computed once after augmentation
    and before the model masks anything) and ``Collect`` of ``coord``, ``origin_coord``,
    ``grid_coord`` and ``feat`` = ``feat_keys`` concatenated.
    """
    return [
        dict(type="CenterShift", apply_z=bool(center_z)),
        *(dict(a) for a in augmentations),
        dict(type="GridSample", grid_size=grid_size, mode="train", return_grid_coord=True),
        dict(type="Collect", keys=("coord", "origin_coord", "grid_coord"), feat_keys=tuple(feat_keys)),
    ]


@TRANSFORMS.register_module()
class DOSViewGenerator:
    """Cut two global views of a scene and augment each one independently.

    A view is the ``k`` points nearest to a centre, ``k = fraction * min(max_points, N)`` with
    ``fraction ~ U(crop_scale)``. The first centre is a random point of the scene; the second is a
    random point of the first view, so the two views always overlap (the cross-view loss needs
    corresponding points). ``origin_coord`` (the coordinates before any augmentation, added from
    ``coord`` when absent) is what the model matches the views on; ``shared_transform`` runs once
    on the scene before cropping (e.g. colour jitter that both views should share), then the view
    pipeline runs separately on each view.

    The view pipeline is either the standard one, set by ``grid_size``, ``feat_keys``,
    ``center_z``, ``augmentations`` and ``extra_augmentations``, or a full custom
    ``view_transform`` list (then those five must be left unset). The standard pipeline first thins the scene to one random point per
    ``grid_size`` voxel (so crops are measured in voxels, not raw returns), then runs
    ``standard_view_transform(...)`` on each view. A custom ``view_transform`` gets the scene as it
    comes, unthinned.

    Args:
        view_transform (list[dict] | None): custom transform configs applied to each view.
        crop_scale (tuple[float, float]): range of the crop fraction, within (0, 1].
        max_points (int): upper bound on the points of a view before the view pipeline.
        shared_transform (list[dict] | None): transform configs applied once before cropping.
        view_keys (tuple[str, str]): keys of the two views in the output.
        grid_size (float | None): voxel size in metres (default ``DEFAULT_GRID_SIZE`` = 0.05).
        feat_keys (tuple[str, ...] | None): keys concatenated into ``feat`` (default
            ``DEFAULT_FEAT_KEYS`` = coord + strength; indoors coord + color + normal).
        center_z (bool | None): ``CenterShift(apply_z=...)`` (default False: keep the height).
        augmentations (list[dict] | None): per-view augmentation configs (default
            ``STANDARD_AUGMENTATIONS``; ``[]`` for none).
        extra_augmentations (list[dict] | None): per-view augmentation configs run after
            ``augmentations`` (e.g. the indoor colour augmentation on top of the standard ones).

    Returns (from ``__call__``):
        dict ``{view_keys[0]: view, view_keys[1]: view}`` (plus ``name`` when the input has one),
        each view being the output of the view pipeline on the crop.
    """

    def __init__(
        self,
        view_transform: Sequence[dict] | None = None,
        crop_scale: Sequence[float] = (0.4, 1.0),
        max_points: int = 65536,
        shared_transform: Sequence[dict] | None = None,
        view_keys: Sequence[str] = ("view1", "view2"),
        grid_size: float | None = None,
        feat_keys: Sequence[str] | None = None,
        center_z: bool | None = None,
        augmentations: Sequence[dict] | None = None,
        extra_augmentations: Sequence[dict] | None = None,
    ):
        if len(crop_scale) != 2 or not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(
                f"DOSViewGenerator: crop_scale must be (low, high) with 0 < low <= high <= 1, got {crop_scale}"
            )
        if not (isinstance(max_points, int) and max_points > 0):
            raise ValueError(f"DOSViewGenerator: max_points must be a positive int, got {max_points!r}")
        if len(view_keys) != 2 or view_keys[0] == view_keys[1]:
            raise ValueError(f"DOSViewGenerator: view_keys must be two distinct names, got {view_keys!r}")
        if view_transform is not None:
            standard = (grid_size, feat_keys, center_z, augmentations, extra_augmentations)
            given = [name for name, value in zip(_STANDARD_ARGS, standard) if value is not None]
            if given:
                raise ValueError(
                    f"DOSViewGenerator: view_transform replaces the standard view pipeline; "
                    f"do not also pass {given}"
                )
            self.thin = None
        else:
            grid_size = DEFAULT_GRID_SIZE if grid_size is None else grid_size
            view_transform = standard_view_transform(
                grid_size=grid_size,
                feat_keys=DEFAULT_FEAT_KEYS if feat_keys is None else feat_keys,
                center_z=bool(center_z),
                augmentations=[
                    *(STANDARD_AUGMENTATIONS if augmentations is None else augmentations),
                    *(extra_augmentations or ()),
                ],
            )
            self.thin = GridSample(grid_size=grid_size, mode="train", return_grid_coord=False)
        self.view_transform_cfg = list(view_transform)  # the per-view pipeline, as configs
        self.view_transform = Compose(self.view_transform_cfg)
        self.shared_transform = Compose(shared_transform or [])
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.max_points = max_points
        self.view_keys = tuple(view_keys)

    def __repr__(self) -> str:
        return (
            f"DOSViewGenerator(crop_scale={self.crop_scale}, max_points={self.max_points}, "
            f"view_keys={self.view_keys}, thin={self.thin}, shared_transform={self.shared_transform}, "
            f"view_transform={self.view_transform})"
        )

    def __call__(self, data: dict) -> dict:
        coord = data["coord"]
        if len(coord) == 0:
            raise ValueError(f"DOSViewGenerator: sample {data.get('name', '')!r} has no points")
        if self.thin is not None:
            data = self.thin(data)
            coord = data["coord"]
        if "origin_coord" not in data:
            data["origin_coord"] = np.array(coord, dtype=np.float32, copy=True)
        data = self.shared_transform(data)
        # One generator per call, seeded from the global numpy RNG (the engine seeds workers).
        rng = np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))
        first = self._crop(data["coord"], rng.integers(len(data["coord"])), rng)
        second = self._crop(data["coord"], first[rng.integers(len(first))], rng)
        out = {}
        for key, idx in zip(self.view_keys, (first, second)):
            view = self.view_transform(index_points(data, idx))
            if isinstance(view, list):
                raise ValueError("DOSViewGenerator: view_transform must return one sample, not fragments")
            view.pop("name", None)
            out[key] = view
        if "name" in data:
            out["name"] = data["name"]
        return out

    def _crop(self, coord: np.ndarray, center_index: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted indices of the ``k`` points nearest to ``coord[center_index]``."""
        n = len(coord)
        k = max(1, int(rng.uniform(*self.crop_scale) * min(self.max_points, n)))
        if k >= n:
            return np.arange(n)
        dist = np.square(coord - coord[center_index]).sum(1)
        return np.sort(np.argpartition(dist, k - 1)[:k])
