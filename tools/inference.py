"""Run a trained segmentor, or a pretrained encoder, on point cloud files you have.

    # per-point labels of a segmentation run (model_best/model_last.pth of tools/train.py)
    python tools/inference.py --config exp/semantic_kitti/lin/config.py \
        --checkpoint exp/semantic_kitti/lin/model/model_best.pth --input scans/ --output preds/
    # per-point features of a DOS-pretrained encoder (its EMA teacher, keys teacher.backbone.*)
    python tools/inference.py --config configs/semantic_kitti/pretrain-dos-tiny.py \
        --checkpoint exp/semantic_kitti/dos/model/model_last.pth --input scan.ply --features

Input: a file or a folder (searched recursively) of KITTI ``.bin`` (float32 x, y, z, remission;
``*.pcd.bin``: nuScenes, 5 columns), ``.npy`` (N x 3+), ``.ply``, ``.pcd``, ``.las``/``.laz``.
Headerless files (``.bin``, ``.npy``) take ``--columns`` (e.g. ``x,y,z,strength,_``); without it
``.npy`` columns follow their count (3 xyz; 4 +strength; 5 +strength,skip; 6 +rgb; 7 +strength,rgb;
9 +rgb,normal). Other formats use their named fields (intensity -> strength, red/green/blue ->
colour, nx/ny/nz -> normal). Strength is used as stored; ``--strength-scale`` rescales it (e.g.
1/255 for 0..255 intensities on a SemanticKITTI model). See ``pointcept/datasets/formats/generic.py``.

Preprocessing is the config's test transform (``data.test``: ``transform``, ``test_cfg`` grid
sampling and feature keys). Every input point gets a prediction: the test grid sampling splits a
cloud into fragments that together cover every point, and the softmax of every fragment is summed
per point (the tester's fragment voting, ``SemSegTester.predict_scan``). Fragments of several
files share a forward pass (``--batch-size`` fragments per pass). A config without ``data.test``
(a pretraining config) uses its view transform without the random augmentations, with its
``GridSample`` in test mode; features of a point are averaged over the fragments that hold it.

Output per input ``NAME`` (its path below the input folder, without extension) in ``--output``:

* segmentation: ``NAME.npy`` (int32 class ids), ``NAME.label`` (uint32 raw SemanticKITTI ids, for
  a SemanticKITTI config), ``NAME.ply`` (coloured by class, with a ``label`` property) and
  ``NAME.png`` (bird's-eye view with the class legend);
* ``--features``: ``NAME_feat.npy`` ((N, C) features of every input point: the encoder's stages
  up-cast and concatenated, or a decoder's output), ``NAME_feat.ply`` / ``NAME_feat.png``
  coloured by the first three principal components of the features;
* ``inference.json``: per file its path, number of points, outputs and ``origin`` (the shift
  subtracted from georeferenced coordinates; PLY coordinates are relative to it).

Errors in the input (unsupported or unreadable file, missing columns, missing optional package)
print one line and exit 1 (``--debug``: the traceback); ``--skip-errors`` skips such files instead.
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

from pointcept.utils.errors import UserError, run_cli

_GEOMETRY_KEYS = ("coord", "grid_coord", "index")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="config of the run (default: config.py of the checkpoint's run folder)")
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pth) of tools/train.py")
    p.add_argument("--input", required=True, help="a point cloud file or a folder of them")
    p.add_argument("--output", default="inference_out", help="output folder (default: %(default)s)")
    p.add_argument("--features", action="store_true", help="write per-point encoder features, not labels")
    p.add_argument(
        "--key-map",
        help="prefix map SRC=DST for the encoder weights with --features (default for a DOS "
        "checkpoint: teacher.backbone.=backbone.)",
    )
    p.add_argument("--columns", help="column names of headerless files, e.g. x,y,z,strength,_")
    p.add_argument("--strength-scale", type=float, default=1.0, help="factor applied to strength")
    p.add_argument("--batch-size", type=int, default=4, help="fragments per forward pass (default 4)")
    p.add_argument("--num-workers", type=int, default=0, help="processes reading files ahead (default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: the config's, else auto)")
    p.add_argument("--feature-dtype", choices=("float32", "float16"), default="float32")
    p.add_argument(
        "--extent", type=float, default=None, help="half width (m) of the BEV around (0, 0); default: fit"
    )
    p.add_argument("--no-ply", action="store_true", help="do not write PLY files")
    p.add_argument("--no-png", action="store_true", help="do not write BEV PNG files")
    p.add_argument("--skip-errors", action="store_true", help="skip unreadable files instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks of input errors")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.num_workers < 0:
        p.error(f"--num-workers must be >= 0, got {args.num_workers}")
    return args


# --- config -> test pipeline -------------------------------------------------------------------


def _find(node, type_name: str) -> list[dict]:
    """Every dict with ``type == type_name`` nested anywhere in ``node`` (depth first, in order)."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == type_name:
            found.append(node)
        for value in node.values():
            found += _find(value, type_name)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += _find(value, type_name)
    return found


