"""Optional wall-clock timing of the phases of a training step, for the benchmarks.

Code that has phases takes ``timer: PhaseTimer | None`` and wraps each phase in
``phase(timer, name)``: with no timer that is one shared ``nullcontext`` (nothing is measured,
nothing changes); with a timer the phase's wall seconds are added to ``timer.seconds[name]`` and
the phase is a ``torch.profiler.record_function`` range, so it also shows up in a profile.
Phases may nest; each name accumulates its own total, so a nested phase is counted in its
parent as well.
"""

import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import torch

_OFF = nullcontext()


class PhaseTimer:
    """Accumulated wall seconds per phase name. ``synchronize`` (e.g. ``torch.cuda.synchronize``)
    runs at both ends of every phase, so asynchronous device work is charged to the phase that
    queued it."""

    def __init__(self, synchronize: Callable[[], None] | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self.synchronize = synchronize

    @contextmanager
    def phase(self, name: str):
        with torch.profiler.record_function(name):
            if self.synchronize is not None:
                self.synchronize()
            start = time.perf_counter()
            try:
                yield
            finally:
                if self.synchronize is not None:
                    self.synchronize()
                self.seconds[name] += time.perf_counter() - start


def phase(timer: PhaseTimer | None, name: str):
    """``timer.phase(name)``, or a no-op context when ``timer`` is None."""
    return _OFF if timer is None else timer.phase(name)
