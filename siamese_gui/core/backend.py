"""TensorFlow and Keras, imported with their start-up lines hidden.

Every module of the package that needs them imports them from here
(`from siamese_gui.core.backend import keras, tf`), so whichever module a front end
imports first, TensorFlow's banners (CPU features, absl's "All log messages before
absl::InitializeLog()", missing CUDA) never reach the terminal. Below all layers, like
`errors.py`; importing it imports TensorFlow, so modules that must stay TensorFlow-free
import it lazily. `core.runtime.tensorflow.start_tensorflow` also runs the first op.
"""

from __future__ import annotations

import logging
import os

from siamese_gui.core.io.native import native_stderr_hidden

# Python-level info and warning logs of the C++ runtime; the lines it prints before its
# logging starts are hidden with the file descriptor below.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with native_stderr_hidden():
    import keras
    import tensorflow as tf

# Keras compiles every model's training and validation steps from one Python function
# (`TensorFlowTrainer._make_function`), and TensorFlow counts traces per function code:
# the first step of each new model (each training run) reads as that function
# retracing, and from the third run on it warns. Nothing outside Keras can give each
# model its own count, so exactly that warning is dropped; a retracing warning about any
# other function (a real one, in this package's graphs) still shows.
KERAS_STEP_FUNCTION = "TensorFlowTrainer._make_function.<locals>"


class _KerasStepRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and KERAS_STEP_FUNCTION in message)


tf.get_logger().addFilter(_KerasStepRetracing())

__all__ = ["keras", "tf"]