def encoder_test_pipeline(cfg) -> dict:
    """``transform`` and ``test_cfg`` for a config without ``data.test`` (a pretraining config).

    The view pipeline of the config's ``DOSViewGenerator`` (else ``data.train.transform``) minus
    every ``Random*`` augmentation: the transforms before its ``GridSample`` run on the whole
    cloud, the ``GridSample`` becomes the test-mode fragmenting, and its ``Collect`` feature keys
    are kept.
    """
    train = (cfg.get("data") or {}).get("train")
    views = _find(train, "DOSViewGenerator")
    if views:
        from pointcept.datasets import DOSViewGenerator

        # The generator resolves its standard pipeline (or a custom view_transform) itself.
        kwargs = {k: v for k, v in views[0].items() if k != "type"}
        pipeline = list(DOSViewGenerator(**kwargs).view_transform_cfg)
    else:
        pipeline = list((train or {}).get("transform") or [])
    grids = [i for i, t in enumerate(pipeline) if t.get("type") == "GridSample"]
    collects = _find(pipeline, "Collect") or _find(train, "Collect")
    if not grids or not collects:
        raise UserError(
            "the config has no data.test, and no GridSample + Collect in its training view transform "
            "to derive one from; use a config with data.test"
        )
    grid = dict(pipeline[grids[0]], mode="test", return_grid_coord=True)
    before = [
        copy.deepcopy(t) for t in pipeline[: grids[0]] if not str(t.get("type", "")).startswith("Random")
    ]
    collect = dict(type="Collect", keys=_GEOMETRY_KEYS, feat_keys=tuple(collects[0].get("feat_keys") or ()))
    return dict(
        transform=before,
        test_cfg=dict(voxelize=grid, post_transform=[dict(type="ToTensor"), collect]),
    )


def feature_keys(test: dict) -> tuple[str, ...]:
    """Feature keys of the test pipeline's ``Collect`` (the attributes every file must have)."""
    keys = []
    for collect in _find(test, "Collect"):
        keys += [k for k in collect.get("feat_keys") or () if k not in keys]
    return tuple(keys)


def build_inference_config(cfg, args):
    """The config handed to ``SemSegTester``: ``data.test`` reads the user's files with the test pipeline."""
    from pointcept.datasets import DATASETS

    cfg = copy.deepcopy(cfg)
    test = cfg.data.get("test") if cfg.get("data") else None
    if test:
        source_type = test.get("type")
        pipeline = dict(
            transform=list(test.get("transform") or []), test_cfg=dict(test.get("test_cfg") or {})
        )
    else:
        if not args.features:
            raise UserError("the config has no data.test; segmentation needs a segmentation config")
        source_type = (cfg.data.get("train") or {}).get("type")
        pipeline = encoder_test_pipeline(cfg)
    keys = feature_keys(pipeline)
    cfg.data.test = dict(
        type="PointFileDataset",
        data_root=args.input,
        columns=args.columns,
        strength_scale=args.strength_scale,
        require=keys,
        ignore_index=int(cfg.data.get("ignore_index", -1)),
        test_mode=True,
        **pipeline,
    )
    cfg.weight = args.checkpoint
    cfg.save_path = args.output
    if args.device:
        cfg.device = args.device
    source = DATASETS.get(source_type) if source_type else None
    return cfg, source


# --- models ------------------------------------------------------------------------------------


