"""Training-free baselines: shapes, unit length, PCA fitted on training images only,
the numpy HOG matches OpenCV's layout and the in-model layer, scoring uses validation
thresholds."""

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


def test_numpy_hog_stands_in_for_opencv(monkeypatch, tiny_dataset):
    expected = HOGEmbedder().embed(tiny_dataset.images)
    monkeypatch.delattr(baselines.cv2, "HOGDescriptor", raising=False)
    fallback = HOGEmbedder()
    assert fallback.descriptor is None
    got = fallback.embed(tiny_dataset.images)
    # OpenCV and numpy differ only at the image border: same vectors to within ~1 %.
    assert np.min(np.sum(expected * got, axis=1)) > 0.98


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
    with pytest.raises(ValueError, match="28"):
        PixelEmbedder().embed(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="2 training images"):
        PCAEmbedder(np.zeros((1, 28, 28), np.uint8))


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
