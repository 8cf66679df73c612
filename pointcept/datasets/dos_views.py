"""The DOS view generator: two overlapping, differently augmented global views of one scene."""

from collections.abc import Sequence

import numpy as np

from .builder import TRANSFORMS
from .transform import Compose, index_points


@TRANSFORMS.register_module()
class DOSViewGenerator:
    """Cut two global views of a scene and augment each one independently.

    A view is the ``k`` points nearest to a centre, ``k = fraction * min(max_points, N)`` with
    ``fraction ~ U(crop_scale)``. The first centre is a random point of the scene; the second is a
    random point of the first view, so the two views always overlap (the cross-view loss needs
    corresponding points). ``origin_coord`` (the coordinates before any augmentation, added from
    ``coord`` when absent) is what the model matches the views on; ``shared_transform`` runs once
    on the scene before cropping (e.g. colour jitter that both views should share), then
    ``view_transform`` runs separately on each view: typically the geometric augmentations,
    ``GridSample`` (which computes the view's ``grid_coord`` after augmentation, once, before the
    model masks anything) and ``Collect``.

    Args:
        view_transform (list[dict]): transform configs applied to each view.
        crop_scale (tuple[float, float]): range of the crop fraction, within (0, 1].
        max_points (int): upper bound on the points of a view before ``view_transform``.
        shared_transform (list[dict] | None): transform configs applied once before cropping.
        view_keys (tuple[str, str]): keys of the two views in the output.

    Returns (from ``__call__``):
        dict ``{view_keys[0]: view, view_keys[1]: view}`` (plus ``name`` when the input has one),
        each view being the output of ``view_transform`` on the crop.
    """

    def __init__(
        self,
        view_transform: Sequence[dict],
        crop_scale: Sequence[float] = (0.4, 1.0),
        max_points: int = 65536,
        shared_transform: Sequence[dict] | None = None,
        view_keys: Sequence[str] = ("view1", "view2"),
    ):
        if len(crop_scale) != 2 or not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(
                f"DOSViewGenerator: crop_scale must be (low, high) with 0 < low <= high <= 1, got {crop_scale}"
            )
        if not (isinstance(max_points, int) and max_points > 0):
            raise ValueError(f"DOSViewGenerator: max_points must be a positive int, got {max_points!r}")
        if len(view_keys) != 2 or view_keys[0] == view_keys[1]:
            raise ValueError(f"DOSViewGenerator: view_keys must be two distinct names, got {view_keys!r}")
        self.view_transform = Compose(view_transform)
        self.shared_transform = Compose(shared_transform or [])
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.max_points = max_points
        self.view_keys = tuple(view_keys)

    def __repr__(self) -> str:
        return (
            f"DOSViewGenerator(crop_scale={self.crop_scale}, max_points={self.max_points}, "
            f"view_keys={self.view_keys}, shared_transform={self.shared_transform}, "
            f"view_transform={self.view_transform})"
        )

    def __call__(self, data: dict) -> dict:
        coord = data["coord"]
        if len(coord) == 0:
            raise ValueError(f"DOSViewGenerator: sample {data.get('name', '')!r} has no points")
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
