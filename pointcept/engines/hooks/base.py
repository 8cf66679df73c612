"""Hook base class and the ``HOOKS`` registry."""

from pointcept.utils.registry import Registry, build_from_cfg

HOOKS = Registry("hooks")


class HookBase:
    """Six no-op events; the trainer calls them on every hook in list order.

    ``self.trainer`` is a ``weakref.proxy`` of the trainer, set by :func:`build_hooks`.
    """

    trainer = None

    def before_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def after_train(self) -> None:
        pass


def build_hooks(cfgs: list[dict], trainer) -> list[HookBase]:
    """Build each hook config from ``HOOKS`` and attach ``trainer`` (a weak proxy)."""
    hooks = []
    for i, cfg in enumerate(cfgs):
        hook = build_from_cfg(cfg, HOOKS, where=f"hooks[{i}]")
        if not isinstance(hook, HookBase):
            raise TypeError(f"hooks[{i}]: {type(hook).__name__} does not derive from HookBase")
        hook.trainer = trainer
        hooks.append(hook)
    return hooks
