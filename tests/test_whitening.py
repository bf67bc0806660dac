"""Whitening of the gradient histograms: learned from the training classes, in the model."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from helpers import make_dataset

from siamese_gui.core.evaluation.metrics import roc_auc
from siamese_gui.core.model import whitening as whitening_module
from siamese_gui.core.model.whitening import SHRINKAGE, learn_whitening
from siamese_gui.core.training.share_choice import SHARES, choose_share


def _unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _nuisance_data(classes, per_class, rng, dim=40):
    """Vectors whose classes differ a little along dimensions 2.., and whose images of
    one class differ a lot along dimensions 0 and 1 (a nuisance every class shares)."""
    centres = rng.normal(size=(len(classes), dim)) * 0.3
    centres[:, :2] = 0.0
    labels = np.repeat(classes, per_class)
    vectors = centres[np.searchsorted(classes, labels)] + 0.05 * rng.normal(size=(len(labels), dim))
    vectors[:, :2] += 3.0 * rng.normal(size=(len(labels), 2))
    return vectors, labels


def _all_pairs_auc(vectors, labels):
    first, second = np.triu_indices(len(labels), k=1)
    return roc_auc(np.linalg.norm(vectors[first] - vectors[second], axis=1), labels[first] == labels[second])


def test_learned_on_some_classes_it_turns_their_shared_nuisance_down_on_new_ones():
    rng = np.random.default_rng(0)
    seen, seen_labels = _nuisance_data(np.arange(6), 40, rng)
    whitening = learn_whitening(lambda i: seen[i], np.arange(len(seen)), seen_labels)
    assert whitening.images == 240 and whitening.classes == 6
    unseen, unseen_labels = _nuisance_data(np.arange(6, 10), 40, rng)
    plain, whitened = _all_pairs_auc(unseen, unseen_labels), _all_pairs_auc(whitening.apply(unseen), unseen_labels)
    assert plain < 0.75 and whitened > 0.95
    np.testing.assert_allclose(np.linalg.norm(whitening.apply(unseen), axis=1), 1.0, atol=1e-5)


def test_the_covariance_gathered_chunk_by_chunk_is_the_shrunk_within_class_covariance(monkeypatch):
    rng = np.random.default_rng(1)
    vectors, labels = _nuisance_data(np.arange(3), 11, rng, dim=5)
    order = rng.permutation(len(labels))  # classes interleaved across chunks
    monkeypatch.setattr(whitening_module, "CHUNK", 4)
    whitening = learn_whitening(lambda i: vectors[i], order, labels[order])
    residuals = vectors - np.stack([vectors[labels == c].mean(0) for c in labels])
    within = residuals.T @ residuals / len(labels)
    spread = np.trace(within) / 5
    shrunk = (1 - SHRINKAGE) * within + SHRINKAGE * spread * np.eye(5)
    # W = C^(-1/2): W C W is the identity.
    np.testing.assert_allclose(whitening.matrix @ shrunk @ whitening.matrix, np.eye(5), atol=1e-4)
    np.testing.assert_allclose(whitening.mean, vectors.mean(0), atol=1e-6)


def test_nothing_is_learned_from_one_class_or_from_identical_images():
    vectors = np.tile(_unit(np.ones((1, 6))), (10, 1))
    assert learn_whitening(lambda i: vectors[i], np.arange(10), np.zeros(10, int)) is None
    assert learn_whitening(lambda i: vectors[i], np.arange(10), np.arange(10) % 2) is None


def test_whitened_histograms_are_chosen_only_where_no_plain_share_comes_close():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), 40)
    centres = rng.normal(size=(3, 16))
    learned = _unit(rng.normal(size=(len(labels), 16)))  # carries nothing
    blurred = _unit(centres[labels] + 3.0 * rng.normal(size=(len(labels), 16)))
    sharp = _unit(centres[labels] + 0.3 * rng.normal(size=(len(labels), 16)))
    better = choose_share(learned, blurred, labels, whitened=sharp)
    assert better.whitened and better.share == max(SHARES)
    assert better.auc == better.whitened_scores[better.share] == better.best_auc
    assert better.whitened_histograms_auc > 0.95 > 0.8 > better.histograms_auc
    assert max(better.scores.values()) < better.best_auc - 0.5 * better.standard_error
    # A near tie goes to the plain histograms: they depend on no training class.
    tie = choose_share(learned, sharp, labels, whitened=sharp + 1e-4 * rng.normal(size=sharp.shape))
    assert not tie.whitened and tie.auc == tie.scores[tie.share]
    without = choose_share(learned, blurred, labels)
    assert not without.whitened and without.whitened_scores == {} and without.whitened_histograms_auc is None


def test_a_whitened_network_computes_what_the_whitening_says_and_survives_saving(tmp_path):
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.model.networks import (
        WHITENING,
        build_embedding_network,
        build_pair_model,
        histogram_network,
    )
    from siamese_gui.core.runtime.loading import load_model_handle
    from siamese_gui.core.runtime.store import load_model, save_model

    data = make_dataset(per_class=10)
    plain = embed(histogram_network(), data.images)
    whitening = learn_whitening(lambda i: plain[i], np.arange(len(data)), data.labels)
    network = build_embedding_network("default", 8, histogram_share=0.5, whitening=whitening)
    vectors = embed(network, data.images)
    np.testing.assert_allclose(vectors[:, 8:] / 0.5**0.5, whitening.apply(plain), atol=1e-4)
    assert not network.get_layer(WHITENING).trainable
    path = save_model(build_pair_model(network), tmp_path / "whitened.keras", {"threshold": 0.5})
    loaded = load_model(path)
    np.testing.assert_allclose(embed(loaded.embedding, data.images), vectors, atol=1e-5)
    if importlib.util.find_spec("ai_edge_litert") is not None:
        fast = load_model_handle(path)
        assert fast.engine.startswith("LiteRT")
        np.testing.assert_allclose(fast.embed(data.images), vectors, atol=1e-4)


def test_a_run_that_chooses_whitening_saves_it_learned_from_all_its_training_classes(
    dataset_factory, config_factory, monkeypatch
):
    """Forced by a probe whose plain histograms never come close, a run builds its model
    with the whitening and says so; the whitening comes from every training class."""
    from siamese_gui.core.model.networks import WHITENING
    from siamese_gui.core.training import share_choice
    from siamese_gui.core.training.train import train

    real = share_choice.choose_share

    def whitened_wins(learned, histograms, labels, whitened=None):
        assert whitened is not None, "the probe must be offered whitened histograms"
        return real(learned, np.zeros_like(histograms), labels, whitened)

    monkeypatch.setattr(share_choice, "choose_share", whitened_wins)
    data = dataset_factory(per_class=20)
    result = train(config_factory(epochs=0, steps=6, batch_size=16, histogram_share=0.0), data)
    assert result.share_choice["whitened"] is True
    assert result.histograms.startswith(f"{result.share_choice['share']:.0%} of each squared distance from the whitened")
    dense = result.embedding.get_layer(WHITENING)
    assert dense.get_weights()[0].shape == (648, 648)
    assert set(result.share_choice["whitened_auc_by_share"]) == {f"{s:g}" for s in SHARES}


def test_a_run_with_a_set_share_keeps_plain_histograms(dataset_factory, config_factory):
    from siamese_gui.core.model.networks import WHITENING
    from siamese_gui.core.training.train import train

    result = train(config_factory(epochs=0, steps=3, batch_size=16, histogram_share=0.3), dataset_factory())
    with pytest.raises(ValueError):
        result.embedding.get_layer(WHITENING)
