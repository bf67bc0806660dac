"""How long a training run has left, estimated from the steps measured so far.

The first steps of a run trace and compile the graph and take many times longer than
the rest; an estimate that counts them says "7:50 left" for a 13 s run. So the first
`WARMUP_STEPS` are left out, and no estimate is given until at least `MIN_STEPS`
steps over at least `MIN_SECONDS` have been measured after them. The pace is that of
the more recent half of the measured steps, so an estimate made while the first steps
were still slow (caches warming, another program busy) catches up with the pace now.
"""

from __future__ import annotations

import time
from collections import deque
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
        self._samples: deque[tuple[int, float]] = deque()  # (steps done, time) after the warm-up
        self._start: tuple[int, float] | None = None  # the end of the warm-up

    def update(self, done: int) -> float | None:
        """Record that `done` steps are finished; return the seconds left, or None while
        too few steps have been measured for an honest estimate (0 once all are done)."""
        now = self.clock()
        if done >= self.total:
            return 0.0
        samples = self._samples
        if done <= self.warmup or self._start is None:  # measured from the end of the warm-up
            samples.clear()
            self._start = (done, now)
        samples.append((done, now))
        first, started = self._start
        if done - first < MIN_STEPS or now - started < MIN_SECONDS:
            return None
        # Measure over the recent half of the steps since the warm-up (MIN_STEPS at least).
        window = max(MIN_STEPS, (done - first) // 2)
        while len(samples) > 2 and samples[1][0] <= done - window:
            samples.popleft()
        steps, seconds = done - samples[0][0], now - samples[0][1]
        return seconds / steps * (self.total - done)
