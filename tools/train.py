"""Train from a config: ``python tools/train.py --config-file CONFIG --options save_path=DIR [k=v ...]``.

Run under ``torchrun --nproc_per_node N`` for multi-process training (``tools/train.sh -g N``).
Configuration, data and checkpoint errors print one line on stderr and exit 1 (``--debug``: the
traceback). SIGTERM/SIGUSR1 finish the current step, write ``model_last.pth`` and exit 3
(``EXIT_PREEMPTED``); ``-r true`` (``resume=True``) continues the run.
"""

import sys

from pointcept.engines import Trainer, default_argument_parser, default_setup
from pointcept.engines.launch import destroy_distributed
from pointcept.utils.errors import EXIT_PREEMPTED, run_cli


def main() -> None:
    args = default_argument_parser("Train a model from a config file").parse_args()
    cfg = default_setup(args)
    trainer = Trainer(cfg)
    trainer.train()
    destroy_distributed()
    if trainer.stopped_by is not None:
        sys.exit(EXIT_PREEMPTED)


if __name__ == "__main__":
    run_cli(main)
