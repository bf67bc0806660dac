"""Training-free baselines: shapes, unit length, PCA fitted on training images only,
the numpy HOG against a reference written pixel by pixel from the definition (and
against OpenCV where it still has `HOGDescriptor`), scoring uses validation thresholds."""

import math

import numpy as np
import pytest

from siamese_gui.core.data.pairs import balanced_pairs
from siamese_gui.core.evaluation import baselines
from siamese_gui.core.evaluation.baselines import (
    BASELINES,
    HOGEmbedder,
    PCAEmbedder,
    PixelEmbedder,
    score_baselines,
)
from siamese_gui.core.evaluation.metrics import max_accuracy_threshold, pair_distances


@pytest.mark.parametrize("embedder", [PixelEmbedder(), HOGEmbedder()], ids=["pixels", "hog"])
def test_embedders_give_unit_float32_vectors(embedder, tiny_dataset):
    vectors = embedder.embed(tiny_dataset.images)
    assert vectors.dtype == np.float32 and vectors.shape[0] == len(tiny_dataset)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.embed(tiny_dataset.images[:0]).shape == (0, vectors.shape[1])


def test_pixels_ignore_brightness_and_offset(tiny_dataset):
    image = tiny_dataset.images[:1].astype(np.float64)
    dimmer = np.round(image * 0.5 + 20).astype(np.uint8)
    a, b = PixelEmbedder().embed(np.concatenate([image.astype(np.uint8), dimmer]))
    assert np.linalg.norm(a - b) < 0.05


def test_hog_has_opencv_layout_and_separates_shapes(tiny_dataset):
    vectors = HOGEmbedder().embed(tiny_dataset.images)
    assert vectors.shape[1] == 324
    pairs = balanced_pairs(tiny_dataset.labels, seed=1)
    d = pair_distances(vectors, pairs)
    assert d[pairs.same].mean() < d[~pairs.same].mean()


def reference_hog(image: np.ndarray) -> np.ndarray:
    """HOG of one 28x28 image, pixel by pixel, from Dalal & Triggs (2005) with the
    parameters and the conventions of OpenCV's `HOGDescriptor` (the layout `HOGEmbedder`
    promises): a 28x28 window, blocks of 2x2 cells of 7x7 pixels moved one cell at a
    time, 9 unsigned orientation bins.

    Each pixel votes its gradient magnitude (centred [-1, 0, 1] differences, the border
    reflected without repeating the edge pixel) into the two orientation bins whose
    centres are nearest its angle and into the cells whose centres surround it, each
    linearly by distance ("trilinear interpolation"), weighted by a Gaussian over the
    block centred on pixel index 7 as OpenCV centres it. Its sigma is this app's, not
    OpenCV's: sqrt(2) x OpenCV's (14 + 14) / 8 (the models' histogram layer is built with
    that window; see `baselines._hog_axis_weights`). Each block is
    L2-Hys normalised as OpenCV does: divided by its norm + 0.1 x its length, clipped
    at 0.2, divided by its norm + 0.001. Blocks, and cells inside a block, go column
    by column.
    """
    size, cell, block, bins = 28, 7, 14, 9
    pixels = [[float(v) for v in row] for row in image]

    def at(y: int, x: int) -> float:
        y = -y if y < 0 else 2 * (size - 1) - y if y >= size else y
        x = -x if x < 0 else 2 * (size - 1) - x if x >= size else x
        return pixels[y][x]

    sigma = math.sqrt(2) * (block + block) / 8
    descriptor = []
    for bx in range(3):  # block columns first
        for by in range(3):
            hist = [[[0.0] * bins for _ in range(2)] for _ in range(2)]  # [cell x][cell y][bin]
            for i in range(block):  # row inside the block
                for j in range(block):  # column inside the block
                    y, x = by * cell + i, bx * cell + j
                    gx = at(y, x + 1) - at(y, x - 1)
                    gy = at(y + 1, x) - at(y - 1, x)
                    magnitude = math.hypot(gx, gy)
                    if magnitude == 0:
                        continue
                    angle = math.atan2(gy, gx) % math.pi  # unsigned: 0 to 180 degrees
                    position = angle / (math.pi / bins) - 0.5  # in bin widths from the first centre
                    first = math.floor(position)
                    share = position - first
                    votes = {first % bins: 1 - share}
                    votes[(first + 1) % bins] = votes.get((first + 1) % bins, 0.0) + share
                    window = math.exp(-((i - block / 2) ** 2 + (j - block / 2) ** 2) / (2 * sigma**2))
                    for cx in range(2):
                        wx = max(0.0, 1 - abs(j + 0.5 - (cx + 0.5) * cell) / cell)
                        for cy in range(2):
                            wy = max(0.0, 1 - abs(i + 0.5 - (cy + 0.5) * cell) / cell)
                            for b, w in votes.items():
                                hist[cx][cy][b] += magnitude * window * wx * wy * w
            values = [v for cx in range(2) for cy in range(2) for v in hist[cx][cy]]
            norm = math.sqrt(sum(v * v for v in values))
            values = [min(v / (norm + 0.1 * len(values)), 0.2) for v in values]
            norm = math.sqrt(sum(v * v for v in values))
            descriptor += [v / (norm + 1e-3) for v in values]
    return np.array(descriptor)


