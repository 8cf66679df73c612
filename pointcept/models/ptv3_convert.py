"""Weight and architecture conversion between this PTv3 and the two official implementations.

Formats:

* ``"sonata"``: facebookresearch/sonata ``PointTransformerV3`` (= Pointcept PT-v3m2); released
  checkpoints are ``{"config": constructor kwargs, "state_dict": ...}``.
* ``"pointcept"``: Pointcept PT-v3m1 (= Pointcept/PointTransformerV3 ``model.py``); checkpoints are
  ``{"state_dict": {"module.backbone.*", "module.seg_head.*", ...}, "epoch", ...}`` without the
  model config, so the architecture comes from the user (``arch``) where the weights cannot tell.

Both official models use the same module names except for the stem; ``KEY_TEMPLATES`` pairs
official and our key templates, from which ``OFFICIAL_TO_OURS`` and ``OURS_TO_OFFICIAL`` rename
one key at a time. Each format also fixes the options of our model that reproduce it exactly
(``FORMAT_OPTIONS``); with them the converted weights give the official outputs to float rounding
(tests/test_convert_weights.py). Conversion is strict: every key must map, and the converted dict
must have exactly the keys and shapes of the model built from the architecture.
"""

import re

import torch

from .point_transformer_v3 import PointTransformerV3

FORMATS = ("sonata", "pointcept")

# What each ``{field}`` of a key template stands for.
_FIELDS = dict(
    part=r"enc|dec",
    stage=r"\d+",
    block=r"\d+",
    wb=r"weight|bias",
    name=r"\w+",
    proj=r"proj|proj_skip",
    index=r"[01]",
    norm=r"norm1|norm2",
    linear=r"qkv|proj",
)
# (official, ours) templates of the keys without any module/backbone prefix. Both directions are
# generated from this one table (a field stands for the same text on both sides); first match wins.
_BLOCK_OFFICIAL, _BLOCK_OURS = "{part}.{part}{stage}.block{block}", "{part}.{stage}.blocks.{block}"
KEY_TEMPLATES = (
    ("embedding.stem.linear.{wb}", "embedding.proj.{wb}"),
    ("embedding.stem.conv.weight", "embedding.proj.conv.weight"),
    ("embedding.stem.norm.{name}", "embedding.norm.{name}"),
    ("embedding.mask_token", "mask_token"),
    ("enc.enc{stage}.down.proj.{wb}", "enc.{stage}.down.proj.{wb}"),
    ("enc.enc{stage}.down.norm.0.{name}", "enc.{stage}.down.norm.{name}"),
    ("dec.dec{stage}.up.{proj}.{index}.{name}", "dec.{stage}.up.{proj}.{index}.{name}"),
    (_BLOCK_OFFICIAL + ".cpe.0.weight", _BLOCK_OURS + ".cpe.conv.conv.weight"),
    (_BLOCK_OFFICIAL + ".cpe.0.bias", _BLOCK_OURS + ".cpe.conv.bias"),
    (_BLOCK_OFFICIAL + ".cpe.1.{wb}", _BLOCK_OURS + ".cpe.linear.{wb}"),
    (_BLOCK_OFFICIAL + ".cpe.2.{wb}", _BLOCK_OURS + ".cpe.norm.{wb}"),
    (_BLOCK_OFFICIAL + ".{norm}.0.{wb}", _BLOCK_OURS + ".{norm}.{wb}"),
    (_BLOCK_OFFICIAL + ".attn.{linear}.{wb}", _BLOCK_OURS + ".attn.{linear}.{wb}"),
    (_BLOCK_OFFICIAL + ".mlp.0.fc1.{wb}", _BLOCK_OURS + ".mlp.0.{wb}"),
    (_BLOCK_OFFICIAL + ".mlp.0.fc2.{wb}", _BLOCK_OURS + ".mlp.2.{wb}"),
)


def _key_pattern(template: str) -> re.Pattern:
    """The regex of a key template: a field's first occurrence is a named group, a repeat must match it."""
    parts, seen = [], set()
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2 == 0:
            parts.append(re.escape(piece))
        elif piece in seen:
            parts.append(f"(?P={piece})")
        else:
            seen.add(piece)
            parts.append(f"(?P<{piece}>{_FIELDS[piece]})")
    return re.compile("".join(parts))


# (compiled pattern, ``str.format`` template) per direction.
OFFICIAL_TO_OURS = tuple((_key_pattern(official), ours) for official, ours in KEY_TEMPLATES)
OURS_TO_OFFICIAL = tuple((_key_pattern(ours), official) for official, ours in KEY_TEMPLATES)

