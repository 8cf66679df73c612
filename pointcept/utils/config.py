"""Python config files with ``_base_`` inheritance and ``key=value`` overrides.

A config is a Python file whose top-level names (not starting with ``_``, except ``_base_``) form
the config. ``_base_`` is a path or list of paths relative to the file; bases are merged in order,
then the file's own values are deep-merged on top (dicts merge key by key; ``_delete_=True`` inside
a dict replaces instead of merging; a list replaces the base's list). Derived values can be computed
in plain Python inside a file; helper variables whose names start with ``_`` are not config keys.

Patching a base's list of typed dicts (hooks, transforms) without retyping it:
``hooks = dict(_by_type_=[dict(type="DOSScheduleHook", mask_size=0.4)])`` deep-merges each given
dict into the one element of the base's list with the same ``type`` (``_remove_=True`` drops that
element instead). The base must define the list, and the type must occur in it exactly once;
otherwise loading fails naming the types the list has.

Strict loading (the default of :func:`load_config`, so every CLI gets it):

* a top-level key must be one of :func:`known_keys` (the keys of
  ``configs/_base_/default_runtime.py``), in every file of the ``_base_`` chain and in the options;
  a Pointcept key spelled differently here is refused with what to set instead
  (:data:`pointcept.utils.config_keys.POINTCEPT_KEYS`); otherwise the closest known names are given;
* an option may only replace a nested key that exists in the merged config
  (``model.alpha=0.5``); ``+model.new_key=1`` adds one (creating missing dicts on the way, and
  turning a None value into a dict). A top-level key is never added this way: it must be known.
  Nested keys written in config files are not checked here; the builders check them against the
  constructor they configure.
"""

import ast
import copy
import functools
import os
import runpy
from typing import Any

from .config_keys import AMP_DTYPE_SPELLINGS, POINTCEPT_KEYS, closest, did_you_mean
from .errors import MissingFileError
from .registry import ConfigError

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
BY_TYPE_KEY = "_by_type_"  # a dict holding patches for a base's list, matched by "type"
REMOVE_KEY = "_remove_"  # in a _by_type_ patch: drop the matched element
ADD_PREFIX = "+"  # an option "+a.b=v" may create a.b (see the module doc)
DEFAULT_RUNTIME = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "configs",
    "_base_",
    "default_runtime.py",
)