def _hog_images() -> np.ndarray:
    """Shapes, noise and sharp edges, so every orientation and both borders get votes."""
    from helpers import make_dataset

    rng = np.random.default_rng(4)
    shapes = make_dataset(per_class=1, num_classes=4).images
    noise = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    square = np.zeros((28, 28), np.uint8)
    square[5:20, 9:25] = 255
    return np.concatenate([shapes, noise, square[None]])


def test_numpy_hog_matches_the_reference_definition():
    images = _hog_images()
    got = baselines.numpy_hog(images)
    assert got.shape == (len(images), 324)
    for image, vector in zip(images, got):
        np.testing.assert_allclose(vector, reference_hog(image), rtol=1e-4, atol=1e-6)


def _cells(vector: np.ndarray) -> np.ndarray:
    return vector.reshape(-1, 9)  # 9 blocks x 4 cells, 9 bins each


def test_hog_of_ramps_by_hand():
    """Worked by hand: a ramp down the image has every gradient at 90 degrees, the centre of
    bin 4, so bin 4 holds every vote; a ramp across has them at 0 degrees, half-way
    between the centres of bins 8 (170) and 0 (10), so those two split every vote evenly.
    A blank image has no gradient at all."""
    rows = np.arange(28, dtype=np.float32)
    down = np.repeat(rows[:, None] * 9, 28, axis=1)
    across = down.T
    down_cells, across_cells = _cells(baselines.numpy_hog(down[None])[0]), _cells(baselines.numpy_hog(across[None])[0])
    assert np.all(down_cells[:, 4] > 0) and np.allclose(np.delete(down_cells, 4, axis=1), 0)
    assert np.all(across_cells[:, 0] > 0) and np.allclose(across_cells[:, 0], across_cells[:, 8])
    assert np.allclose(across_cells[:, 1:8], 0)
    # Every cell of a block holds about the same vote, over 0.2 of the block's norm, so
    # L2-Hys clips them all to 0.2: a block of k equal values then reads
    # 0.2 / (sqrt(k) * 0.2 + 0.001), with k = 4 cells for the ramp down, 8 across.
    np.testing.assert_allclose(down_cells[:, 4], 0.2 / (2 * 0.2 + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(across_cells[:, [0, 8]], 0.2 / (math.sqrt(8) * 0.2 + 1e-3), rtol=1e-5)
    assert not baselines.numpy_hog(np.zeros((1, 28, 28), np.float32)).any()


@pytest.mark.skipif(not hasattr(baselines.cv2, "HOGDescriptor"), reason="this OpenCV has no HOGDescriptor")
def test_numpy_hog_matches_opencv_where_it_has_hog():
    images = _hog_images()
    expected = HOGEmbedder().embed(images)
    got = baselines._unit(baselines.numpy_hog(images))
    # The same recipe but for the wider block window: close, not equal.
    assert np.min(np.sum(expected * got, axis=1)) > 0.98


def test_hog_embedder_uses_numpy_without_opencvs_hog(monkeypatch):
    monkeypatch.delattr(baselines.cv2, "HOGDescriptor", raising=False)
    fallback = HOGEmbedder()
    assert fallback.descriptor is None
    images = _hog_images()
    np.testing.assert_allclose(fallback.embed(images), baselines._unit(baselines.numpy_hog(images)), rtol=1e-6)


def test_pca_is_fitted_on_training_images_only(tiny_dataset):
    rng = np.random.default_rng(0)
    train = tiny_dataset.images[:24]
    pca = PCAEmbedder(train, components=5)
    assert pca.components.shape == (5, 784)
    np.testing.assert_allclose(pca.mean, train.reshape(24, -1).mean(0) / 255, atol=1e-6)
    other = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    assert PCAEmbedder(train, components=5).embed(other).shape == (3, 5)
    # More components than images: capped at N - 1.
    assert PCAEmbedder(train[:4], components=64).components.shape[0] == 3


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="N, H, W"):
        PixelEmbedder().embed(np.zeros((2, 32, 32, 2), np.uint8))
    with pytest.raises(ValueError, match="2 training images"):
        PCAEmbedder(np.zeros((1, 28, 28), np.uint8))


def test_other_sizes_and_colour_are_seen_as_grey_28():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert PixelEmbedder().embed(colour).shape == (3, 784)
    grey = np.repeat(rng.integers(0, 256, (3, 56, 56, 1), dtype=np.uint8), 3, axis=3)
    # A grey image stored as colour is its grey self, area-resized.
    assert np.allclose(PixelEmbedder().embed(grey), PixelEmbedder().embed(grey[..., 0]), atol=1e-2)


def test_score_baselines_uses_the_validation_threshold(dataset_factory):
    train = dataset_factory(per_class=10, seed=1)
    val = dataset_factory(per_class=6, seed=2)
    test = dataset_factory(per_class=6, seed=3)
    val_pairs = balanced_pairs(val.labels, seed=1)
    test_pairs = balanced_pairs(test.labels, seed=0)
    scores = score_baselines(train.images, val.images, val_pairs, test.images, test_pairs)
    assert tuple(scores) == BASELINES
    for name, score in scores.items():
        embed = baselines.make_baselines(train.images)[name].embed
        _, expected = max_accuracy_threshold(pair_distances(embed(val.images), val_pairs), val_pairs.same)
        assert score.threshold == pytest.approx(expected)
        assert score.at_threshold.threshold == score.threshold
        assert score.test.pairs == len(test_pairs)
        assert 0.5 < score.test.auc <= 1.0, name
