"""Training-free embedders to hold a trained model against: raw pixels, PCA and HOG.

Each one maps uint8 images (N, 28, 28) to float32 vectors (N, D) that are compared by
Euclidean distance, exactly as the model's embeddings are; every vector is scaled to
unit length, so the distance is a monotone function of the cosine similarity. Each
baseline's threshold is chosen on validation pairs, as the model's is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from siamese_gui.core.data.pairs import Pairs
from siamese_gui.core.evaluation.metrics import (
    EvaluationReport,
    ThresholdMetrics,
    evaluate_distances,
    max_accuracy_threshold,
    metrics_at,
    pair_distances,
)
from siamese_gui.core.io.images import IMAGE_SIZE

BASELINES = ("pixels", "pca", "hog")
PCA_COMPONENTS = 64
# Images the NumPy HOG takes at a time.
HOG_CHUNK = 500
# Most images PCA is fitted on: the covariance of a random sample of this many is
# indistinguishable from the full one and keeps the fit to a fraction of a second.
PCA_MAX_FIT = 10_000


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {images.shape}")
    return images


class PixelEmbedder:
    """Raw pixels: each image flattened to 784 values, its mean subtracted, scaled to
    unit length.

    The distance is then a function of the normalised cross-correlation, blind to
    brightness and contrast. Of plain, unit-length and zero-mean unit-length pixels it
    separated unseen Fashion-MNIST classes best, so it is the fairest comparison.
    """

    name = "pixels"

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return unit-length float32 vectors (N, 784)."""
        images = _check(images)
        x = images.reshape(len(images), IMAGE_SIZE * IMAGE_SIZE).astype(np.float32) / 255.0
        return _unit(x - x.mean(axis=1, keepdims=True))


