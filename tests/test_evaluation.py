"""Evaluation metrics against values worked out by hand on small examples."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamese_gui.core.data.pairs import Pairs
from siamese_gui.core.evaluation.metrics import (
    MIN_PAIRS,
    PAIR_CHUNK,
    class_pair_errors,
    equal_error_rate,
    evaluate_distances,
    max_accuracy_threshold,
    metrics_at,
    pair_distances,
    roc_auc,
    roc_curve,
    threshold_for_far,
    wilson_rate,
)

# Same pairs at 0.1, 0.2, 0.4; different pairs at 0.3, 0.5, 0.6.
D = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
S = np.array([True, True, False, True, False, False])


def test_roc_curve_by_hand():
    far, tar, thresholds = roc_curve(D, S)
    np.testing.assert_allclose(far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(thresholds[1:-1], [0.15, 0.25, 0.35, 0.45, 0.55])
    assert thresholds[0] < 0.1 and thresholds[-1] > 0.6


def test_auc_by_hand():
    # 8 of the 9 (same, different) combinations have the same pair closer.
    assert roc_auc(D, S) == pytest.approx(8 / 9)


def test_auc_extremes_and_ties():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == pytest.approx(1.0)
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == pytest.approx(0.0)
    assert roc_auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)


def test_equal_error_rate_by_hand():
    eer, threshold = equal_error_rate(D, S)
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.35)


def test_max_accuracy_threshold_by_hand():
    accuracy, threshold = max_accuracy_threshold(D, S)
    assert accuracy == pytest.approx(5 / 6)
    assert threshold == pytest.approx(0.25)  # first of the two best; midway between distances


def test_metrics_at_by_hand():
    m = metrics_at(D, S, 0.35)
    assert (m.true_accepts, m.false_accepts, m.true_rejects, m.false_rejects) == (2, 1, 2, 1)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(2 / 3)
    assert m.far == pytest.approx(1 / 3)
    assert m.frr == pytest.approx(1 / 3)
    m = metrics_at(D, S, 0.45)
    assert (m.far, m.frr, m.accuracy) == (pytest.approx(1 / 3), 0.0, pytest.approx(5 / 6))
    assert m.precision == pytest.approx(3 / 4)


def test_a_pair_at_the_threshold_is_judged_different():
    m = metrics_at([0.5, 0.5], [True, False], 0.5)
    assert m.true_accepts == 0 and m.false_rejects == 1 and m.true_rejects == 1


def test_threshold_for_far():
    assert threshold_for_far(D, S, 0.0) == pytest.approx(0.25)
    assert threshold_for_far(D, S, 0.4) == pytest.approx(0.45)
    assert metrics_at(D, S, threshold_for_far(D, S, 0.4)).far <= 0.4


def test_pair_distances():
    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    pairs = Pairs(np.array([0, 1, 2]), np.array([1, 2, 2]), np.array([False, False, True]))
    np.testing.assert_allclose(pair_distances(embeddings, pairs), [5.0, np.sqrt(20.0), 0.0], rtol=1e-6)


def test_pair_distances_across_chunks_match_a_direct_computation():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 7)).astype(np.float32)
    count = 2 * PAIR_CHUNK + 17  # two full chunks and a partial one
    a, b = rng.integers(0, 50, count), rng.integers(0, 50, count)
    distances = pair_distances(embeddings, Pairs(a, b, a == b))
    assert distances.shape == (count,)
    np.testing.assert_allclose(distances, np.linalg.norm(embeddings[a] - embeddings[b], axis=1), rtol=1e-5)


def test_class_pair_errors_by_hand():
    labels = np.array([0, 0, 1, 1, 2])
    pairs = Pairs(
        a=np.array([0, 2, 0, 1, 3, 4]),
        b=np.array([1, 3, 2, 4, 4, 0]),
        same=np.array([True, True, False, False, False, False]),
    )
    distances = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.1])
    errors, totals = class_pair_errors(labels, pairs, distances, threshold=0.5, num_classes=3)
    # Wrong: (0,0) rejected at 0.9; (0,1) accepted at 0.2; (1,2) at 0.3; (2,0) at 0.1.
    np.testing.assert_array_equal(errors, [[1, 1, 1], [1, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(totals, [[1, 1, 2], [1, 1, 1], [2, 1, 0]])


def test_evaluate_distances_summary():
    report = evaluate_distances(D, S)
    assert report.pairs == 6
    assert report.auc == pytest.approx(8 / 9)
    assert report.eer == pytest.approx(1 / 3)
    assert report.best_accuracy == pytest.approx(5 / 6)
    assert (report.same_pairs, report.different_pairs) == (3, 3)
    assert report.defined and not report.enough_data


@pytest.mark.parametrize("same", [[True] * 4, [False] * 4, []])
def test_one_kind_of_pair_leaves_auc_and_eer_undefined(same):
    report = evaluate_distances(np.linspace(0.1, 0.4, len(same)), np.array(same, bool))
    assert not report.defined
    assert report.auc is None and report.eer is None and report.best_threshold is None


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), table I: 81/263 -> 0.2553-0.3662; 0/20 -> 0-0.1611.
    rate = wilson_rate(81, 263)
    assert (rate.low, rate.high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    rate = wilson_rate(0, 20)
    assert rate.value == 0 and rate.low == 0 and rate.high == pytest.approx(0.1611, abs=1e-4)


def test_too_few_pairs_is_not_a_number():
    rate = wilson_rate(0, MIN_PAIRS - 1)
    assert rate.value is None and not rate.measured
    assert "not enough data" in rate.describe()
    metrics = metrics_at(np.array([0.1, 0.9, 0.2]), np.array([True, False, False]), 0.5)
    assert not metrics.frr_rate.measured and metrics.as_dict()["frr_ci95"] is None


def _mann_whitney_auc(d, s):
    pos, neg = d[s], d[~s]
    wins = (pos[:, None] < neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


pair_sets = st.lists(
    st.tuples(st.integers(0, 20).map(lambda v: v / 10), st.booleans()), min_size=2, max_size=40
).filter(lambda rows: 0 < sum(s for _, s in rows) < len(rows))


@settings(max_examples=200, deadline=None)
@given(pair_sets)
def test_metrics_agree_with_brute_force(rows):
    d = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    assert roc_auc(d, s) == pytest.approx(_mann_whitney_auc(d, s))
    accuracy, threshold = max_accuracy_threshold(d, s)
    candidates = np.concatenate([[-1.0], np.unique(d) + 1e-9, [10.0]])
    brute = max(metrics_at(d, s, t).accuracy for t in candidates)
    assert accuracy == pytest.approx(brute)
    assert metrics_at(d, s, threshold).accuracy == pytest.approx(accuracy)
    eer, eer_threshold = equal_error_rate(d, s)
    m = metrics_at(d, s, eer_threshold)
    assert eer == pytest.approx((m.far + m.frr) / 2)