# Options of our PTv3 that reproduce each official implementation (see point_transformer_v3).
FORMAT_OPTIONS = {
    "sonata": dict(stem="linear", norm="ln", depth_rule="max_plus_one", pooling="grid", unpool_cpe="sum"),
    "pointcept": dict(
        stem="conv", norm="bn", bn_eps=1e-3, depth_rule="max", pooling="serialized", unpool_cpe="skip"
    ),
}

# Official constructor arguments copied as they are.
_SHARED_ARGS = (
    "in_channels",
    "order",
    "stride",
    "enc_depths",
    "enc_channels",
    "enc_num_head",
    "enc_patch_size",
    "dec_depths",
    "dec_channels",
    "dec_num_head",
    "dec_patch_size",
    "mlp_ratio",
    "qkv_bias",
    "drop_path",
    "shuffle_orders",
)
# Official arguments our model does not have, with the only value it can reproduce.
_FIXED_ARGS = dict(
    qk_scale=None,
    layer_scale=None,
    pre_norm=True,
    enable_rpe=False,
    pdnorm_bn=False,
    pdnorm_ln=False,
)
# Official arguments that do not change the eval-mode function (training, numerics, bookkeeping).
_IGNORED_ARGS = (
    "type",
    "attn_drop",
    "proj_drop",
    "upcast_attention",
    "upcast_softmax",
    "traceable",
    "freeze_encoder",
    "pdnorm_decouple",
    "pdnorm_adaptive",
    "pdnorm_affine",
    "pdnorm_conditions",
)
# Arguments that cannot be read from the weights.
_NOT_IN_WEIGHTS = ("order", "stride", "enc_num_head", "enc_patch_size", "dec_num_head", "dec_patch_size")


class ConversionError(ValueError):
    """The checkpoint does not fit the requested conversion; the message names the key or parameter."""


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConversionError(f"format must be one of {FORMATS}, got {fmt!r}")


def _rename(key: str, table) -> str | None:
    for pattern, template in table:
        match = pattern.fullmatch(key)
        if match:
            return template.format(**match.groupdict())
    return None


def _rename_all(state_dict: dict, table, unknown: str) -> dict:
    """Every key renamed through ``table``; ``unknown.format(key=...)`` is the error of a key it lacks."""
    out = {}
    for key, value in state_dict.items():
        new = _rename(key, table)
        if new is None:
            raise ConversionError(unknown.format(key=repr(key)))
        out[new] = value
    return out


def official_to_ours_keys(state_dict: dict, fmt: str) -> dict:
    """Official backbone keys (no prefix) -> our keys; raises ConversionError naming an unknown key."""
    _check_format(fmt)
    return _rename_all(
        state_dict, OFFICIAL_TO_OURS, f"unknown {fmt} parameter {{key}}: no PTv3 module has this name"
    )


def ours_to_official_keys(state_dict: dict, fmt: str) -> dict:
    """Our backbone keys -> official keys of ``fmt``; raises ConversionError naming an unknown key."""
    _check_format(fmt)
    return _rename_all(
        state_dict, OURS_TO_OFFICIAL, "unknown parameter {key}: not a key of this project's PTv3"
    )


def find_backbone_prefix(keys, prefix: str | None = None) -> str:
    """The prefix in front of the backbone keys, e.g. ``"module.backbone."`` or ``"teacher.backbone."``.

    With ``prefix`` given it is checked; otherwise it is the text before ``embedding.`` (or ``enc.``
    if there is no embedding key), which must be the same for every candidate.
    """
    keys = list(keys)
    if prefix is not None:
        if not any(k.startswith(prefix) for k in keys):
            raise ConversionError(f"no key starts with the prefix {prefix!r}")
        return prefix
    for anchor in ("embedding.", "enc."):
        found = set()
        for key in keys:
            if key.startswith(anchor):
                found.add("")
            elif "." + anchor in key:
                found.add(key[: key.index("." + anchor) + 1])
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            raise ConversionError(
                f"several backbones in the checkpoint {sorted(found)}; choose one with prefix="
            )
    raise ConversionError("no PTv3 backbone keys (embedding.*, enc.*) found in the checkpoint")


def strip_prefix(state_dict: dict, prefix: str) -> tuple[dict, list[str]]:
    """Keys under ``prefix`` with it removed, and the other keys (dropped, e.g. a segmentation head)."""
    kept = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    dropped = sorted(k for k in state_dict if not k.startswith(prefix))
    return kept, dropped


def _stage_count(keys, pattern: str) -> list[int]:
    """Blocks per stage from keys matching ``pattern`` (groups: stage, block)."""
    blocks: dict[int, set] = {}
    for key in keys:
        match = re.match(pattern, key)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    return [len(blocks.get(s, ())) for s in range(max(blocks) + 1)] if blocks else []


