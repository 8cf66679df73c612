"""Checkpoint I/O: atomic writes, safe loads, and weight loading with prefix key maps.

A checkpoint is a dict of tensors and plain python values (dict, list, tuple, str, int, float,
bool, None), so it loads with ``torch.load(..., weights_only=True)`` and an untrusted file cannot
run code.
"""

import errno
import logging
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Mapping

import torch

from pointcept.utils.errors import DiskFullError, MissingFileError, SaveError, UserError

logger = logging.getLogger("pointcept")

_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.Size, torch.dtype, torch.device)


class CheckpointError(UserError, ValueError):
    """A checkpoint file is corrupted, truncated, not a checkpoint, refused by the safe loader, or
    does not fit the model / the run it is loaded into."""


# First bytes of the two formats torch.save writes: a zip archive, or the legacy pickle stream.
_MAGIC = (b"PK\x03\x04", b"\x80")


def _os_error(exc: BaseException | None) -> OSError | None:
    """``exc`` or the first exception it was raised from that is an OSError (torch's zip writer
    turns a failed ``write`` into ``RuntimeError: unexpected pos``, chained to the OSError)."""
    while exc is not None:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _disk_full(exc: BaseException | None) -> bool:
    """True if ``exc`` or an exception it was raised from is ENOSPC/EDQUOT."""
    os_error = _os_error(exc)
    return os_error is not None and os_error.errno in (errno.ENOSPC, errno.EDQUOT)


def _check_plain(value, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint key {where}[{k!r}] must be a str or int, got {type(k).__name__}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"checkpoint entry {where} is a {type(value).__name__}; only tensors and plain python types "
        "can be saved (the file must load with torch.load(weights_only=True))"
    )


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomically(path: str, write, unchanged_note: str) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file of the same directory, fsync it,
    then ``os.replace`` it over ``path`` and fsync the directory: a crash at any moment leaves either
    the previous file or the new one. A full disk raises :class:`DiskFullError` naming ``path``;
    any other OS error (permission denied, read-only file system) :class:`SaveError` naming it."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if _disk_full(e):
            raise DiskFullError(path, unchanged_note) from e
        os_error = _os_error(e)
        if os_error is not None:
            raise SaveError(path, os_error.strerror or str(os_error), unchanged_note) from e
        raise
    _fsync_dir(directory)


def save_checkpoint(path: str, state: dict) -> None:
    """Write ``state`` to ``path`` atomically.

    The data goes to a temporary file in the same directory, is fsync'ed, then ``os.replace``-d over
    ``path``: a crash at any moment leaves either the previous file or the new one, never a mix.
    A full disk raises :class:`DiskFullError` naming ``path``; the previous file is untouched and
    the temporary file removed.
    """
    _check_plain(state, "state")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_atomically(path, lambda f: torch.save(state, f), "the previous checkpoint there is unchanged")


def copy_checkpoint(src: str, dst: str) -> None:
    """Atomically copy a checkpoint file (e.g. ``model_last.pth`` -> ``model_best.pth``)."""
    with open(src, "rb") as g:
        _write_atomically(dst, lambda f: shutil.copyfileobj(g, f), "the previous file there is unchanged")


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``.

    Raises ``FileNotFoundError`` (:class:`MissingFileError`) if ``path`` does not exist and
    :class:`CheckpointError` naming the file if it is not a torch.save file (e.g. a text file),
    is truncated/corrupted, contains objects other than tensors and plain types (e.g. a pickle
    that would run code), or is not a dict.
    """
    if not os.path.isfile(path):
        raise MissingFileError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(_MAGIC):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (it starts with {head!r}, not a zip archive or pickle)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refused to load {path}: it contains objects other than tensors and plain python types, "
            f"which the safe loader does not execute ({str(e).splitlines()[0]})"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: corrupted or truncated ({e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def extract_state_dict(ckpt: dict) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint: ``ckpt["model"]`` for ours, else the dict itself.

    A ``module.`` prefix left by DistributedDataParallel is removed.
    """
    state = ckpt["model"] if isinstance(ckpt.get("model"), dict) else ckpt
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def apply_key_map(state_dict: Mapping[str, torch.Tensor], key_map: Mapping[str, str]) -> dict:
    """Rename keys by prefix: ``{"teacher.backbone.": "backbone."}``; keys matching no prefix are dropped.

    The longest matching prefix wins, so ``{"a.": "x.", "a.b.": "y."}`` sends ``a.b.w`` to ``y.w``.
    """
    prefixes = sorted(key_map, key=len, reverse=True)
    out = {}
    for key, value in state_dict.items():
        for src in prefixes:
            if key.startswith(src):
                out[key_map[src] + key[len(src) :]] = value
                break
    return out


def load_weights(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    key_map: Mapping[str, str] | None = None,
    strict: bool = True,
) -> tuple[list[str], list[str]]:
    """Load ``state_dict`` into ``model``, optionally renaming keys by prefix first.

    Strictness: without ``key_map`` every model key must be present and every checkpoint key must
    exist in the model. With ``key_map`` the check covers the mapped namespace: every mapped key must
    exist in the model, and every model key under a target prefix must be provided (the rest of the
    model, e.g. a new head, keeps its initialisation). Shape mismatches are always errors.

    Returns ``(missing, unexpected)`` keys; both are logged.
    """
    if key_map:
        state_dict = apply_key_map(state_dict, key_map)
        if not state_dict:
            raise CheckpointError(f"key_map {dict(key_map)} matched no checkpoint key")
    model_state = model.state_dict()
    unexpected = sorted(k for k in state_dict if k not in model_state)
    if key_map:
        targets = tuple(key_map.values())
        missing = sorted(k for k in model_state if k.startswith(targets) and k not in state_dict)
    else:
        missing = sorted(k for k in model_state if k not in state_dict)
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}"
        for k, v in state_dict.items()
        if k in model_state and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    if mismatched:
        raise CheckpointError("shape mismatch when loading weights: " + "; ".join(mismatched))
    if missing:
        logger.warning(f"missing keys ({len(missing)}): {missing}")
    if unexpected:
        logger.warning(f"unexpected keys ({len(unexpected)}): {unexpected}")
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"strict weight loading failed: {len(missing)} missing key(s) {missing[:10]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:10]}; pass a key_map for partial loads"
        )
    loadable = {k: v for k, v in state_dict.items() if k in model_state}
    model.load_state_dict(loadable, strict=False)
    logger.info(f"loaded {len(loadable)} of {len(model_state)} model tensors")
    return missing, unexpected