def _parse_key_map(text: str | None) -> dict | None:
    if not text:
        return None
    src, sep, dst = text.partition("=")
    if not sep:
        raise UserError(f"--key-map must look like SRC=DST (e.g. teacher.backbone.=backbone.), got {text!r}")
    return {src: dst}


def build_encoder(cfg, key_map: dict | None) -> torch.nn.Module:
    """A ``DefaultSegmentor`` around the checkpoint's encoder whose ``features()`` gives (N, C) per input point.

    DOS config: the teacher's backbone (``teacher_custom`` applied), weights ``teacher.backbone.*``.
    Segmentation config: the segmentor itself. Any other model config is taken as the backbone.
    """
    from pointcept.engines.checkpoint import extract_state_dict, load_checkpoint, load_weights
    from pointcept.models.builder import build_model

    model_cfg = copy.deepcopy(cfg.model)
    ckpt = extract_state_dict(load_checkpoint(cfg.weight))
    if model_cfg.get("type") == "DefaultSegmentor":
        model = build_model(model_cfg)
        load_weights(model, ckpt, key_map=key_map, strict=True)
        return model
    if model_cfg.get("type") == "DOS":
        backbone = dict(model_cfg.backbone, **(model_cfg.get("teacher_custom") or {}))
        key_map = key_map or {"teacher.backbone.": "backbone."}
    else:
        backbone = model_cfg
        key_map = key_map or {"": "backbone."}
    model = build_model(
        dict(type="DefaultSegmentor", backbone=backbone, num_classes=1, backbone_out_channels=1, criteria=[])
    )
    b = model.backbone
    # features() checks its output width against this; the 1-class head is never used.
    model.backbone_out_channels = sum(b.enc_channels) if getattr(b, "enc_mode", False) else b.out_channels
    load_weights(model, ckpt, key_map=key_map, strict=True)
    return model


@torch.no_grad()
def predict_features(tester, data: dict) -> torch.Tensor:
    """Features (N, C) of every point of ``data``: the mean over the fragments holding the point.

    The feature counterpart of ``SemSegTester.predict_scan`` (same fragments and batching).
    """
    from pointcept.datasets import collate_fn
    from pointcept.engines.amp import autocast
    from pointcept.engines.launch import to_device

    n = len(data["coord"])
    feats = counts = None
    fragments = data["fragment_list"]
    for start in range(0, len(fragments), tester.fragment_batch_size):
        batch = to_device(collate_fn(fragments[start : start + tester.fragment_batch_size]), tester.device)
        with autocast(tester.device, tester.amp_dtype):
            feat = tester.model.features(batch).float()
        if feats is None:
            feats = torch.zeros(n, feat.shape[1], device=tester.device)
            counts = torch.zeros(n, device=tester.device)
        index = batch["index"].long()
        feats.index_add_(0, index, feat)
        counts.index_add_(0, index, torch.ones_like(index, dtype=torch.float32))
    if (counts == 0).any():
        raise ValueError(f"{data['name']}: {int((counts == 0).sum())} of {n} points are in no fragment")
    return feats / counts[:, None]


# --- batching across files ---------------------------------------------------------------------


