"""N-way one-shot accuracy: trials as Koch et al. draw them, ties, sources, intervals."""

import numpy as np
import pytest

from siamese_gui.core.evaluation.one_shot import n_way_one_shot, one_shot_trials


def clustered(classes=30, per_class=3, spread=0.01, seed=0):
    """Embeddings of `classes` well-separated clusters, `per_class` images each; the
    image's index within its class is its source."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 16))
    labels = np.repeat(np.arange(classes), per_class)
    sources = np.tile(np.arange(per_class), classes)
    return centres[labels] + spread * rng.normal(size=(len(labels), 16)), labels, sources


def test_trials_have_one_right_support_and_n_minus_one_other_classes():
    _, labels, sources = clustered()
    queries, supports, right, skipped = one_shot_trials(labels, sources, ways=20, seed=3)
    assert skipped == 0 and len(queries) == len(labels)
    for q, row, r in zip(queries, supports, right):
        assert labels[row[r]] == labels[q]
        assert len(set(labels[row])) == 20  # twenty different classes
        assert len(set(sources[row])) == 1 and sources[row[0]] != sources[q]  # one other source
    # Seeded: the same trials again, others with another seed.
    again = one_shot_trials(labels, sources, ways=20, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again[:3], (queries, supports, right)))
    assert not np.array_equal(one_shot_trials(labels, sources, ways=20, seed=4)[1], supports)
    # The right support's position is spread over the row, not always first.
    assert len(np.unique(right)) > 10


def test_separated_clusters_score_one_and_noise_scores_chance():
    embeddings, labels, sources = clustered()
    result = n_way_one_shot(embeddings, labels, sources, ways=20)
    assert result.accuracy == 1.0 and result.low == 1.0 and result.trials == 90 and result.classes == 30
    noise = np.random.default_rng(1).normal(size=(600, 16))
    labels = np.repeat(np.arange(60), 10)
    sources = np.tile(np.arange(10), 60)
    blind = n_way_one_shot(noise, labels, sources, ways=20)
    assert blind.chance == 0.05
    assert blind.low < 0.05 < blind.high and blind.accuracy < 0.12


def test_identical_embeddings_count_as_a_random_pick():
    # Every image the same vector: all twenty supports tie, so each trial earns 1/20.
    _, labels, sources = clustered()
    result = n_way_one_shot(np.zeros((len(labels), 4)), labels, sources, ways=20)
    assert result.accuracy == pytest.approx(1 / 20)


def test_supports_come_from_another_source_or_there_is_no_trial():
    # Two sources, one image of each class from each: every query's supports come from
    # the other source.
    rng = np.random.default_rng(0)
    classes = 25
    centres = rng.normal(size=(classes, 8))
    labels = np.repeat(np.arange(classes), 2)
    sources = np.tile([0, 1], classes)
    embeddings = centres[labels] + 0.001 * rng.normal(size=(len(labels), 8))
    with_sources = n_way_one_shot(embeddings, labels, sources, ways=5)
    assert with_sources.accuracy == 1.0 and with_sources.skipped == 0
    # One source only: no support can come from another source, so no trial.
    with pytest.raises(ValueError, match="no 5-way one-shot trial"):
        n_way_one_shot(embeddings, labels, np.zeros(len(labels)), ways=5)


def test_queries_without_enough_classes_are_skipped():
    _, labels, sources = clustered(classes=10)
    with pytest.raises(ValueError, match="20-way"):
        n_way_one_shot(np.zeros((len(labels), 2)), labels, sources, ways=20)
    # A class with one image has no support of its own: its query is skipped.
    labels = np.concatenate([labels, [99]])
    sources = np.concatenate([sources, [0]])
    result = n_way_one_shot(np.random.default_rng(0).normal(size=(len(labels), 2)), labels, sources, ways=5)
    assert result.skipped == 1 and result.trials == len(labels) - 1


def test_bootstrap_interval_holds_the_accuracy_and_narrows_with_more_classes():
    rng = np.random.default_rng(2)

    def noisy(classes):
        centres = rng.normal(size=(classes, 8))
        labels = np.repeat(np.arange(classes), 4)
        sources = np.tile(np.arange(4), classes)
        return centres[labels] + 0.6 * rng.normal(size=(len(labels), 8)), labels, sources

    small = n_way_one_shot(*noisy(25), ways=10)
    large = n_way_one_shot(*noisy(400), ways=10)
    for r in (small, large):
        assert r.low <= r.accuracy <= r.high
    assert large.high - large.low < small.high - small.low
    assert 0.2 < large.accuracy < 0.95
