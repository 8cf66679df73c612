"""Convert Waymo Open Dataset v1 tfrecords into the per-frame .npy layout of WaymoDataset.

    python tools/preprocess/waymo.py --raw-root /data/waymo --out-root data/waymo --splits training validation

Reads <raw-root>/<split>/*.tfrecord and writes <out-root>/<split>/<record>/<timestamp>/. Training and
validation keep the frames that carry segmentation labels; testing keeps the frames listed in
--test-frames (lines "<context_name>,<timestamp_micros>", the official 3d_semseg_test_set_frames.txt).
Training/validation frames also get their 3D box labels (gt_*.npy); --all-frames keeps the frames
without segmentation labels too (detection).
Needs tensorflow and waymo-open-dataset (e.g. waymo-open-dataset-tf-2-12-0) in the environment.
"""

import argparse
import glob
import logging
import os

from pointcept.datasets.preprocessing.waymo import convert_tfrecord
from pointcept.utils.errors import add_debug_argument, run_cli


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--raw-root", required=True, help="folder with training/, validation/, testing/ tfrecords"
    )
    parser.add_argument("--out-root", required=True)
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["training", "validation"],
        choices=["training", "validation", "testing"],
    )
    parser.add_argument("--test-frames", default=None, help="frame list for the testing split")
    parser.add_argument(
        "--with-elongation", action="store_true", help="store elongation as a 2nd strength column"
    )
    parser.add_argument(
        "--all-frames",
        action="store_true",
        help="keep every training/validation frame, also those without segmentation labels (for detection)",
    )
    add_debug_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    test_frames = None
    if args.test_frames:
        with open(args.test_frames) as f:
            test_frames = {line.strip() for line in f if line.strip()}
    if "testing" in args.splits and test_frames is None:
        parser.error("--splits testing needs --test-frames")
    for split in args.splits:
        records = sorted(glob.glob(os.path.join(args.raw_root, split, "*.tfrecord")))
        if not records:
            parser.error(f"no .tfrecord files in {os.path.join(args.raw_root, split)}")
        frames = sum(
            convert_tfrecord(r, args.out_root, split, test_frames, args.with_elongation, args.all_frames)
            for r in records
        )
        print(f"{split}: {frames} frames from {len(records)} records")


if __name__ == "__main__":
    run_cli(main)
