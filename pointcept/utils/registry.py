"""A registry maps class names to classes so that configs can build objects by ``type``.

Config ``type`` strings are class names; register with a bare ``@REGISTRY.register_module()``.
"""

import inspect
from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """A config asks for something that cannot be built; the message names the key."""


class Registry:
    def __init__(self, name: str):
        self.name = name
        self._modules: dict[str, Callable] = {}

    def __repr__(self) -> str:
        return f"Registry(name={self.name}, items={sorted(self._modules)})"

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def get(self, key: str) -> Callable | None:
        return self._modules.get(key)

    def names(self) -> list[str]:
        return sorted(self._modules)

    def register_module(self, name: str | None = None, force: bool = False) -> Callable:
        def _register(obj: Callable) -> Callable:
            key = name or obj.__name__
            if key in self._modules and not force:
                raise KeyError(f"{key} is already registered in registry '{self.name}'")
            self._modules[key] = obj
            return obj

        return _register

    def build(self, cfg: dict | None, **default_args: Any) -> Any:
        return build_from_cfg(cfg, self, **default_args)


def build_from_cfg(cfg: dict | None, registry: Registry, where: str = "", **default_args: Any) -> Any:
    """Build ``registry[cfg['type']](**rest, **default_args)``.

    Errors are ``ConfigError`` naming the registry, the type and the offending key; ``where`` (e.g.
    ``"model.backbone"``) is prefixed to the message so the user knows which config entry is wrong.
    """
    prefix = f"{where}: " if where else ""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{prefix}expected a dict with a 'type' key, got {type(cfg).__name__}")
    if "type" not in cfg:
        raise ConfigError(f"{prefix}missing required key 'type' (registry '{registry.name}')")
    args = {k: v for k, v in cfg.items() if k != "type"}
    for k, v in default_args.items():
        args.setdefault(k, v)
    obj_type = cfg["type"]
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            raise ConfigError(
                f"{prefix}type '{obj_type}' is not in registry '{registry.name}'; "
                f"known types: {', '.join(registry.names()) or '(none)'}"
            )
    elif callable(obj_type):
        obj_cls = obj_type
    else:
        raise ConfigError(f"{prefix}'type' must be a string or a class, got {type(obj_type).__name__}")
    _check_signature(obj_cls, args, prefix)
    try:
        return obj_cls(**args)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix}{getattr(obj_cls, '__name__', obj_cls)}: {e}") from e


def _check_signature(obj_cls: Callable, args: dict, prefix: str) -> None:
    """Name unexpected and missing constructor arguments before calling the constructor."""
    try:
        sig = inspect.signature(obj_cls)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unexpected = []
    else:
        unexpected = [k for k in args if k not in params]
    missing = [
        n
        for n, p in params.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in args
    ]
    name = getattr(obj_cls, "__name__", str(obj_cls))
    if unexpected:
        raise ConfigError(
            f"{prefix}{name} got unexpected config key(s) {unexpected}; accepted: {[n for n in params]}"
        )
    if missing:
        raise ConfigError(f"{prefix}{name} is missing required config key(s) {missing}")
