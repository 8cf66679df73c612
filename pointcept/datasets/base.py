"""``DefaultDataset``: the base class every dataset reader derives from."""

import copy
import functools
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch.utils.data

from pointcept.utils.registry import build_from_cfg

from .builder import TRANSFORMS
from .transform import Compose
from .validation import validate_points

logger = logging.getLogger(__name__)


class DefaultDataset(torch.utils.data.Dataset):
    """Base dataset: loading, error policy, train/test preparation. Readers override a few hooks.

    Args:
        data_root: dataset folder (the reader documents the layout it expects).
        split: split name or list of names understood by the reader's ``get_data_list``.
        transform: list of transform configs applied to every loaded sample (``Compose``).
        test_mode: if True, ``dataset[i]`` returns ``prepare_test_data(i)`` (fragments for voting).
        test_cfg: test-mode options, a dict with
            ``voxelize`` (a ``GridSample(mode="test")`` config, or None for one fragment = the
            whole transformed scan), ``post_transform`` (transform list applied to each fragment,
            typically ``ToTensor`` + ``Collect`` keeping ``index``), ``aug_transform`` (list of
            transform lists, one per test-time-augmentation view; default: one identity view).
        loop: the dataset repeats ``loop`` times per pass (train only; test mode uses 1).
        ignore_index: label of unlabelled / ignored points (-1).
        on_error: ``"raise"`` (default) raises the reader's ValueError naming the file; ``"skip"``
            logs a warning, counts the sample in ``num_skipped`` and returns the next loadable
            sample instead. (With DataLoader workers each worker keeps its own count.)

    Extension points for a new reader (see ``SemanticKITTIDataset``):
        * ``get_data_list() -> list``: one entry per sample (e.g. file paths); called once in
          ``__init__``; must not be empty.
        * ``get_data(idx) -> dict``: load sample ``idx`` (0 <= idx < len(data_list)) as numpy
          arrays: ``coord`` (N,3) float32, ``segment`` (N,) int64 with ``ignore_index`` where
          unlabelled, ``name`` (str), plus ``strength``/``color``/``normal``/... Raise ValueError
          naming the file for format errors; ``validate_points`` runs afterwards on every sample
          (finite coordinates within ``COORD_LIMIT``, every float array finite, rows match).
        * ``get_data_name(idx) -> str`` and ``get_data_source(idx) -> str`` (for messages);
          ``get_column_source(idx, key) -> str`` when arrays come from different files or columns.
        * class attributes ``class_names`` (list[str]) and ``learning_map_inv`` (ndarray[K] raw
          ids or None); override ``save_prediction`` to write the dataset's own label format.
    """

    class_names: list[str] = []
    learning_map_inv: np.ndarray | None = None

    def __init__(
        self,
        data_root: str,
        split: str | Sequence[str] = "train",
        transform: Sequence[dict] | None = None,
        test_mode: bool = False,
        test_cfg: dict | None = None,
        loop: int = 1,
        ignore_index: int = -1,
        on_error: str = "raise",
    ):
        super().__init__()
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if int(loop) < 1:
            raise ValueError(f"loop must be >= 1, got {loop}")
        self.data_root = str(data_root)
        self.split = split
        self.transform = Compose(transform)
        self.test_mode = bool(test_mode)
        self.loop = 1 if self.test_mode else int(loop)
        self.ignore_index = int(ignore_index)
        self.on_error = on_error
        self.num_skipped = 0
        self._bad: set[int] = set()
        test_cfg = dict(test_cfg or {})
        unknown = set(test_cfg) - {"voxelize", "post_transform", "aug_transform"}
        if unknown:
            raise ValueError(
                f"test_cfg has unknown key(s) {sorted(unknown)}; expected voxelize, post_transform, aug_transform"
            )
        voxelize = test_cfg.get("voxelize")
        self.test_voxelize = (
            build_from_cfg(voxelize, TRANSFORMS, where="test_cfg.voxelize") if voxelize else None
        )
        self.post_transform = Compose(test_cfg.get("post_transform"))
        self.aug_transform = [Compose(a) for a in test_cfg.get("aug_transform") or [[]]]
        self.data_list = self.get_data_list()
        if len(self.data_list) == 0:
            raise ValueError(
                f"{type(self).__name__}: no samples found for split={split!r} under {self.data_root}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split_dirs(self, what: str, layout: str) -> list[str]:
        """The folder ``<data_root>/<split>`` of every split in ``self.split`` (a name or a list),
        or a ValueError naming the missing folder, ``what`` it should be and its expected ``layout``."""
        dirs = []
        for split in [self.split] if isinstance(self.split, str) else list(self.split):
            split_dir = os.path.join(self.data_root, split)
            if not os.path.isdir(split_dir):
                raise ValueError(f"{split_dir}: {what} not found (expected {layout})")
            dirs.append(split_dir)
        return dirs

    def get_data_list(self) -> list:
        raise NotImplementedError(f"{type(self).__name__} must implement get_data_list()")

    def get_data(self, idx: int) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_data(idx)")

    def get_data_name(self, idx: int) -> str:
        return str(self.data_list[idx % len(self.data_list)])

    def get_data_source(self, idx: int) -> str:
        return str(self.data_list[idx % len(self.data_list)])

    def get_column_source(self, idx: int, key: str) -> str:
        """The file (and column) array ``key`` of sample ``idx`` is read from, for error messages."""
        return self.get_data_source(idx)

    def save_prediction(self, pred: np.ndarray, name: str, save_path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no prediction format")

    def __len__(self) -> int:
        return len(self.data_list) * self.loop

    def __getitem__(self, idx: int) -> dict:
        if self.test_mode:
            return self.prepare_test_data(idx)
        return self.prepare_train_data(idx)

    def load(self, idx: int) -> dict:
        """Load and validate sample ``idx``, applying the ``on_error`` policy; returns a numpy dict."""
        n = len(self.data_list)
        idx = idx % n
        for attempt in range(n):
            cur = (idx + attempt) % n
            if cur in self._bad:
                continue
            try:
                data = self.get_data(cur)
                validate_points(
                    data, self.get_data_source(cur), functools.partial(self.get_column_source, cur)
                )
                return data
            except (ValueError, OSError) as e:
                if self.on_error == "raise":
                    raise
                self._bad.add(cur)
                self.num_skipped += 1
                logger.warning(
                    "skipping sample %d (%s): %s [%d skipped so far]",
                    cur,
                    self.get_data_name(cur),
                    e,
                    self.num_skipped,
                )
        raise ValueError(
            f"{type(self).__name__}: every one of the {n} samples failed to load (on_error='skip')"
        )

    def prepare_train_data(self, idx: int) -> dict:
        """Load sample ``idx`` and apply ``transform``; returns the transformed sample dict."""
        return self.transform(self.load(idx))

    def prepare_test_data(self, idx: int) -> dict:
        """Return ``dict(name, segment (N,) int64, coord (N,3) float32, fragment_list)``.

        Each fragment is a post-transformed sample carrying ``index`` (M,) int64, its rows in the
        full-resolution scan; together the fragments of every augmentation view cover every point.
        Raises ValueError if they do not (a test transform dropped points, or ``post_transform``
        did not keep ``index``).
        """
        data = self.load(idx)
        n = len(data["coord"])
        segment = data.get("segment")
        if segment is None:
            segment = np.full(n, self.ignore_index, dtype=np.int64)
        result = dict(
            name=data.get("name", self.get_data_name(idx)),
            segment=np.asarray(segment, dtype=np.int64).copy(),
            coord=data["coord"].copy(),
        )
        data["index"] = np.arange(n, dtype=np.int64)
        data = self.transform(data)
        fragments = []
        for aug in self.aug_transform:
            view = aug(copy.deepcopy(data))
            parts = self.test_voxelize(view) if self.test_voxelize is not None else view
            for part in parts if isinstance(parts, list) else [parts]:
                fragments.append(self.post_transform(part))
        self._check_coverage(fragments, n, result["name"])
        result["fragment_list"] = fragments
        return result

    def _check_coverage(self, fragments: list[dict], n: int, name: str) -> None:
        covered = np.zeros(n, dtype=bool)
        for frag in fragments:
            if "index" not in frag:
                raise ValueError(
                    f"{name}: a test fragment has no 'index'; keep 'index' in test_cfg.post_transform's Collect keys"
                )
            covered[np.asarray(frag["index"])] = True
        if not covered.all():
            raise ValueError(
                f"{name}: test fragments cover {int(covered.sum())} of {n} points; test-time transforms must "
                "not drop points (remove PointClip/SphereCrop from the test transform)"
            )
