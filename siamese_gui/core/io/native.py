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
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
