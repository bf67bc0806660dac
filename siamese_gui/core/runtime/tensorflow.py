"""Start TensorFlow without its native log lines on the terminal."""

from __future__ import annotations

import contextlib
import os
import sys

from siamese_gui.core.runtime.memory import cap_malloc_arenas


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


def start_tensorflow() -> None:
    """Import TensorFlow and run its first operation with its log lines hidden."""
    if "tensorflow" in sys.modules:
        return
    cap_malloc_arenas()  # before any TensorFlow thread allocates
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_hidden():
        import tensorflow as tf

        tf.constant(0.0) + 0.0
