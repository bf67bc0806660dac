"""What native libraries print: hidden where it would bury the app's own words."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_hidden():
    """Hide what native libraries write straight to the stderr file descriptor.

    TensorFlow writes start-up lines (CPU features, missing CUDA) whatever
    `TF_CPP_MIN_LOG_LEVEL` says, and libpng/libjpeg print their own complaints about
    corrupt files; either would bury the one-line error the CLI promises.
    """
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a GUI process on Windows): nothing to hide
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
