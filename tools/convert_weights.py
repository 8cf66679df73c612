"""Convert PTv3 weights between this project and the official Sonata / Pointcept PT-v3m1 formats.

Import (the output loads with ``weight=OUT`` and ``key_map={"backbone.": "backbone."}``)::

    python tools/convert_weights.py --from sonata --to ours sonata.pth sonata_ours.pth
    python tools/convert_weights.py --from pointcept --to ours model_best.pth ours.pth \\
        --official-config ptv3m1_backbone.json   # PT-v3m1 kwargs: its checkpoints carry no config

Export (Sonata's ``load`` reads the result; Pointcept reads ``state_dict``)::

    python tools/convert_weights.py --from ours --to sonata exp/dos/model/model_last.pth dos_sonata.pth \\
        --prefix teacher.backbone. --config configs/semantic_kitti/pretrain-dos.py

Input files are read with a restricted unpickler (tensors, numpy data and plain containers only).
``--arch JSON`` overrides architecture values with our kwarg names. Prints what was mapped.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pointcept.engines.checkpoint import save_checkpoint  # noqa: E402
from pointcept.models import ptv3_convert as conv  # noqa: E402
from pointcept.utils.config import load_config  # noqa: E402
from pointcept.utils.safe_pickle import UnsafeCheckpointError, safe_load  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="src", required=True, choices=("ours",) + conv.FORMATS)
    parser.add_argument("--to", dest="dst", required=True, choices=("ours",) + conv.FORMATS)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--prefix", help="key prefix of the backbone in the input (default: detected)")
    parser.add_argument("--out-prefix", help="key prefix written in front of the backbone keys")
    parser.add_argument("--official-config", help="JSON file of the official constructor kwargs")
    parser.add_argument("--config", help="(--from ours) this project's config file; uses model.backbone")
    parser.add_argument("--arch", help="JSON object of our PTv3 kwargs overriding everything else")
    args = parser.parse_args(argv)
    if (args.src == "ours") == (args.dst == "ours"):
        parser.error("exactly one of --from/--to must be 'ours'")
    return args


def _ours_arch(args, state_dict: dict) -> dict:
    arch = {}
    if args.config:
        model_cfg = load_config(args.config)["model"]
        backbone = model_cfg.get("backbone", model_cfg)
        arch.update({k: v for k, v in dict(backbone).items() if k != "type"})
    if args.arch:
        arch.update(json.loads(args.arch))
    full = {**conv.default_arch(), **conv.complete_arch(arch, conv.arch_from_weights(state_dict))}
    return full


def main(argv=None) -> int:
    args = parse_args(argv)
    ckpt = safe_load(args.input)
    if not isinstance(ckpt, dict):
        raise conv.ConversionError(f"{args.input} holds a {type(ckpt).__name__}, expected a dict")
    if args.dst == "ours":
        official = None
        if args.official_config:
            with open(args.official_config) as f:
                official = json.load(f)
        arch = json.loads(args.arch) if args.arch else None
        state, arch, report = conv.import_official(ckpt, args.src, arch, args.prefix, official)
        prefix = "backbone." if args.out_prefix is None else args.out_prefix
        out = {
            "model": {prefix + k: v for k, v in state.items()},
            "backbone_config": arch,
            "source": args.src,
        }
        notes = []
    else:
        weights = ckpt["model"] if isinstance(ckpt.get("model"), dict) else ckpt.get("state_dict", ckpt)
        src_prefix = conv.find_backbone_prefix(weights, args.prefix)
        state, dropped = conv.strip_prefix(weights, src_prefix)
        if isinstance(ckpt.get("backbone_config"), dict) and not args.config:
            args_arch = dict(ckpt["backbone_config"])
            if args.arch:
                args_arch.update(json.loads(args.arch))
            arch = {**conv.default_arch(), **args_arch}
        else:
            arch = _ours_arch(args, state)
        exported, notes = conv.export_official(state, arch, args.dst)
        prefix = args.out_prefix or ""
        out = {
            "config": exported["config"],
            "state_dict": {prefix + k: v for k, v in exported["state_dict"].items()},
        }
        report = dict(prefix=src_prefix, mapped=len(state), dropped=dropped, arch_source="checkpoint/config")
    save_checkpoint(args.output, out)
    print(f"{args.src} -> {args.dst}: {report['mapped']} tensors mapped from prefix {report['prefix']!r}")
    if report["dropped"]:
        print(f"dropped {len(report['dropped'])} non-backbone key(s), e.g. {report['dropped'][:3]}")
    print(f"architecture ({report['arch_source']}): {json.dumps(arch, sort_keys=True)}")
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (conv.ConversionError, UnsafeCheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
