"""Bird's-eye-view PNG (and optional PLY) of a SemanticKITTI scan coloured by label, prediction or error,
with ground-truth and predicted 3D boxes.

    python tools/visualize.py --scan SEQ/velodyne/000000.bin [--label SEQ/labels/000000.label] \
        [--pred PRED/sequences/SS/predictions/000000.label] [--boxes SEQ/boxes/000000.txt] \
        [--pred-boxes TEST/result/submission.json [--sample SS_000000] [--min-score 0.3]] \
        --out scan.png [--ply scan.ply]

Label and prediction files hold raw SemanticKITTI ids (prediction files are what
``SemanticKITTIDataset.save_prediction`` writes); both are mapped to the 19 classes. With both, the
PNG has three panels: ground truth, prediction and error (green correct, red wrong, grey ignored).
Without labels the points are coloured by remission.

Boxes: ``--boxes`` is a box file of the demo data (``tools/demo_data/boxes.py``: one
``class x y z l w h yaw vx vy instance`` line per object); ``--pred-boxes`` is the
``result/submission.json`` that ``tools/test.py`` writes for a detection config (nuScenes format,
boxes in the scan's frame), read for the sample ``--sample`` (default ``SS_NNNNNN`` from the scan
path) and the scores >= ``--min-score``. The PNG then gets a "boxes" panel: ground truth green,
predictions orange, a tick from each centre towards its heading.
"""

import argparse
import json
import math
import os

import numpy as np

from pointcept.datasets.label_maps import SEMANTIC_KITTI_PALETTE
from pointcept.datasets.semantic_kitti import (
    SEMANTIC_KITTI_CLASS_NAMES,
    read_box_file,
    read_labels,
    read_points,
    semantic_kitti_lut,
)
from pointcept.utils.errors import run_cli
from pointcept.utils.visualization import (
    CORRECT_COLOR,
    IGNORE_COLOR,
    WRONG_COLOR,
    draw_bev_boxes,
    error_colors,
    label_colors,
    rasterize_bev,
    save_panels_png,
    scalar_colors,
    write_ply,
)


def _positive(cast):
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {cast.__name__}, got {text!r}") from None
        if not value > 0:  # also rejects nan
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scan", required=True, help="velodyne .bin (float32 x, y, z, remission)")
    p.add_argument("--label", help="ground-truth .label (uint32, raw ids)")
    p.add_argument("--pred", help="prediction .label (uint32, raw ids)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--boxes", help="ground-truth box file (demo data boxes/NNNNNN.txt)")
    p.add_argument("--pred-boxes", help="submission.json of tools/test.py (detection)")
    p.add_argument("--sample", help="sample name in --pred-boxes (default: SS_NNNNNN from --scan)")
    p.add_argument("--min-score", type=float, default=0.3, help="lowest score of a drawn predicted box")
    p.add_argument("--ply", help="also write a PLY with RGB, label and pred properties")
    p.add_argument("--ply-ascii", action="store_true", help="write the PLY as ascii instead of binary")
    p.add_argument("--extent", type=_positive(float), default=40.0, help="half size of the view in metres")
    p.add_argument("--resolution", type=_positive(float), default=0.08, help="metres per pixel")
    p.add_argument("--point-size", type=_positive(int), default=2, help="pixels per point")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of file errors")
    return p.parse_args(argv)


GT_BOX_COLOR = (60, 230, 90)
PRED_BOX_COLOR = (255, 150, 30)


def read_pred_boxes(path: str, sample: str, min_score: float) -> np.ndarray:
    """Boxes (K, 9) of ``sample`` in a nuScenes-format submission with score >= ``min_score``."""
    with open(path) as f:
        results = json.load(f).get("results")
    if not isinstance(results, dict):
        raise ValueError(f"{path}: not a submission file (no 'results' dict)")
    if sample not in results:
        raise ValueError(
            f"{path}: no sample {sample!r} (it has {len(results)} samples, e.g. {list(results)[:3]})"
        )
    rows = []
    for r in results[sample]:
        if r["detection_score"] < min_score:
            continue
        width, length, height = r["size"]
        qw, _, _, qz = r["rotation"]
        rows.append([*r["translation"], length, width, height, 2 * math.atan2(qz, qw), *r["velocity"]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 9)


def main(argv=None) -> None:
    args = parse_args(argv)
    points = read_points(args.scan)
    coord = points[:, :3]
    lut = semantic_kitti_lut()
    gt = lut[read_labels(args.label, len(points)) & 0xFFFF] if args.label else None
    pred = lut[read_labels(args.pred, len(points)) & 0xFFFF] if args.pred else None

    def bev(colors):
        return rasterize_bev(
            coord, colors, extent=args.extent, resolution=args.resolution, point_size=args.point_size
        )

    panels, legend = [], []
    for title, labels in (("ground truth", gt), ("prediction", pred)):
        if labels is not None:
            panels.append((title, bev(label_colors(labels, SEMANTIC_KITTI_PALETTE))))
    if gt is not None or pred is not None:
        present = np.unique(np.concatenate([x for x in (gt, pred) if x is not None]))
        legend = [
            (SEMANTIC_KITTI_CLASS_NAMES[c], tuple(SEMANTIC_KITTI_PALETTE[c])) for c in present if c >= 0
        ]
        legend.append(("ignored", IGNORE_COLOR))
    if gt is not None and pred is not None:
        valid = gt >= 0
        acc = float((pred[valid] == gt[valid]).mean()) if valid.any() else float("nan")
        panels.append((f"error (accuracy {acc:.1%})", bev(error_colors(pred, gt))))
        legend += [("correct", CORRECT_COLOR), ("wrong", WRONG_COLOR)]
    if not panels:
        panels.append(("remission", bev(scalar_colors(points[:, 3], 0.0, 0.8))))
    if args.boxes or args.pred_boxes:
        base = bev(
            label_colors(gt, SEMANTIC_KITTI_PALETTE)
            if gt is not None
            else scalar_colors(points[:, 3], 0.0, 0.8)
        )
        kw = dict(extent=args.extent, resolution=args.resolution, thickness=max(1, args.point_size))
        counts = []
        if args.boxes:
            gt_boxes, _ = read_box_file(args.boxes, box_classes=())
            draw_bev_boxes(base, gt_boxes, GT_BOX_COLOR, **kw)
            counts.append(f"{len(gt_boxes)} GT")
        if args.pred_boxes:
            seq = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(args.scan))))
            sample = args.sample or f"{seq}_{os.path.splitext(os.path.basename(args.scan))[0]}"
            pred_boxes = read_pred_boxes(args.pred_boxes, sample, args.min_score)
            draw_bev_boxes(base, pred_boxes, PRED_BOX_COLOR, **kw)
            counts.append(f"{len(pred_boxes)} predicted")
        panels.append((f"boxes ({', '.join(counts)})", base))
        legend = legend + [("GT box", GT_BOX_COLOR), ("predicted box", PRED_BOX_COLOR)]
    save_panels_png(args.out, panels, legend, extent=args.extent)
    print(f"wrote {args.out} ({len(points)} points)")
    if args.ply:
        labels = gt if gt is not None else pred
        colors = (
            label_colors(labels, SEMANTIC_KITTI_PALETTE)
            if labels is not None
            else scalar_colors(points[:, 3])
        )
        scalars = {"remission": points[:, 3]}
        scalars.update({k: v for k, v in (("label", gt), ("pred", pred)) if v is not None})
        write_ply(args.ply, coord, colors, scalars, binary=not args.ply_ascii)
        print(f"wrote {args.ply}")


if __name__ == "__main__":
    run_cli(main)
