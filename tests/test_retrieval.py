"""Retrieval metrics (precision@1, R-precision, MAP@R) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_gui.core.evaluation.retrieval import (
    nearest_neighbour_mistakes,
    nearest_neighbours,
    retrieval_metrics,
    retrieval_summary,
)


def test_metrics_on_points_on_a_line():
    # Positions 0, 1, 3, 6, 10 with classes A A B A B.
    embeddings = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    labels = np.array([0, 0, 1, 0, 1])
    m = retrieval_metrics(embeddings, labels, chunk=2)
    # Query 0 (A, R=2): ranking 1(A) 3(B) ... -> top1 right; top2 = {A, B}: RP 1/2; AP@R = (1/1)/2.
    # Query 1 (A, R=2): ranking 0(A) 3(B) -> 1, RP 1/2, AP 1/2.
    # Query 2 (B, R=1): ranking 1(A) -> 0, RP 0, AP 0.
    # Query 3 (A, R=2): distances 0:6, 1:5, 2:3, 4:4 -> ranking 2(B) 4(B): 0, RP 0, AP 0.
    # Query 4 (B, R=1): ranking 3(A) -> 0.
    assert m.queries == 5
    assert m.precision_at_1 == pytest.approx(2 / 5)
    assert m.r_precision == pytest.approx((0.5 + 0.5) / 5)
    assert m.map_at_r == pytest.approx((0.5 + 0.5) / 5)


def test_map_at_r_rewards_rank_order():
    # Query 0 (class A, R=2): neighbours at ranks 1 (B) and 2 (A), then A at rank 3.
    embeddings = np.array([[0.0], [1.0], [2.0], [4.0], [20.0], [21.0]])
    labels = np.array([0, 1, 0, 0, 1, 1])
    m = retrieval_metrics(embeddings, labels)
    # Hand-computed per query (R = 2 for every query):
    # q0 ranks: 1(B),2(A) -> RP 1/2, AP (0 + 1/2)/2 = 1/4, p1 0
    # q1 ranks: 0(A),2(A) -> RP 0, AP 0, p1 0
    # q2 ranks: 1(B),0(A) tie? distances 1 and 2 -> 1(B) then 0(A): RP 1/2, AP 1/4, p1 0
    # q3 ranks: 2(A) d2, 1(B) d3 -> RP 1/2, AP 1/2, p1 1
    # q4 ranks: 5(B) d1, 3(A) d16 -> RP 1/2, AP 1/2, p1 1
    # q5 ranks: 4(B) d1, 3(A) d17 -> RP 1/2, AP 1/2, p1 1
    assert m.precision_at_1 == pytest.approx(3 / 6)
    assert m.r_precision == pytest.approx((0.5 + 0 + 0.5 + 0.5 + 0.5 + 0.5) / 6)
    assert m.map_at_r == pytest.approx((0.25 + 0 + 0.25 + 0.5 + 0.5 + 0.5) / 6)


def test_perfect_clusters_score_one_and_singletons_are_left_out():
    embeddings = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [50, 50]])
    labels = np.array([0, 0, 1, 1, 2])
    summary = retrieval_summary(embeddings, labels)
    assert summary == {"precision_at_1": 1.0, "r_precision": 1.0, "map_at_r": 1.0, "queries": 4}


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(200, 5))
    labels = rng.integers(0, 4, 200)
    a = retrieval_metrics(embeddings, labels, chunk=17)
    b = retrieval_metrics(embeddings, labels, chunk=1000)
    assert a == pytest.approx(b)


def test_nearest_neighbours_and_mistakes():
    embeddings = np.array([[0.0], [1.0], [1.5], [9.0]])
    labels = np.array([0, 0, 1, 1])
    neighbours, distances = nearest_neighbours(embeddings, chunk=3)
    assert neighbours.tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(distances, [1.0, 0.5, 0.5, 7.5])
    # Threshold 0.8: pair (0,1) same class at 1.0 -> wrong ("different"); (1,2) other
    # class at 0.5 -> wrong ("same"); (3,2) same class at 7.5 -> wrong.
    assert nearest_neighbour_mistakes(labels, neighbours, distances, 0.8).tolist() == [True, True, True, True]
    # Threshold 0.4: (0,1) wrong; (1,2) right (different); (2,1) right; (3,2) wrong.
    assert nearest_neighbour_mistakes(labels, neighbours, distances, 0.4).tolist() == [True, False, False, True]