class Config(dict):
    """A dict with attribute access (``cfg.model.type``); nested dicts become ``Config`` when stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __deepcopy__(self, memo: dict) -> "Config":
        return Config({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self) -> dict:
        return _unwrap(self)

    def pretty_text(self) -> str:
        """Python source that reloads to the same config."""
        lines = [f"{k} = {_format(v)}" for k, v in self.items()]
        return "\n".join(lines) + "\n"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, Config):
        return Config({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    return value


def _format(value: Any, indent: int = 0) -> str:
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "dict()"
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [f"{pad}{k}={_format(v, indent + 4)}," for k, v in value.items()]
            return "dict(\n" + "\n".join(items) + "\n" + " " * indent + ")"
        items = [f"{pad}{k!r}: {_format(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "\n".join(f"{pad}{_format(v, indent + 4)}," for v in value) + "\n" + " " * indent + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_format(v, indent) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base`` (``_delete_`` and ``_by_type_``: module doc)."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if _is_list_patch(v) and isinstance(out.get(k), list):
            if set(v) != {BY_TYPE_KEY}:
                raise ConfigError(f"'{k}': a {BY_TYPE_KEY} patch may hold nothing else, got keys {sorted(v)}")
            out[k] = _patch_list(out[k], v[BY_TYPE_KEY], k)
        elif isinstance(v, dict) and v.get(DELETE_KEY, False):
            out[k] = {kk: vv for kk, vv in v.items() if kk != DELETE_KEY}
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _is_list_patch(value: Any) -> bool:
    return isinstance(value, dict) and BY_TYPE_KEY in value


def _patch_list(items: list, patches: Any, key: str) -> list:
    """``items`` with each patch merged into (or, with ``_remove_``, removed from) its typed element."""
    if not isinstance(patches, (list, tuple)):
        raise ConfigError(f"'{key}': {BY_TYPE_KEY} must be a list of dicts with a 'type' each")
    out = list(items)
    for patch in patches:
        if not (isinstance(patch, dict) and "type" in patch):
            raise ConfigError(f"'{key}': each {BY_TYPE_KEY} entry needs a 'type', got {patch!r}")
        where = [
            i for i, item in enumerate(out) if isinstance(item, dict) and item.get("type") == patch["type"]
        ]
        if len(where) != 1:
            types = [item.get("type") for item in out if isinstance(item, dict)]
            count = "no element" if not where else f"{len(where)} elements"
            raise ConfigError(
                f"'{key}': {BY_TYPE_KEY} patches type {patch['type']!r}, but the base's list has {count} "
                f"of that type (its types: {types}); write the whole list instead"
            )
        i = where[0]
        if patch.get(REMOVE_KEY, False):
            del out[i]
        else:
            out[i] = merge(out[i], {kk: vv for kk, vv in patch.items() if kk != REMOVE_KEY})
    return out


def _leftover_patches(value: Any, where: str = "") -> list[str]:
    """Keys whose value is still a ``_by_type_`` patch after merging (no base list to patch)."""
    if _is_list_patch(value):
        return [where]
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in _leftover_patches(v, f"{where}.{k}" if where else str(k))
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leftover_patches(v, f"{where}.{i}")]
    return []


def _read_file(path: str, _stack: tuple = (), strict: bool = False) -> dict:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"config file not found: {path}")
    if path in _stack:
        raise ConfigError(f"circular _base_ inheritance: {' -> '.join(_stack + (path,))}")
    try:
        namespace = runpy.run_path(path)
    except Exception as e:
        raise ConfigError(f"failed to execute config {path}: {type(e).__name__}: {e}") from e
    own = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("__") and (not k.startswith("_") or k == BASE_KEY) and not _is_module_or_func(v)
    }
    bases = own.pop(BASE_KEY, [])
    if strict:
        check_keys(own, _display(path))
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        base_path = os.path.join(os.path.dirname(path), base)
        merged = merge(merged, _read_file(base_path, _stack + (path,), strict))
    return merge(merged, own)


def _display(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


@functools.lru_cache(maxsize=1)
def known_keys() -> frozenset[str] | None:
    """The top-level keys a config may have: those defined in ``configs/_base_/default_runtime.py``.

    None when the package runs without its ``configs/`` folder; top-level keys are then not
    checked (Pointcept keys still are).
    """
    if not os.path.isfile(DEFAULT_RUNTIME):
        return None
    return frozenset(_read_file(DEFAULT_RUNTIME))


def check_keys(cfg: dict, where: str) -> None:
    """Raise ConfigError for a top-level key of ``cfg`` (the keys one config file defines, named
    ``where`` in the message) that is not known, or for a Pointcept key (nested ones included)."""
    for key in cfg:
        _check_top_key(key, where, in_file=True)
    for dotted, message in POINTCEPT_KEYS.items():
        *parents, last = dotted.split(".")
        node: Any = cfg
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if parents and isinstance(node, dict) and last in node:
            raise ConfigError(f"config key '{dotted}' in {where} {message}")


def _check_top_key(key: str, where: str, in_file: bool) -> None:
    known = known_keys()
    if known is not None and key in known:
        return
    if key in POINTCEPT_KEYS:
        raise ConfigError(f"config key '{key}' in {where} {POINTCEPT_KEYS[key]}")
    if known is None:
        return
    matches = closest(key, known)
    message = f"unknown config key '{key}' in {where}" + did_you_mean(matches)
    if not matches:
        message += "; the known keys are those of configs/_base_/default_runtime.py"
    if in_file:
        message += " (a helper variable's name must start with '_')"
    raise ConfigError(message)


def _check_values(cfg: dict) -> None:
    amp = cfg.get("amp_dtype")
    if isinstance(amp, str) and amp in AMP_DTYPE_SPELLINGS:
        raise ConfigError(
            f"amp_dtype={amp!r} is Pointcept's spelling; set amp_dtype={AMP_DTYPE_SPELLINGS[amp]!r} "
            "(autocast is on whenever amp_dtype is not None)"
        )


def _is_module_or_func(v: Any) -> bool:
    import types

    return isinstance(v, (types.ModuleType, types.FunctionType, type))


def load_config(path: str, options: dict | list[str] | None = None, strict: bool = True) -> Config:
    """Read a config file (resolving ``_base_``) and apply overrides.

    ``options`` is a dict ``{"a.b": value}`` or a list of ``"a.b=value"`` strings. ``strict``
    checks the keys of every file and option (see the module doc); ``strict=False`` accepts any
    key and lets options create keys.
    """
    cfg = Config(_read_file(path, strict=strict))
    leftover = _leftover_patches(cfg.to_dict())
    if leftover:
        raise ConfigError(
            f"{_display(os.path.abspath(path))}: {BY_TYPE_KEY} at {', '.join(leftover)} patches a list that "
            "no base config defines (put the base with the list first in _base_)"
        )
    if options:
        apply_options(cfg, parse_options(options) if isinstance(options, list) else options, strict)
    if strict:
        _check_values(cfg)
    return cfg


def config_entry(path: str, key: str) -> Any:
    """The value at dotted ``key`` (e.g. ``"data.train"``) of the config file ``path``, resolved
    with its ``_base_`` chain, as plain dicts and lists.

    Lets a config reuse one entry of another config without inheriting the rest of it:
    ``configs/multi/`` takes each dataset's ``data.train`` from that dataset's pretraining config.
    """
    node: Any = load_config(path).to_dict()
    for i, part in enumerate(key.split(".")):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{path} has no config key '{'.'.join(key.split('.')[: i + 1])}'")
        node = node[part]
    return node


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"(1,2)"`` -> (1, 2), ``"true"`` -> True, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_options(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"option '{item}' must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


def apply_options(cfg: dict, options: dict, strict: bool = False) -> None:
    """Set dotted keys; list elements are addressed by integer (``hooks.0.type=X``).

    An option replacing a number or a bool must have a compatible type (see :func:`check_type`),
    so ``max_steps=abc`` fails here naming the key instead of deep inside the trainer. A leading
    ``+`` marks a key that may be created. Not ``strict``: any key may be created. ``strict``: the
    top-level key must be known (:func:`check_keys`) and a nested key must exist unless marked.
    """
    for dotted, value in options.items():
        add = dotted.startswith(ADD_PREFIX)
        key = dotted[len(ADD_PREFIX) :] if add else dotted
        create = add or not strict
        parts = key.split(".")
        if strict:
            _check_top_key(parts[0], "--options", in_file=False)
            if key in POINTCEPT_KEYS:
                raise ConfigError(f"config key '{key}' in --options {POINTCEPT_KEYS[key]}")
        node: Any = cfg
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, parts, i, create, fill_none=add)
        last = parts[-1]
        if isinstance(node, list):
            idx = _list_index(node, last, key)
            node[idx] = _wrap(check_type(key, node[idx], value))
        elif isinstance(node, dict) and last in node:
            node[last] = check_type(key, node[last], value)
        elif isinstance(node, dict) and (create or len(parts) == 1):
            node[last] = value
        elif isinstance(node, dict):
            raise _unknown_nested(node, parts, len(parts) - 1)
        else:
            raise _not_a_dict(node, parts, len(parts) - 1)


def check_type(key: str, current: Any, value: Any) -> Any:
    """``value`` for ``key`` whose config value is ``current``.

    Raises ConfigError naming the key and the expected type if a bool would be replaced by a
    non-bool, or a number by a non-number (a string such as ``abc``, or a bool). Numbers stay
    interchangeable (``mix_prob=0`` may become ``0.3``); where an integer is required the use site
    checks it with :func:`config_int`. None is always allowed: it means "unset".
    """
    if value is None or type(current) not in (bool, int, float):
        return value
    if type(current) is bool:
        if type(value) is not bool:
            raise ConfigError(
                f"option {key}={value!r}: expected a bool (true or false), the config has {current!r}"
            )
        return value
    if type(value) not in (int, float):
        raise ConfigError(f"option {key}={value!r}: expected a number, the config has {current!r}")
    return float(value) if type(current) is float else value


def config_int(cfg: dict, key: str, default: Any = None, minimum: int | None = None) -> int | None:
    """``cfg[key]`` as an int; ``default`` if missing or None. Raises ConfigError naming the key for
    a non-integer (``batch_size=1.7``, ``max_steps="abc"``, a bool) or a value below ``minimum``."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {value}")
    return value


