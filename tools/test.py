"""Evaluate a checkpoint on the test split:
``python tools/test.py --config-file CONFIG --options weight=PATH save_path=DIR``.

Configuration, data and checkpoint errors print one line on stderr and exit 1 (``--debug``: the
traceback).
"""

from pointcept.engines import TESTERS, default_argument_parser, default_setup
from pointcept.engines.launch import destroy_distributed
from pointcept.utils.errors import run_cli
from pointcept.utils.registry import build_from_cfg


def main() -> None:
    args = default_argument_parser("Evaluate a checkpoint on the test split").parse_args()
    cfg = default_setup(args, snapshot=False)
    build_from_cfg(dict(cfg.test, cfg=cfg), TESTERS, where="test").test()
    destroy_distributed()


if __name__ == "__main__":
    run_cli(main)
