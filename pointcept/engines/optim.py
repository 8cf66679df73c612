"""Optimizer builder: per-block learning rates, layer-wise lr decay and weight-decay exemptions.

Config keys (see ``configs/_base_/default_runtime.py``):

* ``optimizer = dict(type="AdamW", lr=..., weight_decay=...)``: a class in ``OPTIMIZERS``.
* ``param_dicts = [dict(keyword="block", lr=...), ...]``: a parameter whose name contains a
  ``keyword`` (first match wins) gets that entry's ``lr`` / ``weight_decay``.
* ``layer_decay = dict(rate=0.75, layer_id=dict(type="EncoderLayerId", prefix="student.backbone"))``:
  the lr of a parameter in layer ``i`` of ``L`` is multiplied by ``rate ** (L - 1 - i)``. A
  ``LAYER_ID`` entry is built with the model (``cls(**cfg, model=model)``), maps a parameter name to
  its layer and has ``num_layers``: ``EncoderLayerId`` reads the layers of a PTv3 encoder from the
  built model, ``PrefixLayerId`` takes an explicit list of name prefixes.
* ``no_decay_keywords``: names containing any of these get ``weight_decay=0``, as do all
  parameters with fewer than 2 dims (biases, norm scales).

Each param group carries ``name`` (a readable description) and ``lr_scale`` (the layer-decay factor
already folded into its ``lr``).
"""

import logging

import torch

from pointcept.utils.registry import Registry, build_from_cfg

OPTIMIZERS = Registry("optimizers")
LAYER_ID = Registry("layer_id")
logger = logging.getLogger("pointcept")

for _cls in (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD):
    OPTIMIZERS.register_module()(_cls)


@LAYER_ID.register_module()
class PrefixLayerId:
    """Layer id from an ordered list of name prefixes, shallowest first.

    A parameter whose name starts with ``prefixes[i]`` is in layer ``i`` (the longest matching
    prefix wins); one matching none (heads) is in the top layer ``len(prefixes)``. With ``model``
    given, every prefix must name at least one of its parameters, so that a stale prefix (a block
    that no longer exists) is an error rather than a silently shifted decay.
    """

    def __init__(self, prefixes: list[str], model: torch.nn.Module | None = None):
        if not prefixes:
            raise ValueError(f"{type(self).__name__}: prefixes must be a non-empty list")
        self.prefixes = list(prefixes)
        self.num_layers = len(self.prefixes) + 1
        if model is not None:
            names = [n for n, _ in model.named_parameters()]
            stale = [p for p in self.prefixes if not any(n.startswith(p) for n in names)]
            if stale:
                raise ValueError(f"{type(self).__name__}: prefixes {stale} match no parameter of the model")

    def __call__(self, name: str) -> int:
        best, best_len = self.num_layers - 1, -1
        for i, prefix in enumerate(self.prefixes):
            if name.startswith(prefix) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
        return best


@LAYER_ID.register_module()
class EncoderLayerId(PrefixLayerId):
    """Layers of the PTv3 encoder at ``prefix`` in ``model``, read from the built modules.

    Shallowest first: ``{prefix}.embedding``, then per stage ``s`` its grid pooling
    ``{prefix}.enc.{s}.down`` (stages after the first) and each block ``{prefix}.enc.{s}.blocks.{b}``.
    Everything else (heads, decoder, mask token) is the top layer. The layers follow the model's
    own ``enc_depths``, so a config that changes the depths cannot diverge from its decay.
    """

    def __init__(self, prefix: str, model: torch.nn.Module):
        try:
            encoder = model.get_submodule(prefix)
        except AttributeError as e:
            raise ValueError(f"EncoderLayerId: the model has no module {prefix!r}") from e
        if not (
            hasattr(encoder, "embedding") and isinstance(getattr(encoder, "enc", None), torch.nn.ModuleList)
        ):
            raise ValueError(
                f"EncoderLayerId: {prefix!r} is a {type(encoder).__name__}, not a PTv3-style encoder "
                "with `embedding` and an `enc` ModuleList of stages"
            )
        prefixes = [f"{prefix}.embedding"]
        for s, stage in enumerate(encoder.enc):
            if getattr(stage, "down", None) is not None:
                prefixes.append(f"{prefix}.enc.{s}.down")
            prefixes += [f"{prefix}.enc.{s}.blocks.{b}" for b in range(len(stage.blocks))]
        super().__init__(prefixes, model)


def build_optimizer(
    cfg: dict,
    model: torch.nn.Module,
    param_dicts: list[dict] | None = None,
    layer_decay: dict | None = None,
    no_decay_keywords: tuple[str, ...] = (),
) -> torch.optim.Optimizer:
    """Group the trainable parameters of ``model`` and build ``cfg`` (an ``OPTIMIZERS`` entry)."""
    cfg = dict(cfg)
    if "lr" not in cfg:
        raise ValueError("optimizer: missing required key 'lr'")
    base_lr = cfg["lr"]
    base_wd = cfg.get("weight_decay", 0.0)
    param_dicts = [dict(d) for d in (param_dicts or [])]
    for i, d in enumerate(param_dicts):
        if "keyword" not in d:
            raise ValueError(f"param_dicts[{i}]: missing required key 'keyword'")
    layer_fn, rate = None, 1.0
    if layer_decay:
        layer_decay = dict(layer_decay)
        rate = float(layer_decay.get("rate", 1.0))
        layer_fn = build_from_cfg(
            layer_decay.get("layer_id"), LAYER_ID, where="layer_decay.layer_id", model=model
        )
        if layer_fn is None:
            raise ValueError("layer_decay: missing required key 'layer_id'")

    groups: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        which = next((i for i, d in enumerate(param_dicts) if d["keyword"] in name), -1)
        entry = param_dicts[which] if which >= 0 else {}
        lr = entry.get("lr", base_lr)
        wd = entry.get("weight_decay", base_wd)
        no_decay = param.ndim <= 1 or any(k in name for k in no_decay_keywords)
        if no_decay:
            wd = 0.0
        layer, scale = 0, 1.0
        if layer_fn is not None:
            layer = layer_fn(name)
            scale = rate ** (layer_fn.num_layers - 1 - layer)
        key = (which, no_decay, layer)
        if key not in groups:
            label = f"{entry['keyword'] if which >= 0 else 'default'}/{'no_decay' if no_decay else 'decay'}"
            if layer_fn is not None:
                label += f"/layer{layer}"
            groups[key] = dict(params=[], lr=lr * scale, weight_decay=wd, lr_scale=scale, name=label)
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    param_groups = [groups[k] for k in sorted(groups)]
    for g in param_groups:
        logger.info(
            f"param group {g['name']}: {len(g['params'])} tensors, lr={g['lr']:.3g}, wd={g['weight_decay']}"
        )
    return build_from_cfg(cfg, OPTIMIZERS, where="optimizer", params=param_groups)
