"""Build the nuScenes info index (JSON) that NuScenesDataset reads.

    python tools/preprocess/nuscenes_infos.py --data-root data/nuscenes --version v1.0-trainval --max-sweeps 10

Writes <data-root>/info/nuscenes_infos_{max_sweeps}sweeps_{split}.json. The official train/val scene
lists come from nuscenes-devkit when installed; otherwise give --split-file (JSON
{"train": [scene names], "val": [...]}).
"""

import argparse
import logging

from pointcept.datasets.preprocessing.nuscenes_info import write_nuscenes_infos
from pointcept.utils.errors import add_debug_argument, run_cli


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-root", required=True, help="nuScenes root holding samples/, sweeps/, lidarseg/, <version>/"
    )
    parser.add_argument("--version", default="v1.0-trainval", help="table folder under data-root")
    parser.add_argument("--max-sweeps", type=int, default=10, help="frames per sample including the keyframe")
    parser.add_argument("--out-dir", default=None, help="default <data-root>/info")
    parser.add_argument(
        "--split-file", default=None, help="JSON split -> scene names (instead of nuscenes-devkit)"
    )
    add_debug_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = write_nuscenes_infos(args.data_root, args.version, args.out_dir, args.max_sweeps, args.split_file)
    for split, path in paths.items():
        print(f"{split}: {path}")


if __name__ == "__main__":
    run_cli(main)
