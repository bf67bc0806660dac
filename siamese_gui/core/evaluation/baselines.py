"""Training-free embedders to hold a trained model against: raw pixels, PCA and HOG,
and for colour images colour pixels and a colour histogram.

Each one maps images to float32 vectors (N, D) that are compared by Euclidean distance,
exactly as the model's embeddings are; every vector is scaled to unit length, so the
distance is a monotone function of the cosine similarity. Each baseline's threshold is
chosen on validation pairs, as the model's is.

Grey images are uint8 (N, 28, 28). Colour images are (N, H, W, 3) floats in [0, 1]
(uint8 0-255 is accepted too); the grey baselines see their luminance, area-resized to
28x28, and the colour ones their colour.
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
# Joined to `BASELINES` for colour images only, so grey data keeps its three rows.
COLOUR_BASELINES = ("colour-pixels", "colour-histogram")
PCA_COMPONENTS = 64
# Images the NumPy HOG takes at a time.
HOG_CHUNK = 500
# Most images PCA is fitted on: the covariance of a random sample of this many is
# indistinguishable from the full one and keeps the fit to a fraction of a second.
PCA_MAX_FIT = 10_000


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def is_colour(images: np.ndarray) -> bool:
    """Whether `images` is a batch of colour images, (N, H, W, 3)."""
    return np.ndim(images) == 4 and np.shape(images)[-1] == 3


def _unit_colour(images: np.ndarray) -> np.ndarray:
    """Colour images as float32 in [0, 1]: uint8 is scaled from 0-255, floats are kept."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def _area_resize(images: np.ndarray, side: int) -> np.ndarray:
    """Each image area-averaged to side x side (kept as it is when already that size)."""
    if images.shape[1:3] == (side, side):
        return images
    if not len(images):
        return np.zeros((0, side, side, *images.shape[3:]), images.dtype)
    return np.stack([cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA) for img in images]).reshape(
        len(images), side, side, *images.shape[3:]
    )


def luminance(images: np.ndarray) -> np.ndarray:
    """Colour images (N, H, W, 3) as uint8 grey (N, 28, 28): ITU-R BT.601 luminance (the
    weights OpenCV's grey conversion uses), area-resized to the grey baselines' size."""
    rgb = _unit_colour(images)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.round(_area_resize(grey, IMAGE_SIZE) * 255.0).astype(np.uint8)


def _check(images: np.ndarray) -> np.ndarray:
    """uint8 grey (N, 28, 28) as these baselines see images: other sizes and colour
    images (N, H, W, 3) are area-resized and taken as their luminance."""
    images = np.asarray(images)
    if is_colour(images):
        return luminance(images)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.ndim == 3 and images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) and len(images):
        images = _area_resize(np.ascontiguousarray(images), IMAGE_SIZE)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"expected images of shape (N, H, W) or (N, H, W, 3), got {images.shape}"
        )
    return images


def _check_colour(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) float32 in [0, 1]; grey (N, H, W) is repeated into three channels."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if not is_colour(images):
        raise ValueError(f"expected colour images of shape (N, H, W, 3), got {images.shape}")
    return _unit_colour(images)


COLOUR_PIXELS_SIZE = 32


