"""Process memory: how glibc's malloc serves TensorFlow's large, short-lived buffers."""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt's parameter numbers in glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
MMAP_THRESHOLD_BYTES = 128 * 1024


def tune_malloc(arenas: int = MALLOC_ARENAS, mmap_threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Make freed tensor memory go back to the system; returns True if malloc took it.

    By default glibc raises its mmap threshold each time a large block is freed, so
    that after a while the batches of a training run are carved from the heap, which
    keeps what they freed; and threads that allocate at once get arenas of their own
    (up to eight per core), each keeping its own. A fixed threshold of 128 KiB and two
    arenas lowered a training run's peak resident memory by about 200 MiB
    (benchmarks/results-open-set.md). Settings given in the environment
    (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) are left alone, as is any C library
    other than glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    done = True
    if "MALLOC_ARENA_MAX" not in os.environ:
        done = bool(mallopt(_M_ARENA_MAX, int(arenas))) and done
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and done
    return done