def arch_from_weights(state_dict: dict) -> dict:
    """What our state dict tells of the architecture: channels, depths, stem, norm, mask token, mode."""
    keys = list(state_dict)
    arch = {}
    if "embedding.proj.conv.weight" in state_dict:
        w = state_dict["embedding.proj.conv.weight"]
        arch.update(stem="conv", in_channels=int(w.shape[-1]))
    elif "embedding.proj.weight" in state_dict:
        arch.update(stem="linear", in_channels=int(state_dict["embedding.proj.weight"].shape[1]))
    arch["norm"] = "bn" if "embedding.norm.running_mean" in state_dict else "ln"
    arch["mask_token"] = "mask_token" in state_dict
    enc_depths = _stage_count(keys, r"enc\.(\d+)\.blocks\.(\d+)\.")
    num_stages = 1 + max((int(k.split(".")[1]) for k in keys if k.startswith("enc.")), default=-1)
    if num_stages > 0:
        arch["enc_depths"] = enc_depths + [0] * (num_stages - len(enc_depths))
    if "embedding.norm.weight" in state_dict:
        channels = [int(state_dict["embedding.norm.weight"].shape[0])]
        channels += [int(state_dict[f"enc.{s}.down.proj.weight"].shape[0]) for s in range(1, num_stages)]
        arch["enc_channels"] = channels
    dec_depths = _stage_count(keys, r"dec\.(\d+)\.blocks\.(\d+)\.")
    arch["enc_mode"] = not any(k.startswith("dec.") for k in keys)
    if not arch["enc_mode"]:
        num = 1 + max(int(k.split(".")[1]) for k in keys if k.startswith("dec."))
        arch["dec_depths"] = dec_depths + [0] * (num - len(dec_depths))
        arch["dec_channels"] = [int(state_dict[f"dec.{s}.up.proj.0.weight"].shape[0]) for s in range(num)]
    return arch


def arch_from_official_config(config: dict, fmt: str) -> dict:
    """Official constructor kwargs -> ours (with the options that reproduce ``fmt``).

    Raises ConversionError naming an argument our PTv3 cannot reproduce or does not know.
    """
    _check_format(fmt)
    arch = dict(FORMAT_OPTIONS[fmt])
    for key, value in config.items():
        if key in _SHARED_ARGS:
            arch[key] = list(value) if isinstance(value, (list, tuple)) else value
        elif key in _FIXED_ARGS:
            if value != _FIXED_ARGS[key]:
                raise ConversionError(
                    f"{fmt} config {key}={value!r} is not supported (this PTv3 only reproduces {key}={_FIXED_ARGS[key]!r})"
                )
        elif key in ("enc_mode", "cls_mode"):
            arch["enc_mode"] = bool(value)
        elif key == "mask_token":
            arch["mask_token"] = bool(value)
        elif key == "enable_flash":
            # Flash attention shrinks patches per cloud; the fallback to the smallest cloud.
            arch["patch_rule"] = "cloud" if value else "batch_min"
        elif key not in _IGNORED_ARGS:
            raise ConversionError(f"unknown {fmt} config parameter {key!r}")
    if isinstance(arch.get("order"), str):
        arch["order"] = [arch["order"]]
    return arch


def arch_to_official_config(arch: dict, fmt: str) -> tuple[dict, list[str]]:
    """Our PTv3 kwargs -> the official constructor kwargs of ``fmt``, and notes on small differences.

    Raises ConversionError naming an option of ours that ``fmt`` cannot reproduce.
    """
    _check_format(fmt)
    defaults = default_arch()
    full = {**defaults, **arch}
    notes = []
    for key, want in FORMAT_OPTIONS[fmt].items():
        have = full[key]
        if have == want:
            continue
        if key in ("depth_rule", "pooling"):
            notes.append(
                f"{key}={have!r} here, {want!r} in {fmt}: Hilbert orders or tiny-level cells may differ"
            )
        else:
            raise ConversionError(f"{fmt} cannot reproduce {key}={have!r} (it has {key}={want!r})")
    if fmt == "pointcept" and full["mask_token"]:
        raise ConversionError("pointcept PT-v3m1 has no mask_token")
    config = {k: _plain(full[k]) for k in _SHARED_ARGS}
    config["enc_mode" if fmt == "sonata" else "cls_mode"] = bool(full["enc_mode"])
    if fmt == "sonata":
        config["mask_token"] = bool(full["mask_token"])
    flash = full["patch_rule"] == "cloud"
    config.update(enable_flash=flash, upcast_attention=not flash, upcast_softmax=not flash)
    return config, notes


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def default_arch() -> dict:
    """Default kwargs of our PointTransformerV3 (the architecture a key missing from a config gets)."""
    import inspect

    params = inspect.signature(PointTransformerV3.__init__).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def complete_arch(arch: dict, weights_arch: dict) -> dict:
    """Merge a (possibly partial) architecture with what the weights tell; refuse on conflicts.

    Raises ConversionError naming a parameter that disagrees with the weights or that neither the
    config nor the weights provide (heads, patch sizes, orders and strides are not in the weights).
    """
    merged = dict(arch)
    for key, value in weights_arch.items():
        if key in merged and _plain(merged[key]) != _plain(value):
            raise ConversionError(f"{key}: the config says {merged[key]!r} but the weights have {value!r}")
        merged.setdefault(key, value)
    missing = [k for k in ("in_channels", "enc_depths", "enc_channels") + _NOT_IN_WEIGHTS if k not in merged]
    if merged.get("enc_mode"):
        missing = [k for k in missing if not k.startswith("dec_")]
    if missing:
        raise ConversionError(
            f"architecture parameter(s) {missing} are not in the checkpoint; pass them (arch=)"
        )
    return merged


