"""Process memory: a cap on glibc's malloc arenas for TensorFlow's worker threads."""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
MALLOC_ARENAS = 2


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap this process's malloc arenas at `arenas`; returns True if malloc took it.

    glibc gives threads that allocate at once arenas of their own (up to eight per
    core), and each keeps the memory freed into it. With two, a training run's peak
    resident memory fell by about 50-100 MiB (benchmarks/results-open-set.md). A fixed
    mmap threshold lowered it further but doubled the training's CPU time (the kernel
    faulting pages in), so it is not set. `MALLOC_ARENA_MAX` in the environment wins,
    and a C library other than glibc is left alone.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, int(arenas)))
    except (OSError, AttributeError):
        return False
