"""Start TensorFlow without its native log lines on the terminal."""

from __future__ import annotations

import sys

from siamese_gui.core.io.native import native_stderr_hidden
from siamese_gui.core.runtime.memory import cap_malloc_arenas

__all__ = ["native_stderr_hidden", "start_tensorflow"]

_started = False


def start_tensorflow() -> None:
    """Import TensorFlow (see `core.backend`) and run its first operation with its log lines hidden."""
    global _started
    if _started:
        return
    if "tensorflow" not in sys.modules:
        cap_malloc_arenas()  # before any TensorFlow thread allocates
    from siamese_gui.core.backend import tf

    with native_stderr_hidden():
        tf.constant(0.0) + 0.0
    _started = True
