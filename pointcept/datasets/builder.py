"""Registries for datasets and transforms, and the dataset builder used by the engine."""

import copy

from pointcept.utils.registry import Registry, build_from_cfg

DATASETS = Registry("datasets")
TRANSFORMS = Registry("transforms")


def build_dataset(cfg: dict, where: str = "data"):
    """Build ``DATASETS[cfg['type']](**rest)``; ``where`` names the config entry in error messages.

    The config is deep-copied first so that building never mutates the caller's config (nested
    transform lists are consumed by ``Compose``).
    """
    return build_from_cfg(copy.deepcopy(cfg), DATASETS, where=where)