class ColourPixelEmbedder:
    """Colour pixels: each image area-resized to 32x32x3, flattened to 3,072 values and
    scaled to unit length.

    The colour counterpart of `PixelEmbedder`; the mean is kept, because subtracting one
    mean over the three channels would still leave colour but remove how light the image
    is, which raw colour pixels are meant to compare.
    """

    name = "colour-pixels"

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return unit-length float32 vectors (N, 3072)."""
        x = _area_resize(_check_colour(images), COLOUR_PIXELS_SIZE)
        return _unit(x.reshape(len(x), COLOUR_PIXELS_SIZE * COLOUR_PIXELS_SIZE * 3))


HISTOGRAM_BINS = 8  # per channel: 8 x 8 x 8 = 512 joint RGB bins
# Pixels this far (RGB distance in [0, 1] units) from the border colour count fully as
# foreground; nearer ones count in proportion, down to `FOREGROUND_FLOOR`.
FOREGROUND_DISTANCE = 0.1
FOREGROUND_FLOOR = 0.01


def foreground_weights(images: np.ndarray) -> np.ndarray:
    """(N, H, W) weights in [FOREGROUND_FLOOR, 1]: how far each pixel's colour is from its
    image's background, the median colour of the one-pixel border.

    A drawing on a plain background (an icon composited onto white, a product on a
    sheet) is then described by its own colours, not by how much background surrounds it;
    a photo without a plain border still counts every pixel, at the floor at least.
    """
    x = _check_colour(images)
    if not len(x):
        return np.zeros(x.shape[:3], np.float32)
    border = np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)
    background = np.median(border, axis=1)
    distance = np.linalg.norm(x - background[:, None, None, :], axis=-1)
    return np.clip(distance / FOREGROUND_DISTANCE, FOREGROUND_FLOOR, 1.0).astype(np.float32)


class ColourHistogramEmbedder:
    """A joint RGB histogram (8 bins a channel, 512 in all), each pixel weighted by how
    much it is foreground (`foreground_weights`), L1-normalised and square-rooted.

    The square root (Hellinger's) gives unit-length vectors whose Euclidean distance is
    a monotone function of the Bhattacharyya coefficient, the usual similarity of two
    histograms; it ignores where colours are, so it sees colour and nothing else.
    """

    name = "colour-histogram"

    def __init__(self, bins: int = HISTOGRAM_BINS):
        self.bins = bins

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Return unit-length float32 vectors (N, bins ** 3)."""
        x = _check_colour(images)
        n, b = len(x), self.bins
        if not n:
            return np.zeros((0, b**3), np.float32)
        q = np.minimum((x * b).astype(np.int64), b - 1)
        cell = (q[..., 0] * b + q[..., 1]) * b + q[..., 2]
        index = (np.arange(n)[:, None, None] * b**3 + cell).ravel()
        hist = np.bincount(index, weights=foreground_weights(x).ravel(), minlength=n * b**3).reshape(n, b**3)
        hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1e-12)
        return _unit(np.sqrt(hist))


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
        train_images: uint8 images (N, 28, 28), or colour ones (their luminance is
            used), to fit on; only these are used, so the components never see the
            images being compared.
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
    """Return the baselines by name; PCA is fitted on `train_images` only.

    Grey images get the three of `BASELINES`; colour images (N, H, W, 3) those three (on
    their luminance) and the two of `COLOUR_BASELINES`.
    """
    found = {
        "pixels": PixelEmbedder(),
        "pca": PCAEmbedder(train_images, seed=seed),
        "hog": HOGEmbedder(),
    }
    if is_colour(train_images):
        found |= {"colour-pixels": ColourPixelEmbedder(), "colour-histogram": ColourHistogramEmbedder()}
    return found


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
        embed: maps images (as `val_images` and `test_images` hold them) to vectors (N, D).
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
    """Score the baselines of `make_baselines` on the same pairs, each with its own threshold.

    Args:
        train_images: images the model trained on; PCA is fitted on these.
        val_images: images that `val_pairs` index (threshold choice).
        val_pairs: validation pairs.
        test_images: images that `test_pairs` index.
        test_pairs: the pairs reported on.
        seed: seeds PCA's fitting sample.

    Returns:
        A `BaselineScore` per baseline name, in the order of `BASELINES` (then
        `COLOUR_BASELINES` for colour images).
    """
    return {
        name: score_embedder(embedder.embed, name, val_images, val_pairs, test_images, test_pairs)
        for name, embedder in make_baselines(train_images, seed).items()
    }


def rank_baselines(test_images: np.ndarray, test_pairs: Pairs) -> dict[str, EvaluationReport]:
    """AUC and EER of the baselines that need no fitting (raw pixels, HOG, and for colour
    images colour pixels and the colour histogram) on test pairs.

    For images without a model's validation pairs beside them (a folder of new classes),
    where no threshold can be chosen for them and PCA has no training images to fit on.
    """
    embedders = [PixelEmbedder(), HOGEmbedder()]
    if is_colour(test_images):
        embedders += [ColourPixelEmbedder(), ColourHistogramEmbedder()]
    return {
        e.name: evaluate_distances(pair_distances(e.embed(test_images), test_pairs), test_pairs.same)
        for e in embedders
    }
