"""Colour baselines: colour pixels and the colour histogram see colour that the grey
baselines (fed the luminance of colour images) cannot; grey data keeps its three."""

import numpy as np
import pytest

from siamese_gui.core.data.pairs import balanced_pairs
from siamese_gui.core.evaluation.baselines import (
    BASELINES,
    COLOUR_BASELINES,
    ColourHistogramEmbedder,
    ColourPixelEmbedder,
    HOGEmbedder,
    PCAEmbedder,
    PixelEmbedder,
    foreground_weights,
    luminance,
    make_baselines,
    rank_baselines,
    score_baselines,
)
from siamese_gui.core.evaluation.metrics import pair_distances, roc_auc

# Red and blue of equal luminance (BT.601), so a grey image cannot tell them apart.
RED = np.array([1.0, 0.0, 0.0], np.float32)
BLUE = np.array([0.0, (0.299 - 0.114) / 0.587, 1.0], np.float32)


def squares(colours, size=40, seed=0):
    """White images, each with one filled square of its colour at a slightly random place."""
    rng = np.random.default_rng(seed)
    images = np.ones((len(colours), size, size, 3), np.float32)
    for img, colour in zip(images, colours):
        y, x = rng.integers(6, 12, size=2)
        img[y : y + 20, x : x + 20] = colour
    return images


def test_the_two_colours_have_one_luminance():
    grey = luminance(np.broadcast_to(np.stack([RED, BLUE])[:, None, None], (2, 40, 40, 3)))
    assert grey.dtype == np.uint8 and grey.shape == (2, 28, 28)
    assert abs(int(grey[0, 0, 0]) - int(grey[1, 0, 0])) <= 1


@pytest.mark.parametrize("embedder", [ColourPixelEmbedder(), ColourHistogramEmbedder()], ids=lambda e: e.name)
def test_colour_embedders_give_unit_float32_vectors(embedder):
    images = squares([RED, BLUE, RED])
    vectors = embedder.embed(images)
    assert vectors.dtype == np.float32 and vectors.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.embed(images[:0]).shape == (0, vectors.shape[1])
    # uint8 0-255 is the same image as floats in [0, 1].
    np.testing.assert_allclose(embedder.embed(np.round(images * 255).astype(np.uint8)), vectors, atol=0.02)


def test_colour_pixels_are_32x32x3():
    assert ColourPixelEmbedder().embed(squares([RED])).shape == (1, 32 * 32 * 3)


def _colour_pairs_auc(embedder, seed=0):
    colours = [RED] * 8 + [BLUE] * 8
    images = squares(colours, seed=seed)
    labels = np.array([0] * 8 + [1] * 8)
    pairs = balanced_pairs(labels, seed=seed)
    return roc_auc(pair_distances(embedder.embed(images), pairs), pairs.same)


def test_colour_histogram_separates_red_from_blue_squares():
    assert _colour_pairs_auc(ColourHistogramEmbedder()) == 1.0


def test_colour_pixels_separate_red_from_blue_squares():
    assert _colour_pairs_auc(ColourPixelEmbedder()) > 0.9


@pytest.mark.parametrize("embedder", [PixelEmbedder(), HOGEmbedder()], ids=["pixels", "hog"])
def test_grey_baselines_cannot_tell_red_from_blue(embedder):
    # The same square in red and in blue: one luminance, so one grey vector.
    image = squares([RED], seed=3)
    blue = np.where(image == RED, 0, image).astype(np.float32)
    blue[np.all(image == RED, axis=-1)] = BLUE
    a, b = embedder.embed(np.concatenate([image, blue]))
    assert np.linalg.norm(a - b) < 0.02
    assert 0.3 < _colour_pairs_auc(embedder) < 0.8


def test_histogram_ignores_the_background_share():
    # One red square on white, small and large: the foreground weights keep the
    # histogram on the square's colour, whatever share of the image it covers.
    small = np.ones((1, 40, 40, 3), np.float32)
    small[0, 15:25, 15:25] = RED
    large = np.ones((1, 40, 40, 3), np.float32)
    large[0, 2:38, 2:38] = RED
    blue = large.copy()
    blue[0, 2:38, 2:38] = BLUE
    h = ColourHistogramEmbedder().embed(np.concatenate([small, large, blue]))
    assert np.linalg.norm(h[0] - h[1]) < 0.5 < 1.2 < np.linalg.norm(h[1] - h[2])
    weights = foreground_weights(small)
    assert weights[0, 0, 0] == pytest.approx(0.01) and weights[0, 20, 20] == 1.0


def test_make_baselines_adds_the_colour_ones_for_colour_data_only(dataset_factory):
    grey = dataset_factory(per_class=4, seed=1).images
    assert tuple(make_baselines(grey)) == BASELINES
    colour = squares([RED, BLUE] * 4)
    assert tuple(make_baselines(colour)) == BASELINES + COLOUR_BASELINES
    assert isinstance(make_baselines(colour)["pca"], PCAEmbedder)


def test_score_and_rank_baselines_on_colour_images():
    train = squares([RED, BLUE] * 6, seed=1)
    val, test = squares([RED, BLUE] * 6, seed=2), squares([RED, BLUE] * 6, seed=3)
    labels = np.array([0, 1] * 6)
    val_pairs, test_pairs = balanced_pairs(labels, seed=1), balanced_pairs(labels, seed=0)
    scores = score_baselines(train, val, val_pairs, test, test_pairs)
    assert tuple(scores) == BASELINES + COLOUR_BASELINES
    assert scores["colour-histogram"].test.auc == 1.0
    assert scores["colour-histogram"].at_threshold.accuracy == 1.0
    assert scores["hog"].test.auc < 0.8
    ranked = rank_baselines(test, test_pairs)
    assert tuple(ranked) == ("pixels", "hog") + COLOUR_BASELINES


def test_colour_checks_name_the_shape():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        ColourPixelEmbedder().embed(np.zeros((2, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        PixelEmbedder().embed(np.zeros((2, 8, 8, 2)))
