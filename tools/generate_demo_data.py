"""Generate the embedded demo dataset: synthetic LiDAR scans in SemanticKITTI's raw format.

    python tools/generate_demo_data.py [--out data/semantic_kitti_demo] [--seed 0] [--scans-per-seq 4] [--skew 0]

Writes ``<out>/dataset/sequences/{00,01,08}/{velodyne,labels}`` (00 and 01 are in the train split,
08 is the val split), readable by ``SemanticKITTIDataset(data_root=<out>)``. See
``tools/demo_data/`` for the sensor and scene model.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script, only tools/ is on the path
    sys.path.insert(0, ROOT)

from tools.demo_data import SensorConfig, write_semantic_kitti  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--out", default="data/semantic_kitti_demo", help="output folder (holds dataset/sequences)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sequences", default="00,01,08", help="comma-separated sequence ids")
    p.add_argument("--scans-per-seq", type=int, default=4)
    p.add_argument("--beams", type=int, default=64)
    p.add_argument("--azimuth-steps", type=int, default=1024)
    p.add_argument("--max-range", type=float, default=80.0)
    p.add_argument("--step", type=float, default=2.5, help="metres the sensor moves between scans")
    p.add_argument(
        "--skew",
        type=float,
        default=0.0,
        help="class-frequency skew s: objects of the class ranked r are kept with probability r**-s "
        "(tools/demo_data/skew.py); 0 = the unskewed data",
    )
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    sensor = SensorConfig(beams=args.beams, azimuth_steps=args.azimuth_steps, max_range=args.max_range)
    sequences = {s.strip(): args.scans_per_seq for s in args.sequences.split(",") if s.strip()}
    start = time.perf_counter()
    stats = write_semantic_kitti(args.out, sequences, sensor, seed=args.seed, step=args.step, skew=args.skew)
    elapsed = time.perf_counter() - start
    print(
        f"wrote {stats['scans']} scans ({stats['points'] / stats['scans']:.0f} points/scan on average) "
        f"for sequences {sorted(sequences)} to {args.out}/dataset/sequences in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
