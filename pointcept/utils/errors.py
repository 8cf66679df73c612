"""Errors caused by the user's input (config, data, checkpoint, disk), as opposed to bugs.

The command-line tools print a user error as one line on stderr (no traceback unless ``--debug``);
anything else keeps its traceback. A user error is:

* an instance of :class:`UserError` (checkpoint, run-folder, missing-file, disk-full errors...);
* an instance of an exception class defined inside ``pointcept`` (``ConfigError``, dataset error
  classes), so that each layer can define its own without importing this module;
* a ``ValueError``/``OSError`` whose innermost ``pointcept`` frame is in ``pointcept/datasets/``
  (the readers report bad files with a plain ``ValueError`` naming the file);
* an ``OSError`` naming a file (missing file, permission denied...) or with ``errno.ENOSPC`` (no
  space left on device), wherever it was raised.

Every message names the file or the config key involved.

Exit codes of the command-line tools: :data:`EXIT_USER_ERROR` (1, as for an uncaught exception)
and :data:`EXIT_PREEMPTED` (3: stopped by SIGTERM/SIGUSR1 after writing a resumable checkpoint).
"""

import argparse
import errno
import logging
import os
import sys
import traceback
from collections.abc import Callable

EXIT_USER_ERROR = 1  # a user error, reported on one line (a Python traceback also exits 1)
EXIT_PREEMPTED = 3  # SIGTERM/SIGUSR1: the step finished, model_last.pth written; `-r true` continues

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DATASETS_DIR = os.path.join(_PKG_DIR, "datasets") + os.sep


class UserError(Exception):
    """A problem with the user's input that a message can explain; never a bug in the code."""


class MissingFileError(UserError, FileNotFoundError):
    """A file named in the config or on the command line does not exist."""


class DiskFullError(UserError, OSError):
    """A write failed because the device is full (``errno.ENOSPC``)."""

    def __init__(self, path: str, detail: str = ""):
        super().__init__(errno.ENOSPC, f"disk full while writing {path}" + (f" ({detail})" if detail else ""))
        self.path = path

    def __str__(self) -> str:
        return self.strerror


class SaveError(UserError, OSError):
    """A file could not be written (permission denied, read-only file system, I/O error)."""

    def __init__(self, path: str, reason: str, detail: str = ""):
        super().__init__(errno.EIO, f"cannot write {path}: {reason}" + (f" ({detail})" if detail else ""))
        self.path = path

    def __str__(self) -> str:
        return self.strerror


class NonFiniteError(UserError, FloatingPointError):
    """A training step produced a NaN/Inf loss or gradient (config ``nonfinite``), or a checkpoint
    was about to be written from non-finite weights."""


class SampleError(UserError, RuntimeError):
    """Loading one sample failed; the message names the dataset index, the file and the cause."""


class DataLoaderError(UserError, RuntimeError):
    """A data-loader worker hung past ``data_timeout`` or died; the message names the samples."""


def _raised_in(exc: BaseException, directory: str) -> bool:
    """True if the innermost frame of ``pointcept`` code in ``exc``'s traceback is in ``directory``."""
    ours = [
        f.filename
        for f in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(f.filename).startswith(_PKG_DIR + os.sep)
    ]
    return bool(ours) and os.path.abspath(ours[-1]).startswith(directory)


def is_user_error(exc: BaseException) -> bool:
    """True if ``exc`` should be reported as a message instead of a traceback (see module doc)."""
    if isinstance(exc, UserError):
        return True
    if type(exc).__module__.split(".")[0] == "pointcept":
        return True
    if isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or exc.filename is not None):
        return True
    return isinstance(exc, (ValueError, OSError)) and _raised_in(exc, _DATASETS_DIR)


def user_error_message(exc: BaseException) -> str:
    """The one-line report of a user error: the message, without the exception's class noise."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not isinstance(exc, DiskFullError):
        where = exc.filename or "a file"
        return f"disk full while writing {where} ({exc.strerror})"
    if isinstance(exc, SampleError) and "Original Traceback" in str(exc):
        # Re-raised from a DataLoader worker: the message is the worker's traceback; its last
        # line is the original one-line message.
        return str(exc).rstrip().splitlines()[-1].split("SampleError: ", 1)[-1]
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def _log_to_files(message: str) -> None:
    # The run's log file (train.log / test.log) should say why the run stopped; the console
    # already gets the message on stderr.
    logger = logging.getLogger("pointcept")
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--debug`` flag that :func:`run_cli` looks for: show the traceback of user errors."""
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of configuration/data errors"
    )


def run_cli(main: Callable[[], object], argv: list[str] | None = None) -> None:
    """Run a command-line tool's ``main``; a user error exits 1 with ``error: <message>`` on stderr.

    With ``--debug`` among the arguments (``argv``, default ``sys.argv[1:]``) the exception
    propagates with its traceback. Exceptions that are not user errors always do.
    """
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        main()
    except Exception as e:
        if debug or not is_user_error(e):
            raise
        message = user_error_message(e)
        _log_to_files(f"error: {message}")
        print(f"error: {message}\n(add --debug for the traceback)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