class _Loaded(torch.utils.data.Dataset):
    """``dataset[i]`` under the tester's per-scan seed; input errors are returned, not raised."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        from pointcept.utils.errors import is_user_error
        from pointcept.utils.seed import derive_seed, seeded_rng

        try:
            with seeded_rng(derive_seed(self.seed, i)):
                return i, self.dataset[i], None
        except Exception as e:
            if not is_user_error(e):
                raise
            return i, None, e


def _first(batch):
    return batch[0]


def merge_scans(scans: list[dict]) -> dict:
    """Several test samples as one: point rows stacked, fragment ``index`` shifted to match.

    Fragment voting on the merged sample equals voting on each one: a fragment only adds to the
    rows it covers.
    """
    offset, fragments = 0, []
    for scan in scans:
        for frag in scan["fragment_list"]:
            fragments.append(dict(frag, index=frag["index"] + offset))
        offset += len(scan["coord"])
    return dict(
        name="+".join(s["name"] for s in scans),
        coord=np.concatenate([s["coord"] for s in scans]),
        segment=np.concatenate([s["segment"] for s in scans]),
        fragment_list=fragments,
    )


def scan_groups(loader, batch_size: int, on_error):
    """Group loaded scans so that each group has at least ``batch_size`` fragments (the last may have fewer)."""
    group, num_fragments = [], 0
    for i, data, error in loader:
        if error is not None:
            on_error(i, error)
            continue
        group.append((i, data))
        num_fragments += len(data["fragment_list"])
        if num_fragments >= batch_size:
            yield group
            group, num_fragments = [], 0
    if group:
        yield group


# --- outputs -----------------------------------------------------------------------------------


def pca_colors(features: np.ndarray, max_fit: int = 100_000, seed: int = 0) -> np.ndarray:
    """(N, C) features -> (N, 3) uint8: the first three principal components as RGB.

    The components are fitted on at most ``max_fit`` points, signed so that their largest loading
    is positive (deterministic colours), and each is mapped from its 1st..99th percentile to 0..255.
    """
    x = np.asarray(features, dtype=np.float64)
    fit = x if len(x) <= max_fit else x[np.random.default_rng(seed).choice(len(x), max_fit, replace=False)]
    mean = fit.mean(0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    comps = vt[:3]
    comps *= np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])[:, None]
    proj = (x - mean) @ comps.T
    if proj.shape[1] < 3:  # fewer than 3 channels: pad with zeros (grey)
        proj = np.concatenate([proj, np.zeros((len(proj), 3 - proj.shape[1]))], axis=1)
    lo, hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)
    return (np.clip((proj - lo) / np.maximum(hi - lo, 1e-12), 0, 1) * 255).round().astype(np.uint8)


class Writer:
    """Writes the outputs of one file (module docstring) and keeps the summary for ``inference.json``."""

    def __init__(self, args, num_classes: int | None, names, palette, learning_map_inv):
        self.args = args
        self.num_classes = num_classes
        self.names = names
        self.palette = palette
        self.learning_map_inv = learning_map_inv
        self.summary = []

    def _path(self, name: str, suffix: str) -> str:
        path = os.path.join(self.args.output, name + suffix)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def _views(
        self, name: str, suffix: str, coord, colors, title: str, legend=None, scalars=None
    ) -> list[str]:
        from pointcept.utils.visualization import rasterize_bev, save_panels_png, write_ply

        written = []
        if not self.args.no_ply:
            written.append(self._path(name, suffix + ".ply"))
            write_ply(written[-1], coord, colors, scalars=scalars)
        if not self.args.no_png:
            if self.args.extent:
                extent, center = self.args.extent, (0.0, 0.0)
            else:
                lo, hi = coord[:, :2].min(0), coord[:, :2].max(0)
                extent, center = max(float((hi - lo).max()) / 2 * 1.02, 1.0), tuple((lo + hi) / 2)
            image = rasterize_bev(coord, colors, extent=extent, resolution=extent / 400, center=center)
            written.append(self._path(name, suffix + ".png"))
            save_panels_png(written[-1], [(title, image)], legend=legend, extent=self.args.extent)
        return written

    def labels(self, name: str, source: str, coord, origin, pred: np.ndarray) -> None:
        from pointcept.utils.visualization import label_colors

        written = [self._path(name, ".npy")]
        np.save(written[0], pred.astype(np.int32))
        if self.learning_map_inv is not None:
            written.append(self._path(name, ".label"))
            self.learning_map_inv[pred].astype(np.uint32).tofile(written[-1])
        colors = label_colors(pred, self.palette)
        present = np.unique(pred)
        legend = [(self.names[c], tuple(int(v) for v in self.palette[c])) for c in present]
        written += self._views(
            name, "", coord, colors, name, legend=legend, scalars={"label": pred.astype(np.int32)}
        )
        self._record(source, name, len(pred), origin, written)

    def features(self, name: str, source: str, coord, origin, feat: np.ndarray) -> None:
        written = [self._path(name, "_feat.npy")]
        np.save(written[0], feat.astype(self.args.feature_dtype))
        written += self._views(name, "_feat", coord, pca_colors(feat), f"{name}: PCA of features")
        self._record(source, name, len(feat), origin, written, channels=int(feat.shape[1]))

    def _record(self, source, name, n, origin, written, **extra) -> None:
        self.summary.append(
            dict(
                input=source,
                name=name,
                num_points=int(n),
                origin=[float(v) for v in origin],
                outputs=written,
                **extra,
            )
        )


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> None:
    args = parse_args(argv)
    from pointcept.datasets import SemanticKITTIDataset
    from pointcept.datasets.formats.generic import find_point_files
    from pointcept.datasets.label_maps import SEMANTIC_KITTI_PALETTE
    from pointcept.engines.tester import SemSegTester
    from pointcept.utils.config import load_config
    from pointcept.utils.errors import MissingFileError
    from pointcept.utils.visualization import distinct_palette

    if not os.path.exists(args.input):
        raise MissingFileError(f"input not found: {args.input}")
    find_point_files(args.input)  # unsupported or no files: an error before the model loads
    config = args.config or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.checkpoint))), "config.py"
    )
    if not os.path.isfile(config):
        raise MissingFileError(f"config not found: {config} (pass --config)")
    cfg = load_config(config)
    if not args.features and cfg.model.get("type") != "DefaultSegmentor":
        raise UserError(
            f"{config}: model type {cfg.model.get('type')!r} is an encoder that predicts no labels; "
            "pass --features for its per-point features"
        )
    cfg, source = build_inference_config(cfg, args)
    model = build_encoder(cfg, _parse_key_map(args.key_map)) if args.features else None
    os.makedirs(args.output, exist_ok=True)
    tester = SemSegTester(cfg, fragment_batch_size=args.batch_size, save_predictions=False, model=model)
    if model is not None:
        tester.model = tester.model.to(tester.device)
    tester.model.eval()
    dataset = tester.dataset

    is_kitti = source is not None and issubclass(source, SemanticKITTIDataset)
    num_classes = None if args.features else int(cfg.data.num_classes)
    names = list(cfg.data.get("names") or getattr(source, "class_names", None) or [])
    if num_classes is not None and len(names) != num_classes:
        names = [f"class_{i}" for i in range(num_classes)]
    palette = SEMANTIC_KITTI_PALETTE if is_kitti and num_classes == len(SEMANTIC_KITTI_PALETTE) else None
    if palette is None and num_classes:
        palette = distinct_palette(num_classes)
    learning_map_inv = source.learning_map_inv if is_kitti and not args.features else None
    writer = Writer(args, num_classes, names, palette, learning_map_inv)

    from tqdm import tqdm

    skipped = []

    def on_error(i, error):
        path = dataset.data_list[i]
        if not args.skip_errors:
            raise error
        skipped.append(dict(input=path, error=str(error)))
        tqdm.write(f"skipped: {error}", file=sys.stderr)
        bar.update(1)

    loaded = _Loaded(dataset, int(cfg.get("seed") or 0))
    loader = torch.utils.data.DataLoader(
        loaded, batch_size=1, num_workers=args.num_workers, collate_fn=_first
    )
    with tqdm(total=len(dataset), unit="file", disable=args.no_progress, dynamic_ncols=True) as bar:
        for group in scan_groups(loader, args.batch_size, on_error):
            merged = merge_scans([data for _, data in group])
            out = predict_features(tester, merged) if args.features else tester.predict_scan(merged)
            out = out.cpu().numpy()
            start = 0
            for i, data in group:
                n = len(data["coord"])
                part, start = out[start : start + n], start + n
                origin = data["origin"]
                if args.features:
                    writer.features(data["name"], dataset.data_list[i], data["coord"], origin, part)
                else:
                    writer.labels(data["name"], dataset.data_list[i], data["coord"], origin, part)
                bar.update(1)
    with open(os.path.join(args.output, "inference.json"), "w") as f:
        json.dump(
            dict(config=config, checkpoint=args.checkpoint, files=writer.summary, skipped=skipped),
            f,
            indent=2,
        )
    print(
        f"wrote {'features' if args.features else 'predictions'} of {len(writer.summary)} file(s) to {args.output}"
        + (f"; skipped {len(skipped)}" if skipped else "")
    )
    if skipped:
        sys.exit(1)


if __name__ == "__main__":
    run_cli(main)
