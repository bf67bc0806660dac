"""Embedding images in batches: the model's input scaling, cancellation and progress.

NumPy only: every runtime (Keras, LiteRT, ONNX) is an `Embedder` callable.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from siamese_gui.core.errors import Cancelled, ModelFileError

# Large enough to keep the CPU busy, small enough to keep activations under ~50 MB.
EMBED_BATCH = 256


class Embedder(Protocol):
    """Maps a float32 batch (N, 28, 28, 1) in [0, 1] to embeddings (N, D)."""

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def to_model_input(images: np.ndarray) -> np.ndarray:
    """Scale uint8 (N, 28, 28) or float (N, 28, 28) images to float32 (N, 28, 28, 1)."""
    images = np.asarray(images)
    scaled = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    return scaled[..., None] if scaled.ndim == 3 else scaled


def embed_in_batches(
    embedder: Embedder,
    images: np.ndarray,
    should_stop: Callable[[], bool] | None = None,
    source: str = "the model",
) -> np.ndarray:
    """Embed uint8 or float images (N, 28, 28) batch by batch (see `ModelHandle.embed`)."""
    outputs = []
    for start in range(0, len(images), EMBED_BATCH):
        if should_stop is not None and should_stop():
            raise Cancelled()
        outputs.append(np.asarray(embedder(to_model_input(images[start : start + EMBED_BATCH]))))
    if not outputs:
        return np.zeros((0, 0), np.float32)
    vectors = np.concatenate(outputs).astype(np.float32, copy=False)
    if not np.all(np.isfinite(vectors)):
        raise ModelFileError(
            f"{source}: produces non-finite embeddings (NaN or infinity); its weights are unusable"
        )
    return vectors


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
