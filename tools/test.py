"""Evaluate a checkpoint on the test split:
``python tools/test.py --config-file CONFIG --options weight=PATH save_path=DIR``.
"""

from pointcept.engines import TESTERS, default_argument_parser, default_setup
from pointcept.engines.launch import destroy_distributed


def main() -> None:
    args = default_argument_parser("Evaluate a checkpoint on the test split").parse_args()
    cfg = default_setup(args, snapshot=False)
    TESTERS.build(cfg.test, cfg=cfg).test()
    destroy_distributed()


if __name__ == "__main__":
    main()
