"""Stop a training run cleanly when the cluster preempts it (SIGTERM or SIGUSR1).

While a :class:`PreemptionGuard` is installed, these signals only record their arrival: the step
in progress, and a checkpoint being written, run to completion (a second signal during the save
is recorded too and changes nothing). The trainer asks :meth:`PreemptionGuard.should_stop` after
every step; under DDP the answer is all-reduced, so every rank stops after the same step even
when the signal reached only some of them. The trainer then writes ``model_last.pth`` and the
command exits with ``EXIT_PREEMPTED`` (``pointcept/utils/errors.py``). SIGKILL cannot be caught;
the atomic checkpoint writes cover it.
"""

import signal
import threading

import torch

from pointcept.utils import comm

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class PreemptionGuard:
    """Context manager recording SIGTERM/SIGUSR1 instead of dying; handlers restored on exit.

    Signal handlers can only be installed from the main thread; elsewhere (a trainer run from a
    worker thread) the guard is inert and the signals keep their previous behaviour.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        self.signals = signals
        self.received: list[str] = []  # names, in order of arrival
        self._previous: dict[signal.Signals, object] = {}

    def _handle(self, signum: int, frame) -> None:
        # Only a list append: a handler runs between two bytecodes of the main thread, which may
        # hold the logging lock or be inside torch.save.
        self.received.append(signal.Signals(signum).name)

    def __enter__(self) -> "PreemptionGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def should_stop(self, device: torch.device) -> bool:
        """True on every rank if any rank received a stop signal (one all-reduce under DDP)."""
        flag = torch.tensor([1.0 if self.received else 0.0], device=device)
        return comm.all_reduce(flag).item() > 0

    def describe(self) -> str:
        """Why the run stops, as seen from this rank."""
        if not self.received:
            return "a stop signal received by another rank"
        return " then ".join(self.received)
