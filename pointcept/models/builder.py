"""Model registry: config ``type`` strings are class names registered with ``@MODELS.register_module()``."""

import copy

from pointcept.utils.registry import Registry, build_from_cfg

MODELS = Registry("models")
LOSSES = Registry("losses")


def build_model(cfg: dict):
    """Build a model from ``cfg`` (a dict with ``type``); the cfg is deep-copied, never mutated."""
    return build_from_cfg(copy.deepcopy(cfg), MODELS, where="model")


def build_loss(cfg: dict):
    """Build one criterion from ``cfg`` (a dict with ``type``) registered in ``LOSSES``."""
    return build_from_cfg(copy.deepcopy(cfg), LOSSES, where="criteria")
