"""Convert the raw ScanNet v2 release into the per-scene .npy layout of ScanNetDataset/ScanNet200Dataset.

    python tools/preprocess/scannet.py --raw-root /data/ScanNet --out-root data/scannet \
        --label-table /data/ScanNet/scannetv2-labels.combined.tsv \
        --split train=meta/scannetv2_train.txt --split val=meta/scannetv2_val.txt --split test=meta/scannetv2_test.txt

Each --split file lists one scene id per line (the official lists are scannetv2_{train,val,test}.txt in
the ScanNet repository, Tasks/Benchmark/). Scenes are looked up in <raw-root>/scans/ and scans_test/.
"""

import argparse
import logging

from pointcept.datasets.preprocessing.scannet import preprocess_scannet
from pointcept.utils.errors import add_debug_argument, run_cli


def parse_split(value: str) -> tuple[str, list[str]]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--split expects NAME=FILE, got {value!r}")
    with open(path) as f:
        return name, [line.strip() for line in f if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw-root", required=True, help="folder holding scans/ (and scans_test/)")
    parser.add_argument(
        "--out-root", required=True, help="output root; scenes go to <out-root>/<split>/<scene>/"
    )
    parser.add_argument(
        "--label-table", default=None, help="scannetv2-labels.combined.tsv (needed for labels)"
    )
    parser.add_argument(
        "--split", type=parse_split, action="append", required=True, help="NAME=FILE, repeatable"
    )
    add_debug_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = preprocess_scannet(args.raw_root, args.out_root, dict(args.split), args.label_table)
    for split, count in written.items():
        print(f"{split}: {count} scenes")


if __name__ == "__main__":
    run_cli(main)
