"""Whitening of the gradient histograms, learned from the training classes.

Gradient histograms of images of one class vary along a few directions (stroke width,
slant, small shifts) that say little about the class. Scaling each direction by how much
same-class images spread along it, measured on the training classes, turns that spread
down and what tells classes apart up, and it carries over to classes the model never
saw where those share the nuisances (letters and symbols in many fonts), not where they
share little (garments against bags). A run therefore chooses on held-out classes whether
to use it (`core.share_choice`).

The map is x -> unit((x - mean) @ W), W = C^(-1/2), where C is the within-class
covariance shrunk half-way towards its mean variance (a few classes of few images do not
pin down 648 directions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# How far the within-class covariance is pulled towards a multiple of the identity.
SHRINKAGE = 0.5
# Histograms embedded at a time while the covariance is gathered.
CHUNK = 4096


@dataclass(frozen=True)
class Whitening:
    """A learned linear map of the histograms: `(x - mean) @ matrix`, then unit length.

    Attributes:
        mean: the training images' mean histograms (float32).
        matrix: the symmetric whitening matrix (float32, square).
        images: how many images it was learned from.
        classes: from how many classes.
    """

    mean: np.ndarray
    matrix: np.ndarray
    images: int
    classes: int

    def apply(self, histograms: np.ndarray) -> np.ndarray:
        """Whitened, unit-length vectors of unit-length histograms (rows)."""
        mapped = (np.asarray(histograms, np.float64) - self.mean) @ self.matrix
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        return (mapped / np.maximum(norms, 1e-12)).astype(np.float32)


def learn_whitening(
    histograms_of: Callable[[np.ndarray], np.ndarray], indices: np.ndarray, labels: np.ndarray
) -> Whitening | None:
    """Learn the whitening from images of known classes, a chunk at a time.

    Args:
        histograms_of: returns the histograms of the images at some indices.
        indices: the images to learn from.
        labels: their classes (aligned with `indices`).

    Returns:
        The whitening, or None where there is nothing to learn (fewer than two classes,
        or images of each class all alike).
    """
    classes, class_of = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        return None
    sums = None
    scatter = None
    for start in range(0, len(indices), CHUNK):
        vectors = np.asarray(histograms_of(indices[start : start + CHUNK]), np.float64)
        if sums is None:
            sums = np.zeros((len(classes), vectors.shape[1]))
            scatter = np.zeros((vectors.shape[1], vectors.shape[1]))
        np.add.at(sums, class_of[start : start + CHUNK], vectors)
        scatter += vectors.T @ vectors
    counts = np.bincount(class_of, minlength=len(classes)).astype(np.float64)
    # Within-class scatter: all outer products less each class's mean outer product.
    within = (scatter - (sums.T / counts) @ sums) / len(indices)
    dim = within.shape[0]
    spread = np.trace(within) / dim
    if not spread > 1e-12:
        return None
    shrunk = (1.0 - SHRINKAGE) * within + SHRINKAGE * spread * np.eye(dim)
    values, vectors = np.linalg.eigh((shrunk + shrunk.T) / 2.0)
    matrix = (vectors * np.maximum(values, SHRINKAGE * spread) ** -0.5) @ vectors.T
    mean = sums.sum(axis=0) / len(indices)
    return Whitening(mean.astype(np.float32), matrix.astype(np.float32), len(indices), len(classes))
