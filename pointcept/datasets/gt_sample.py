"""GT sampling: paste objects cut from other scans (``gt_database.py``) into a sample, without BEV collisions.

Invariants of a sample after ``GTSample``: no two boxes of ``gt_boxes`` (existing or pasted)
overlap in bird's-eye view with positive area, unless two *existing* boxes already did; the
scene's points inside a pasted box are removed and replaced by the object's own points, which lie
in their box; ``gt_num_points`` counts the sample's points in each box. Objects are pasted at the
pose where they were annotated (their range and viewing angle stay realistic for the sensor).
"""

from collections.abc import Sequence

import numpy as np

from .box_overlap import bev_intersection
from .boxes import count_points_in_boxes, points_in_boxes
from .builder import TRANSFORMS
from .gt_database import GTDatabase
from .transform import BOX_KEYS, POINT_KEYS, _rng, _Transform, index_points

_BASE_BOX_KEYS = ("gt_boxes", "gt_labels", "gt_num_points")


@TRANSFORMS.register_module()
class GTSample(_Transform):
    """Paste database objects per class until the sample holds ``sample_groups[name]`` boxes of that class.

    Args:
        db_path: database file written by ``tools/build_gt_database.py``.
        class_names: the dataset's box classes (``gt_labels`` indexes them).
        sample_groups: class name -> target number of boxes of that class in the sample; the
            missing ones are drawn without replacement from the database and tried in order,
            a candidate being dropped when it overlaps (BEV) an existing or already pasted box.
        min_points: minimum stored points of a pasted object (an int, or a dict per class name).
        exclude_same_source: never paste an object cut from the sample itself.
        p: probability of sampling at all.

    Draws from the transform RNG (seeded from numpy's global generator), so a run is reproducible
    under ``np.random.seed``. Needs ``gt_boxes``/``gt_labels`` and, for every per-point array of
    the sample, the same key in the database (``origin_coord`` is filled with the pasted coordinates).
    """

    def __init__(
        self,
        db_path: str,
        class_names: Sequence[str],
        sample_groups: dict[str, int],
        min_points: int | dict[str, int] = 5,
        exclude_same_source: bool = True,
        p: float = 1.0,
    ):
        self.db_path = db_path
        self.class_names = list(class_names)
        unknown = [n for n in sample_groups if n not in self.class_names]
        if unknown:
            raise ValueError(
                f"GTSample: sample_groups classes {unknown} are not in class_names {self.class_names}"
            )
        if any(int(v) < 0 for v in sample_groups.values()):
            raise ValueError(f"GTSample: sample_groups counts must be >= 0, got {sample_groups}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"GTSample: p must be in [0, 1], got {p}")
        self.sample_groups = {n: int(v) for n, v in sample_groups.items()}
        self.min_points = min_points
        self.exclude_same_source = bool(exclude_same_source)
        self.p = float(p)
        self._db: GTDatabase | None = None
        self._pools: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"GTSample(db_path={self.db_path!r}, sample_groups={self.sample_groups!r}, p={self.p})"

    @property
    def db(self) -> GTDatabase:
        """The database, loaded on first use (so configs build without touching the file)."""
        if self._db is None:
            self._db = GTDatabase(self.db_path)
            for name in self.sample_groups:
                mp = self.min_points.get(name, 1) if isinstance(self.min_points, dict) else self.min_points
                self._pools[name] = self._db.indices_of(name, int(mp))
        return self._db

    def _draw(self, data: dict, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        """Database indices and labels of the objects to paste, collision-free."""
        db = self.db
        labels = np.asarray(data["gt_labels"])
        occupied = np.asarray(data["gt_boxes"], dtype=np.float64).reshape(-1, 9)
        chosen, chosen_labels = [], []
        for name, target in self.sample_groups.items():
            label = self.class_names.index(name)
            need = target - int((labels == label).sum())
            pool = self._pools[name]
            if self.exclude_same_source and "name" in data:
                pool = pool[db.source[pool] != str(data["name"])]
            if need <= 0 or len(pool) == 0:
                continue
            cand = rng.choice(pool, size=min(need, len(pool)), replace=False)
            cand_boxes = db.boxes[cand].astype(np.float64)
            hit = (
                (bev_intersection(cand_boxes, occupied) > 0).any(1)
                if len(occupied)
                else np.zeros(len(cand), bool)
            )
            mutual = bev_intersection(cand_boxes, cand_boxes) > 0
            taken: list[int] = []
            for i in range(len(cand)):
                if not hit[i] and not mutual[i, taken].any():
                    taken.append(i)
            chosen.extend(int(c) for c in cand[taken])
            chosen_labels.extend([label] * len(taken))
            occupied = np.concatenate([occupied, cand_boxes[taken]])
        return chosen, chosen_labels

    def __call__(self, data: dict) -> dict:
        for key in ("gt_boxes", "gt_labels"):
            if key not in data:
                raise ValueError(f"GTSample: the sample has no '{key}' (load the dataset with its boxes)")
        if not isinstance(data["gt_boxes"], np.ndarray) or not isinstance(data["coord"], np.ndarray):
            raise ValueError(
                "GTSample works on numpy samples: put it before ToTensor (first in the pipeline)"
            )
        extra_box_keys = [k for k in BOX_KEYS if k in data and k not in _BASE_BOX_KEYS]
        if extra_box_keys:
            raise ValueError(f"GTSample cannot fill per-box keys {extra_box_keys} for pasted objects")
        rng = _rng()
        if rng.random() >= self.p:
            return data
        chosen, chosen_labels = self._draw(data, rng)
        if not chosen:
            return data
        db = self.db
        new_boxes = db.boxes[chosen].astype(np.float32)
        point_keys = [k for k in POINT_KEYS if k in data and k not in ("coord", "origin_coord")]
        missing = [k for k in point_keys if k not in db.point_arrays]
        if missing:
            raise ValueError(
                f"GTSample: the sample has per-point keys {missing} that {self.db_path} does not store "
                f"(it stores {db.point_keys}); rebuild the database from the same dataset config"
            )
        out = index_points(data, ~points_in_boxes(data["coord"], new_boxes).any(1))
        pasted = [db.points(k) for k in chosen]
        coord = np.concatenate([out["coord"], *(p["coord"] for p in pasted)]).astype(out["coord"].dtype)
        for key in point_keys:
            out[key] = np.concatenate([out[key], *(p[key].astype(out[key].dtype) for p in pasted)])
        if "origin_coord" in data:
            out["origin_coord"] = np.concatenate(
                [out["origin_coord"], *(p["coord"].astype(out["origin_coord"].dtype) for p in pasted)]
            )
        out["coord"] = coord
        out["gt_boxes"] = np.concatenate([np.asarray(out["gt_boxes"], np.float32).reshape(-1, 9), new_boxes])
        out["gt_labels"] = np.concatenate(
            [np.asarray(out["gt_labels"], np.int64), np.asarray(chosen_labels, np.int64)]
        )
        out["gt_num_points"] = count_points_in_boxes(coord, out["gt_boxes"])
        return out
