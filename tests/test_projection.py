"""2-D maps: PCA and t-SNE on small data, seeded subsamples, cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_gui.core.app.projection import pca_2d, subsample, tsne_2d, tsne_available
from siamese_gui.core.errors import Cancelled


def clusters(n_per=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 6, [8.0] * 6, [0.0] * 3 + [8.0] * 3])
    points = np.concatenate([c + rng.normal(0, 0.3, (n_per, 6)) for c in centres])
    return points, np.repeat(np.arange(3), n_per)


def test_pca_keeps_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 10, 200), rng.normal(0, 1, 200), rng.normal(0, 0.1, 200)])
    layout = pca_2d(x)
    assert layout.shape == (200, 2) and layout.dtype == np.float32
    np.testing.assert_allclose(np.abs(np.corrcoef(layout[:, 0], x[:, 0])[0, 1]), 1.0, atol=1e-3)
    assert layout[:, 0].var() > layout[:, 1].var() > 0
    np.testing.assert_array_equal(layout, pca_2d(x))


def test_pca_of_one_dimensional_data_pads_the_second_axis():
    layout = pca_2d(np.arange(5.0)[:, None])
    assert layout.shape == (5, 2) and np.all(layout[:, 1] == 0)


def test_subsample_is_seeded_sorted_and_bounded():
    a = subsample(10_000, 300, seed=1)
    assert len(a) == 300 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, subsample(10_000, 300, seed=1))
    np.testing.assert_array_equal(subsample(5, 300), np.arange(5))


@pytest.mark.skipif(not tsne_available(), reason="openTSNE is not installed")
def test_tsne_separates_clusters_and_is_seeded():
    points, labels = clusters()
    layout = tsne_2d(points, seed=0, n_jobs=1)
    assert layout.shape == (90, 2) and np.all(np.isfinite(layout))
    centres = np.array([layout[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(layout[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 2 * spread
    np.testing.assert_allclose(layout, tsne_2d(points, seed=0, n_jobs=1), atol=1e-4)


@pytest.mark.skipif(not tsne_available(), reason="openTSNE is not installed")
def test_tsne_stops_when_asked():
    points, _ = clusters()
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        tsne_2d(points, should_stop=should_stop, n_jobs=1)