class PCAEmbedder:
    """Raw pixels projected onto the leading principal components of training images.

    Args:
        train_images: uint8 images (N, 28, 28) to fit on; only these are used, so the
            components never see the images being compared.
        components: number of components kept (at most N - 1 and 784).
        seed: seeds the sample of at most `PCA_MAX_FIT` images fitted on.
    """

    name = "pca"

    def __init__(self, train_images: np.ndarray, components: int = PCA_COMPONENTS, seed: int = 0):
        train_images = _check(train_images)
        if len(train_images) < 2:
            raise ValueError("PCA needs at least 2 training images")
        if len(train_images) > PCA_MAX_FIT:
            rng = np.random.default_rng(seed)
            train_images = train_images[rng.choice(len(train_images), PCA_MAX_FIT, replace=False)]
        x = train_images.reshape(len(train_images), -1).astype(np.float64) / 255.0
        self.mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        k = max(1, min(components, len(x) - 1, vt.shape[0]))
        self.components = vt[:k].astype(np.float32)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return unit-length float32 projections (N, components)."""
        images = _check(images)
        x = images.reshape(len(images), IMAGE_SIZE * IMAGE_SIZE).astype(np.float32) / 255.0
        return _unit((x - self.mean.astype(np.float32)) @ self.components.T)


HOG_CELL = 7
HOG_BLOCK = 14
HOG_BINS = 9
HOG_BLOCKS_PER_SIDE = (IMAGE_SIZE - HOG_BLOCK) // HOG_CELL + 1  # blocks every cell: 3 on 28 pixels


def _hog_axis_weights() -> np.ndarray:
    """(2, 14): how much each pixel row (or column) of a block counts towards its first
    and second cell: a Gaussian window over the block times linear interpolation
    between the two cell centres.

    Each axis takes the square root of a Gaussian of sigma 3.5 (OpenCV's default), so
    the window over the block, their product, is a Gaussian of sigma 3.5 * sqrt(2)
    (about 4.95): wider than OpenCV's. The models' `GradientHistograms` layer is built
    from these weights (they are not saved with a model), so they stay as they are:
    changing them would move the distances of every saved model away from its threshold.
    """
    pos = np.arange(HOG_BLOCK) + 0.5
    sigma = (HOG_BLOCK + HOG_BLOCK) / 8
    gauss = np.exp(-((np.arange(HOG_BLOCK) - HOG_BLOCK / 2) ** 2) / (2 * sigma**2))
    centres = np.array([0.5, 1.5]) * HOG_CELL
    tent = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - centres[:, None]) / HOG_CELL)
    return tent * np.sqrt(gauss)[None, :]


def numpy_hog(images: np.ndarray, bins: int = HOG_BINS, signed: bool = False) -> np.ndarray:
    """HOG vectors (N, 324) computed with numpy, in the layout of `HOGEmbedder`.

    OpenCV's `HOGDescriptor` recipe with that layout: centred [-1, 0, 1] gradients
    (borders reflected), 9 unsigned orientation bins with linear interpolation between
    bin centres, a Gaussian window over each block, linear interpolation between
    cells, and L2-Hys block normalisation (clipped at 0.2); only the window is wider
    than OpenCV's (sigma about 4.95, not 3.5; see `_hog_axis_weights`).
    """
    n_bins = bins
    x = np.asarray(images, np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    magnitude = np.sqrt(gx * gx + gy * gy)
    period = 2 * np.pi if signed else np.pi
    angle = np.mod(np.arctan2(gy, gx), period) * (n_bins / period) - 0.5
    low = np.floor(angle)
    frac = angle - low
    low = low.astype(np.int64) % n_bins
    hist_in = np.zeros((*x.shape, n_bins), np.float32)
    np.put_along_axis(hist_in, low[..., None], (magnitude * (1 - frac))[..., None], axis=-1)
    high = (low + 1) % n_bins
    np.put_along_axis(
        hist_in, high[..., None], np.take_along_axis(hist_in, high[..., None], -1) + (magnitude * frac)[..., None], -1
    )
    weights = _hog_axis_weights().astype(np.float32)
    steps = HOG_BLOCKS_PER_SIDE
    blocks = []
    for by in range(steps):
        for bx in range(steps):
            patch = hist_in[:, by * HOG_CELL : by * HOG_CELL + HOG_BLOCK, bx * HOG_CELL : bx * HOG_CELL + HOG_BLOCK]
            hist = np.einsum("cy,dx,nyxk->ncdk", weights, weights, patch).reshape(len(x), -1)
            hist /= np.linalg.norm(hist, axis=1, keepdims=True) + 0.1 * hist.shape[1]
            hist = np.minimum(hist, 0.2)
            hist /= np.linalg.norm(hist, axis=1, keepdims=True) + 1e-3
            blocks.append(hist)
    # OpenCV's order: blocks, and the cells inside each block, column by column.
    hog = np.stack(blocks, axis=1).reshape(len(x), steps, steps, 2, 2, n_bins)
    return hog.transpose(0, 2, 1, 4, 3, 5).reshape(len(x), -1)


class HOGEmbedder:
    """Histograms of oriented gradients, as OpenCV's `cv2.HOGDescriptor` computes them.

    The whole 28x28 image is one detection window of 4x4 cells of 7x7 pixels, 9
    unsigned orientation bins, blocks of 2x2 cells moved one cell at a time (3x3
    blocks, each L2-Hys normalised): 324 values per image. OpenCV 5 moved
    `HOGDescriptor` out of its main modules; where it is missing, `numpy_hog` computes
    the same recipe with a wider block window (vectors within about 2 % in cosine).
    """

    name = "hog"

    def __init__(self):
        self.descriptor = None
        if hasattr(cv2, "HOGDescriptor"):
            self.descriptor = cv2.HOGDescriptor(
                (IMAGE_SIZE, IMAGE_SIZE),  # window
                (HOG_BLOCK, HOG_BLOCK),  # block: 2x2 cells
                (HOG_CELL, HOG_CELL),  # block stride: one cell
                (HOG_CELL, HOG_CELL),  # cell
                HOG_BINS,  # orientation bins over 0-180 degrees
            )

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return unit-length float32 HOG vectors (N, 324)."""
        images = _check(images)
        if self.descriptor is None:
            if not len(images):
                return np.zeros((0, 324), np.float32)
            # A chunk at a time: its per-pixel votes take about 70 kB an image (700 MB for 10,000).
            return _unit(np.concatenate([numpy_hog(images[start : start + HOG_CHUNK])
                                         for start in range(0, len(images), HOG_CHUNK)]))
        if len(images) == 0:
            return np.zeros((0, self.descriptor.getDescriptorSize()), np.float32)
        vectors = np.stack(
            [self.descriptor.compute(np.ascontiguousarray(img, dtype=np.uint8)).ravel() for img in images]
        )
        return _unit(vectors)


def make_baselines(train_images: np.ndarray, seed: int = 0) -> dict:
    """Return the three baselines by name; PCA is fitted on `train_images` only."""
    return {
        "pixels": PixelEmbedder(),
        "pca": PCAEmbedder(train_images, seed=seed),
        "hog": HOGEmbedder(),
    }


@dataclass(frozen=True)
class BaselineScore:
    """One embedder scored on test pairs at a threshold chosen on validation pairs.

    Attributes:
        name: the embedder's name.
        threshold: the max-accuracy threshold on the validation pairs.
        test: AUC, EER and best accuracy on the test pairs.
        at_threshold: accuracy, FAR, FRR ... on the test pairs at `threshold`.
    """

    name: str
    threshold: float
    test: EvaluationReport
    at_threshold: ThresholdMetrics


def score_embedder(
    embed,
    name: str,
    val_images: np.ndarray,
    val_pairs: Pairs,
    test_images: np.ndarray,
    test_pairs: Pairs,
) -> BaselineScore:
    """Score any embedding function the way the model is scored.

    Args:
        embed: maps uint8 images (N, 28, 28) to vectors (N, D).
        name: a label for the result.
        val_images: images that `val_pairs` index; the threshold is chosen on them.
        val_pairs: validation pairs.
        test_images: images that `test_pairs` index.
        test_pairs: the pairs the result reports on.
    """
    val_d = pair_distances(embed(val_images), val_pairs)
    _, threshold = max_accuracy_threshold(val_d, val_pairs.same)
    test_d = pair_distances(embed(test_images), test_pairs)
    return BaselineScore(
        name=name,
        threshold=threshold,
        test=evaluate_distances(test_d, test_pairs.same),
        at_threshold=metrics_at(test_d, test_pairs.same, threshold),
    )


def score_baselines(
    train_images: np.ndarray,
    val_images: np.ndarray,
    val_pairs: Pairs,
    test_images: np.ndarray,
    test_pairs: Pairs,
    seed: int = 0,
) -> dict[str, BaselineScore]:
    """Score raw pixels, PCA and HOG on the same pairs, each with its own threshold.

    Args:
        train_images: uint8 images the model trained on; PCA is fitted on these.
        val_images: uint8 images that `val_pairs` index (threshold choice).
        val_pairs: validation pairs.
        test_images: uint8 images that `test_pairs` index.
        test_pairs: the pairs reported on.
        seed: seeds PCA's fitting sample.

    Returns:
        A `BaselineScore` per baseline name, in the order of `BASELINES`.
    """
    return {
        name: score_embedder(embedder.embed, name, val_images, val_pairs, test_images, test_pairs)
        for name, embedder in make_baselines(train_images, seed).items()
    }


def rank_baselines(test_images: np.ndarray, test_pairs: Pairs) -> dict[str, EvaluationReport]:
    """AUC and EER of the baselines that need no fitting (raw pixels, HOG) on test pairs.

    For images without a model's validation pairs beside them (a folder of new classes),
    where no threshold can be chosen for them and PCA has no training images to fit on.
    """
    return {
        name: evaluate_distances(pair_distances(embedder.embed(test_images), test_pairs), test_pairs.same)
        for name, embedder in (("pixels", PixelEmbedder()), ("hog", HOGEmbedder()))
    }
