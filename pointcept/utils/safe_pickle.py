"""Load checkpoints from elsewhere without running code.

``safe_load`` reads a ``torch.save`` file (zip or legacy format) with torch's restricted unpickler
(``weights_only=True``), which builds only tensors, storages and plain containers (dict, list,
tuple, set, OrderedDict, str, numbers, None). On top of that it admits exactly the numpy globals
needed to rebuild arrays, scalars and dtypes (Pointcept stores ``best_metric_value`` as a numpy
scalar), under both their numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) import paths.
Any other global, for example ``os.system`` or a class whose ``__reduce__`` runs a command, is
refused before it is looked up, so nothing in the file is executed.

``safe_load_pickle`` reads a plain ``pickle.dump`` file (e.g. Pointcept's nuScenes info ``.pkl``)
under the same rule with a restricted ``pickle.Unpickler``: its ``find_class``, through which every
global of a pickle is resolved, admits the numpy globals above (plus ``numpy``'s protocol-5
``_frombuffer``), ``collections.OrderedDict``, ``set``/``frozenset``/``bytearray`` and
``_codecs.encode`` (protocol-2 bytes), and refuses everything else.
"""

import _compat_pickle
import os
import pickle
import zipfile

import torch

__all__ = ["UnsafeCheckpointError", "numpy_safe_globals", "safe_load", "safe_load_pickle"]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The file references a global that the restricted unpickler does not admit."""


def numpy_safe_globals() -> list:
    """``(object, "module.name")`` pairs for rebuilding numpy arrays, scalars and dtypes.

    Empty when numpy is not installed (then no numpy object can be in an admissible file).
    """
    try:
        import numpy as np
    except ImportError:
        return []
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    pairs = []
    for name in ("_reconstruct", "scalar"):
        obj = getattr(multiarray, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            pairs.append((obj, f"{module}.{name}"))
    pairs += [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: one class per dtype
    if dtypes is not None:
        for name in dir(dtypes):
            cls = getattr(dtypes, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                pairs.append((cls, f"numpy.dtypes.{name}"))
    return pairs


def safe_load(path: str, map_location="cpu"):
    """Load ``path`` (a ``torch.save`` file) admitting only tensors, numpy data and plain containers.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file references any other global (its name is in the message).
        ValueError: the file is not a readable torch checkpoint (truncated, corrupted, not torch).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()
        detail = next(
            (line for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else ""
        )
        raise UnsafeCheckpointError(
            f"refused to load {path}: it references objects other than tensors, numpy data and plain "
            f"containers, which would run code when unpickled ({detail.strip()})"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {path} as a torch checkpoint: {e}") from e


def _pickle_safe_globals() -> dict[tuple[str, str], object]:
    """``{(module, name): object}`` that ``safe_load_pickle`` may resolve."""
    import codecs
    import collections

    admitted = {tuple(name.rsplit(".", 1)): obj for obj, name in numpy_safe_globals()}
    try:
        import numpy as np

        frombuffer = getattr(np, "_core", np.core).numeric._frombuffer
        for module in ("numpy.core.numeric", "numpy._core.numeric"):
            admitted[(module, "_frombuffer")] = frombuffer
    except (ImportError, AttributeError):
        pass
    admitted[("collections", "OrderedDict")] = collections.OrderedDict
    admitted[("_codecs", "encode")] = codecs.encode
    for obj in (set, frozenset, bytearray):
        admitted[("builtins", obj.__name__)] = obj
    return admitted


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self.path = path
        self.admitted = _pickle_safe_globals()

    def find_class(self, module: str, name: str):
        # Protocol < 3 files name Python 2 modules (``__builtin__.set``); map them as pickle does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = self.admitted.get((module, name))
        if obj is None:
            raise UnsafeCheckpointError(
                f"refused to load {self.path}: it references the global {module}.{name}; only numpy "
                "data and plain containers are admitted, anything else could run code when unpickled"
            )
        return obj

    def persistent_load(self, pid):
        raise UnsafeCheckpointError(f"refused to load {self.path}: it uses persistent ids ({pid!r})")


def safe_load_pickle(path: str):
    """Load a plain pickle file admitting only numpy data and plain containers (module doc).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file references any other global (named in the message).
        ValueError: the file is not a readable pickle (truncated, corrupted, not a pickle).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pickle file not found: {path}")
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as e:
            raise ValueError(f"cannot read {path} as a pickle file: {type(e).__name__}: {e}") from e
