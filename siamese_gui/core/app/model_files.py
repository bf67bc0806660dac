"""Saving a model with a threshold: the one use case behind File > Save model as… and
the Threshold panel's "Save threshold with model…".

The threshold goes in as one object (value, origin, detail) and the figures saved with
it are measured at it, on the validation pairs the model records where those images are
at hand (`core.evaluation.validation.figures_at`); otherwise the figures of another
threshold are dropped, with a note (`core.evaluation.threshold.write_threshold`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.evaluation.threshold import AT_THRESHOLD, Threshold, write_threshold
from siamese_gui.core.evaluation.validation import figures_at
from siamese_gui.core.runtime.handle import ModelHandle


def _figures(handle: ModelHandle, threshold: Threshold, validation: Dataset | None, should_stop) -> dict | None:
    stored = (handle.metadata.get("metrics") or {}).get(AT_THRESHOLD)
    if isinstance(stored, dict) and isinstance(stored.get("threshold"), (int, float)) and math.isclose(
            stored["threshold"], threshold.value, rel_tol=0.0, abs_tol=1e-12):
        return None  # already measured at this threshold: `write_threshold` keeps them
    return figures_at(handle.metadata, threshold, handle.embed, validation, should_stop)


def metadata_with_threshold(
    handle: ModelHandle,
    threshold: Threshold,
    validation: Dataset | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """The handle's metadata recording `threshold` and the figures at it.

    Args:
        handle: the model.
        threshold: the threshold to record.
        validation: the validation images at hand (the session's); the figures are
            measured on them only if they are the ones the model records.
        should_stop: polled between embedding batches.
    """
    return write_threshold(handle.metadata, threshold, _figures(handle, threshold, validation, should_stop))


def save_with_threshold(
    handle: ModelHandle,
    path: str | os.PathLike,
    threshold: Threshold,
    validation: Dataset | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Path, dict]:
    """Save the model to a new file with `threshold` and the figures at it.

    Returns:
        The path written and the metadata the file now holds.

    Raises:
        ModelFileError: if the model cannot be saved there.
    """
    from siamese_gui.core.runtime.store import read_metadata, save_model

    metadata = metadata_with_threshold(handle, threshold, validation, should_stop)
    # A handle running in LiteRT loads its Keras model (and TensorFlow) only now.
    written = save_model(handle.keras_model, path, metadata)
    return written, read_metadata(written)


def store_threshold_in(
    handle: ModelHandle,
    threshold: Threshold,
    validation: Dataset | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Write `threshold` and the figures at it into the handle's own model file.

    Returns:
        The file's new metadata (for the caller to give the handle, on its thread).

    Raises:
        ModelFileError: if the handle has no file, is read-only, or the file cannot be
            written.
    """
    from siamese_gui.core.runtime.store import store_threshold

    if handle.path is None or handle.read_only:
        where = handle.path or "the trained model"
        raise ModelFileError(f"{where}: has no file of the user's own to write the threshold into")
    figures = _figures(handle, threshold, validation, should_stop)
    return store_threshold(handle.path, threshold, figures)
