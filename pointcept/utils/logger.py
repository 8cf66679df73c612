"""Logging to the console and, on the main process, to a file.

Only rank 0 writes INFO lines; other ranks log warnings and errors to the console so a failure on
any rank is still visible.
"""

import logging
import os
import sys

_FORMAT = "[%(asctime)s %(levelname)s] %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"


def _rank() -> int:
    # Read the launcher's environment instead of torch.distributed so the logger can be set up
    # before the process group exists.
    return int(os.environ.get("RANK", "0"))


def get_logger(
    name: str = "pointcept", log_file: str | None = None, level: int = logging.INFO, file_mode: str = "a"
) -> logging.Logger:
    """Return the named logger, adding a console handler once and a file handler per new file.

    ``log_file`` is only opened on rank 0; ``file_mode="w"`` starts a fresh file, ``"a"`` appends
    (used when resuming).
    """
    logger = logging.getLogger(name)
    logger.propagate = False
    main = _rank() == 0
    logger.setLevel(level if main else logging.WARNING)
    formatter = logging.Formatter(_FORMAT, datefmt=_DATEFMT)
    if not any(getattr(h, "_pointcept_console", False) for h in logger.handlers):
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(formatter)
        console._pointcept_console = True
        logger.addHandler(console)
    if log_file is not None and main:
        path = os.path.abspath(log_file)
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == path for h in logger.handlers):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handler = logging.FileHandler(path, mode=file_mode)
            handler.setFormatter(formatter)
            logger.addHandler(handler)
    return logger


def close_file_handlers(name: str = "pointcept") -> None:
    """Flush and detach file handlers (so a finished run releases its ``train.log``)."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)
