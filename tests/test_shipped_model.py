"""The shipped model meets its targets on the real standard test pairs."""

from __future__ import annotations

import pytest

from siamese_gui.core.data.datasets import find_fashion_mnist, load_fashion_mnist
from siamese_gui.core.data.pairs import standard_pairs
from siamese_gui.core.evaluation.metrics import (
    max_accuracy_threshold,
    metrics_at,
    pair_distances,
    roc_auc,
)
from siamese_gui.core.io.locations import default_model_path

FASHION_MNIST = find_fashion_mnist()
needs_fashion_mnist = pytest.mark.skipif(
    FASHION_MNIST is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def shipped():
    from siamese_gui.core.runtime.loading import load_model_handle

    return load_model_handle(default_model_path())


def test_shipped_model_is_small_safe_and_documented(shipped):
    assert default_model_path().stat().st_size < 4 * 2**20
    assert shipped.warnings == []  # its SHA-256 matches the sidecar
    info = shipped.metadata
    assert 0.0 < shipped.threshold.value < 2.0
    assert info["config"]["preset"] == "default"
    assert len(info["class_names"]) == 10


@pytest.mark.slow
@needs_fashion_mnist
def test_shipped_model_accuracy_on_standard_test_pairs(shipped):
    test = load_fashion_mnist(FASHION_MNIST).test
    pairs = standard_pairs(test.labels)
    assert len(pairs) == 20_000
    distances = pair_distances(shipped.embed(test.images), pairs)
    at = metrics_at(distances, pairs.same, shipped.threshold.value)
    assert at.accuracy >= 0.95, f"pair accuracy {at.accuracy:.4f} at threshold {shipped.threshold.value:.4f}"
    assert roc_auc(distances, pairs.same) >= 0.985
    # The stored threshold was chosen on training-split pairs; it should do nearly as
    # well as the best threshold for the test pairs themselves.
    best_accuracy, _ = max_accuracy_threshold(distances, pairs.same)
    assert best_accuracy - at.accuracy < 0.01


def test_shipped_model_separates_bundled_samples(shipped):
    from siamese_gui.core.data.datasets import load_samples

    samples = load_samples()
    pairs = standard_pairs(samples.labels)
    distances = pair_distances(shipped.embed(samples.images), pairs)
    at = metrics_at(distances, pairs.same, shipped.threshold.value)
    assert at.accuracy >= 0.9


@pytest.mark.slow
@needs_fashion_mnist
def test_evaluate_scores_training_free_baselines_on_the_same_pairs(capsys):
    import json

    from siamese_gui.cli import commands as cli

    assert cli.main(["evaluate", "--baselines", "--pairs", "4000", "--json", "--data", str(FASHION_MNIST)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test"]["pairs"] == 4000
    assert set(result["baselines"]) == {"pixels", "pca", "hog"}
    for row in result["baselines"].values():
        assert 0.5 < row["auc"] < result["test"]["auc"]  # training beat doing nothing, closed set