def check_against_model(state_dict: dict, arch: dict) -> PointTransformerV3:
    """Build our PTv3 from ``arch`` and load ``state_dict`` strictly (``eval`` mode).

    Raises ConversionError naming the first missing, unexpected or mis-shaped parameter.
    """
    try:
        model = PointTransformerV3(**arch)
    except (TypeError, ValueError) as e:
        raise ConversionError(f"invalid architecture: {e}") from e
    expected = model.state_dict()
    for key, value in state_dict.items():
        if key not in expected:
            raise ConversionError(f"parameter {key!r} does not exist in the PTv3 built from the architecture")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ConversionError(
                f"parameter {key!r} has shape {tuple(value.shape)}, the architecture needs {tuple(expected[key].shape)}"
            )
    missing = [k for k in expected if k not in state_dict]
    if missing:
        raise ConversionError(
            f"parameter {missing[0]!r} is missing from the checkpoint ({len(missing)} missing)"
        )
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def import_official(
    ckpt: dict,
    fmt: str,
    arch: dict | None = None,
    prefix: str | None = None,
    official_config: dict | None = None,
) -> tuple[dict, dict, dict]:
    """An official checkpoint -> ``(our state dict, our PTv3 kwargs, report)``.

    The architecture is ``official_config`` (official constructor kwargs, e.g. from a Pointcept
    experiment config) or else the checkpoint's ``config``, completed by what the weights tell;
    ``arch`` (our kwarg names) overrides both. The result is checked by
    loading it strictly into the model it describes. ``report`` holds ``prefix``, ``mapped``
    (tensor count), ``dropped`` (keys outside the backbone) and ``arch_source``.
    """
    _check_format(fmt)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ConversionError(f"a {fmt} checkpoint is a dict with a 'state_dict' dict")
    prefix = find_backbone_prefix(ckpt["state_dict"], prefix)
    official, dropped = strip_prefix(ckpt["state_dict"], prefix)
    ours = official_to_ours_keys(official, fmt)
    base = dict(FORMAT_OPTIONS[fmt])
    source = "weights"
    if official_config is not None:
        base = arch_from_official_config(official_config, fmt)
        source = "given official config"
    elif isinstance(ckpt.get("config"), dict):
        base = arch_from_official_config(ckpt["config"], fmt)
        source = "checkpoint config"
    if arch:
        base.update(arch)
        source += " + arch"
    full = {**default_arch(), **complete_arch(base, arch_from_weights(ours))}
    check_against_model(ours, full)
    return ours, full, dict(prefix=prefix, mapped=len(ours), dropped=dropped, arch_source=source)


def export_official(state_dict: dict, arch: dict, fmt: str) -> tuple[dict, list[str]]:
    """Our backbone state dict + kwargs -> ``({"config", "state_dict"}, notes)`` in ``fmt``.

    The state dict is first checked against the model ``arch`` describes. Sonata's ``load`` reads
    the result directly; Pointcept reads ``state_dict`` (add a ``module.backbone.`` prefix for a
    segmentor) and ignores ``config``, which ``import_official`` uses to restore the architecture.
    """
    check_against_model(state_dict, arch)
    config, notes = arch_to_official_config(arch, fmt)
    return dict(config=config, state_dict=ours_to_official_keys(state_dict, fmt)), notes


def tensors_equal(a: dict, b: dict) -> bool:
    """Same keys, dtypes and values."""
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
