"""Pairs: index arrays, balanced, never pairing an image with itself, seeded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamese_gui.core.data.pairs import Pairs, balanced_pairs, random_pairs, stratified_split

LABELS = np.repeat(np.arange(4), [5, 3, 7, 2])


def test_standard_pairs_are_two_per_image_one_same_one_different():
    pairs = balanced_pairs(LABELS, seed=0)
    n = len(LABELS)
    assert len(pairs) == 2 * n
    np.testing.assert_array_equal(pairs.a, np.repeat(np.arange(n), 2))
    np.testing.assert_array_equal(pairs.same, np.tile([True, False], n))
    assert pairs.same.sum() == n


def test_partners_have_the_right_class_and_are_never_the_anchor():
    pairs = balanced_pairs(LABELS, seed=3)
    same, diff = pairs.same, ~pairs.same
    assert np.all(LABELS[pairs.a[same]] == LABELS[pairs.b[same]])
    assert np.all(pairs.a[same] != pairs.b[same])
    assert np.all(LABELS[pairs.a[diff]] != LABELS[pairs.b[diff]])


def test_pairs_are_index_arrays_not_image_copies():
    pairs = balanced_pairs(LABELS)
    for array in (pairs.a, pairs.b):
        assert array.dtype == np.int64 and array.ndim == 1
    assert pairs.same.dtype == bool
    assert pairs.a.nbytes + pairs.b.nbytes + pairs.same.nbytes == len(pairs) * 17


def test_same_seed_same_pairs_other_seed_other_pairs():
    labels = np.repeat(np.arange(10), 30)
    first, again, other = (balanced_pairs(labels, seed=s) for s in (0, 0, 1))
    for field in ("a", "b", "same"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.b, other.b)


def test_same_class_partner_is_drawn_uniformly():
    labels = np.zeros(4, np.int64)
    labels = np.concatenate([labels, [1]])
    seen = {}
    for seed in range(300):
        pairs = balanced_pairs(labels, anchors=[1], seed=seed)
        partner = int(pairs.b[pairs.same][0])
        seen[partner] = seen.get(partner, 0) + 1
    assert set(seen) == {0, 2, 3}
    assert min(seen.values()) > 60


def test_lone_class_member_gets_no_same_pair():
    labels = np.array([0, 0, 1])
    pairs = balanced_pairs(labels)
    assert len(pairs) == 5
    assert not pairs.same[pairs.a == 2].any()


def test_single_class_gives_no_different_pair():
    pairs = balanced_pairs(np.zeros(3, np.int64))
    assert len(pairs) == 3 and pairs.same.all()


def test_take_selects_pairs():
    pairs = balanced_pairs(LABELS)
    part = pairs.take(np.array([1, 0]))
    assert isinstance(part, Pairs)
    assert (part.a[0], part.b[0], part.same[0]) == (pairs.a[1], pairs.b[1], pairs.same[1])


def test_stratified_split_holds_out_a_share_of_every_class():
    labels = np.repeat(np.arange(3), [10, 20, 2])
    kept, held = stratified_split(labels, 0.2, seed=0)
    assert np.intersect1d(kept, held).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(labels)))
    np.testing.assert_array_equal(np.bincount(labels[held], minlength=3), [2, 4, 1])
    again = stratified_split(labels, 0.2, seed=0)
    np.testing.assert_array_equal(again[1], held)


def test_random_pairs_count_and_balance():
    labels = np.repeat(np.arange(5), 20)
    pairs = random_pairs(labels, 101, seed=4)
    assert len(pairs) == 101
    assert abs(int(pairs.same.sum()) - 50) <= 1
    again = random_pairs(labels, 101, seed=4)
    np.testing.assert_array_equal(pairs.b, again.b)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=60),
    st.integers(0, 2**32 - 1),
)
def test_balanced_pairs_invariants(labels, seed):
    labels = np.asarray(labels)
    pairs = balanced_pairs(labels, seed=seed)
    counts = np.bincount(labels)
    has_same = counts[labels] > 1
    has_diff = counts[labels] < len(labels)
    assert len(pairs) == int(has_same.sum() + has_diff.sum())
    same, diff = pairs.same, ~pairs.same
    assert np.all(labels[pairs.a[same]] == labels[pairs.b[same]])
    assert np.all(pairs.a[same] != pairs.b[same])
    assert np.all(labels[pairs.a[diff]] != labels[pairs.b[diff]])
    assert np.all((0 <= pairs.b) & (pairs.b < len(labels)))


def test_class_holdout_split_with_explicit_classes():
    from siamese_gui.core.data.pairs import class_holdout_split

    labels = np.array([3, 1, 0, 2, 1, 3, 4])
    seen, unseen = class_holdout_split(labels, held_out=[4, 1])
    assert seen.tolist() == [0, 2, 3] and unseen.tolist() == [1, 4]
    assert not np.isin(labels[np.isin(labels, seen)], unseen).any()


def test_class_holdout_split_by_seeded_fraction():
    from siamese_gui.core.data.pairs import class_holdout_split

    labels = np.repeat(np.arange(10), 3)
    seen, unseen = class_holdout_split(labels, fraction=0.3, seed=4)
    assert len(unseen) == 3 and len(seen) == 7
    assert np.intersect1d(seen, unseen).size == 0 and np.union1d(seen, unseen).tolist() == list(range(10))
    again = class_holdout_split(labels, fraction=0.3, seed=4)
    assert [a.tolist() for a in again] == [seen.tolist(), unseen.tolist()]
    others = {tuple(class_holdout_split(labels, fraction=0.3, seed=s)[1]) for s in range(10)}
    assert len(others) > 1
    # At least one class held out and two kept, whatever the fraction.
    assert len(class_holdout_split(labels[:9], fraction=0.01)[1]) == 1
    assert len(class_holdout_split(labels[:9], fraction=0.99)[0]) == 2


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "exactly one"),
        ({"held_out": [1], "fraction": 0.5}, "exactly one"),
        ({"held_out": [7]}, "do not occur"),
        ({"held_out": [0, 1]}, "at least 2 seen"),
        ({"fraction": 1.5}, "fraction"),
    ],
)
def test_class_holdout_split_refuses_impossible_splits(kwargs, words):
    from siamese_gui.core.data.pairs import class_holdout_split

    with pytest.raises(ValueError, match=words):
        class_holdout_split(np.array([0, 1, 2, 0, 1, 2]), **kwargs)