def _child(node: Any, part: str, parts: list[str], i: int, create: bool, fill_none: bool) -> Any:
    """``node[part]``, the ``i``-th step of the option path ``parts``; ``create`` adds a missing
    dict, ``fill_none`` replaces a None value by one."""
    path = ".".join(parts[: i + 1])
    if isinstance(node, list):
        return node[_list_index(node, part, path)]
    if isinstance(node, dict):
        if part not in node or (node[part] is None and fill_none):
            if not create:
                raise _unknown_nested(node, parts, i)
            node[part] = Config()
        return node[part]
    raise _not_a_dict(node, parts, i)


def _not_a_dict(node: Any, parts: list[str], i: int) -> ConfigError:
    """The error for an option path ``parts`` whose ``i``-th parent ``node`` is not a container."""
    path, parent = ".".join(parts[: i + 1]), ".".join(parts[:i])
    if node is None:
        return ConfigError(
            f"cannot set '{path}': {parent} is None in this config; set it whole ({parent}=...) "
            f"or create it with {ADD_PREFIX}{'.'.join(parts)}=..."
        )
    return ConfigError(f"cannot set '{path}': parent is a {type(node).__name__}, not a dict")


def _unknown_nested(node: dict, parts: list[str], i: int) -> ConfigError:
    """The error for an option path ``parts`` whose ``i``-th key is missing from ``node``."""
    parent, missing = ".".join(parts[:i]), ".".join(parts[: i + 1])
    add = f"add it with {ADD_PREFIX}{'.'.join(parts)}=..."
    if not parent:  # a known top-level key this config does not set
        return ConfigError(f"config key '{missing}' is not set in this config; set it whole, or {add}")
    siblings = [str(k) for k in node]
    matches = [f"{parent}.{m}" for m in closest(parts[i], siblings)]
    message = f"unknown config key '{missing}' in --options" + did_you_mean(matches)
    if not matches:
        shown = ", ".join(sorted(siblings)[:12]) + (", ..." if len(siblings) > 12 else "")
        message += f"; {parent} has: {shown or '(no keys)'}"
    return ConfigError(f"{message} ({add})")


def _list_index(node: list, part: str, path: str) -> int:
    try:
        idx = int(part)
    except ValueError:
        raise ConfigError(f"'{path}' indexes a list; use an integer") from None
    if not -len(node) <= idx < len(node):
        raise ConfigError(f"'{path}': index {idx} out of range for a list of {len(node)}")
    return idx
