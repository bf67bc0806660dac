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


# Libraries whose Python warnings (deprecations, "constrained_layout not applied", NumPy's
# overflow notes) speak to their own callers, not to the person at the terminal.
LIBRARY_MODULES = r"(matplotlib|keras|tensorflow|tf2onnx|onnx|onnxruntime|numpy|openTSNE|sklearn|PIL|absl)(\.|$)"


@contextlib.contextmanager
def library_warnings_hidden():
    """Keep the libraries' Python warnings off the terminal while a command runs.

    The app's own messages are printed, not warned, so nothing of ours is lost.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=LIBRARY_MODULES)
        yield


def hide_library_warnings() -> None:
    """`library_warnings_hidden` for the rest of the process (the desktop app's entry)."""
    import warnings

    warnings.filterwarnings("ignore", module=LIBRARY_MODULES)
