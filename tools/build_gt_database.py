"""Build the object database of GT sampling (``GTSample``) from a dataset config.

    python tools/build_gt_database.py --config-file configs/nuscenes/det-centerpoint.py --out data/nuscenes/gt_database_train.npz

Loads every sample of ``data.<split>`` (default ``train``) without its transforms, cuts the points of
each labelled box out of it and writes one .npz (layout in ``pointcept/datasets/gt_database.py``).
The dataset must deliver boxes (its ``box_classes`` set); class names come from the dataset's
``box_classes`` or ``--class-names``. Prints the object count per class.
"""

import argparse
import sys

from pointcept.datasets import build_dataset
from pointcept.datasets.gt_database import build_gt_database
from pointcept.utils.config import load_config
from pointcept.utils.errors import add_debug_argument, run_cli
from pointcept.utils.registry import ConfigError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, help="python config with a data.<split> dataset")
    parser.add_argument("--split", default="train", help="data entry of the config to read (default train)")
    parser.add_argument("--out", required=True, help="output .npz file")
    parser.add_argument(
        "--min-points", type=int, default=1, help="store objects with at least this many points"
    )
    parser.add_argument(
        "--class-names", nargs="+", default=None, help="box class names (default: the dataset's)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--options", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="config overrides"
    )
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config_file, args.options)
    data = cfg.get("data") or {}
    if args.split not in data:
        raise ConfigError(f"{args.config_file}: no data.{args.split} dataset in the config")
    dataset_cfg = dict(data[args.split])
    for key in ("transform", "test_cfg", "loop"):
        dataset_cfg.pop(key, None)
    dataset_cfg["test_mode"] = False
    dataset = build_dataset(dataset_cfg, where=f"data.{args.split}")
    class_names = args.class_names or getattr(dataset, "box_classes", None)
    if not class_names:
        raise ConfigError(f"{type(dataset).__name__} has no box_classes; pass --class-names")

    def progress(it):
        from tqdm import tqdm

        return tqdm(it, total=len(dataset.data_list), unit="scan", disable=args.no_progress, file=sys.stderr)

    samples = (dataset.load(i) for i in range(len(dataset.data_list)))
    counts = build_gt_database(samples, class_names, args.out, min_points=args.min_points, progress=progress)
    for name, n in counts.items():
        print(f"{name}: {n}")
    print(f"{sum(counts.values())} objects from {len(dataset.data_list)} scans -> {args.out}")


if __name__ == "__main__":
    run_cli(main)
