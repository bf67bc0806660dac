"""Several models on the same pairs: the table equals a direct computation per model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese_gui.core.app.model_comparison import (
    EvaluationSet,
    compare_models,
    comparison_table,
    describe_pairs,
    far_at_frr,
    format_table,
)
from siamese_gui.core.data.pairs import standard_pairs
from siamese_gui.core.evaluation.metrics import (
    evaluate_distances,
    metrics_at,
    pair_distances,
    roc_curve,
    wilson_rate,
)
from siamese_gui.core.runtime.handle import ModelHandle
from tests.conftest import make_dataset


def _quadrants(batch):
    return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 4


def _pixels(batch):
    return batch.reshape(len(batch), -1)[:, ::5] * 0.5


@pytest.fixture
def evaluation():
    data = make_dataset(per_class=15, num_classes=4, seed=3)
    pairs = standard_pairs(data.labels)
    return EvaluationSet(data, pairs, describe_pairs(data, pairs))


def test_table_matches_direct_computation(evaluation):
    a = ModelHandle(embedder=_quadrants, metadata={"threshold": 0.4})
    b = ModelHandle(embedder=_pixels, metadata={"threshold": 1.1})
    calls = []
    comparison = compare_models([a, b], evaluation, frr_target=0.1, progress=lambda d, t: calls.append((d, t)))
    n = len(evaluation.dataset)
    assert calls[-1] == (2 * n, 2 * n)
    same = evaluation.pairs.same
    for handle, score, threshold in ((a, comparison.scores[0], 0.4), (b, comparison.scores[1], 1.1)):
        distances = pair_distances(handle.embed(evaluation.dataset.images), evaluation.pairs)
        np.testing.assert_allclose(score.distances, distances, rtol=1e-6)
        direct = evaluate_distances(distances, same)
        assert score.report.auc == pytest.approx(direct.auc)
        assert score.report.eer == pytest.approx(direct.eer)
        at = metrics_at(distances, same, threshold)
        assert score.threshold == threshold
        assert score.accuracy_rate == wilson_rate(at.true_accepts + at.true_rejects, len(same))
        # FAR at FRR <= 10 %: the lowest FAR among thresholds whose FRR is at most 10 %.
        far, tar, _ = roc_curve(distances, same)
        assert score.far_at_frr == pytest.approx(far[(1 - tar) <= 0.1 + 1e-12].min())
        frr_there = metrics_at(distances, same, score.far_at_frr_threshold).frr
        assert frr_there <= 0.1
    # The two embeddings really differ, so the comparison is not vacuous.
    assert comparison.scores[0].report.auc != comparison.scores[1].report.auc


def test_table_text_and_json(evaluation):
    a = ModelHandle(embedder=_quadrants, metadata={"threshold": 0.4})
    comparison = compare_models([a, a], evaluation)
    rows = comparison_table(comparison)
    assert rows[0][0] == "model" and len(rows) == 3
    assert "FAR at FRR 5 %" in rows[0][5]
    assert rows[1][4].endswith("%)")  # accuracy with its interval
    text = format_table(rows)
    assert len(text.splitlines()) == 3
    data = json.loads(json.dumps(comparison.as_dict()))
    assert data["pairs"] == len(evaluation.pairs)
    assert "seed 0" in data["evaluation"] and "synthetic shapes" in data["evaluation"]
    first = data["models"][0]
    assert first["accuracy_ci95"][0] <= first["accuracy"] <= first["accuracy_ci95"][1]


def test_far_at_frr_undefined_with_one_kind():
    assert far_at_frr(np.array([0.1, 0.2]), np.array([True, True]), 0.05) == (None, None)


def test_far_at_frr_simple_case():
    distances = np.array([0.1, 0.2, 0.3, 0.4, 0.25, 0.5, 0.6, 0.7])
    same = np.array([True, True, True, True, False, False, False, False])
    far, threshold = far_at_frr(distances, same, 0.0)  # accept every same pair
    assert far == pytest.approx(0.25) and 0.4 < threshold <= 0.5
