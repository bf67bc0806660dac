"""Embedding many images through a model handle while reporting progress."""

from __future__ import annotations

from typing import Callable

import numpy as np

from siamese_gui.core.inference import EMBED_BATCH, Cancelled

# Large enough that each call fills the model's own batches, small enough for smooth progress.
CHUNK = 4 * EMBED_BATCH


def embed_with_progress(
    handle,
    images: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    done: int = 0,
    total: int | None = None,
) -> np.ndarray:
    """Embed `images` with `handle.embed`, calling `progress(done, total)` after each chunk.

    Args:
        handle: a `core.inference.ModelHandle` (anything with `embed(images, should_stop)`).
        images: uint8 or float images (N, 28, 28).
        progress: told how many images are done, out of `total`.
        should_stop: polled between chunks; `Cancelled` is raised when it turns true.
        done: images already done before this call (when several calls share one bar).
        total: the total to report; `done + len(images)` when None.

    Returns:
        float32 embeddings (N, D).
    """
    total = done + len(images) if total is None else total
    parts = []
    for start in range(0, len(images), CHUNK):
        if should_stop is not None and should_stop():
            raise Cancelled()
        chunk = images[start : start + CHUNK]
        parts.append(np.asarray(handle.embed(chunk, should_stop=should_stop), np.float32))
        if progress is not None:
            progress(done + start + len(chunk), total)
    if not parts:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(parts)
