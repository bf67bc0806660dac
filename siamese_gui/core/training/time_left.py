"""How long a training run has left, estimated from the steps measured so far.

The first steps of a run trace and compile the graph and take many times longer than
the rest; an estimate that counts them says "7:50 left" for a 13 s run. So the first
`WARMUP_STEPS` are left out, and no estimate is given until at least `MIN_STEPS`
steps over at least `MIN_SECONDS` have been measured after them.
"""

from __future__ import annotations

import time
from typing import Callable

WARMUP_STEPS = 2
MIN_STEPS = 5
MIN_SECONDS = 1.0


class TimeLeft:
    """Estimates the seconds left from the pace of the steps after the warm-up.

    Args:
        total: optimiser steps of the whole run.
        clock: seconds, monotonic (a parameter so that tests can drive it).
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter):
        self.total = int(total)
        self.clock = clock
        # Short runs keep at least MIN_STEPS measured steps after a shorter warm-up.
        self.warmup = max(0, min(WARMUP_STEPS, self.total - MIN_STEPS - 1))
        self._mark: tuple[int, float] | None = None

    def update(self, done: int) -> float | None:
        """Record that `done` steps are finished; return the seconds left, or None while
        too few steps have been measured for an honest estimate (0 once all are done)."""
        now = self.clock()
        if done >= self.total:
            return 0.0
        if done <= self.warmup:
            self._mark = (done, now)
            return None
        if self._mark is None:  # steps were missed: measure from here on
            self._mark = (done, now)
            return None
        steps, seconds = done - self._mark[0], now - self._mark[1]
        if steps < MIN_STEPS or seconds < MIN_SECONDS:
            return None
        return seconds / steps * (self.total - done)
