"""A handful of images per class still gets a threshold chosen on held-out pairs of both
kinds, and says how: whole classes for validation (and test) where classes are small and
many, each held-out image against training images where they are few."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import balanced_pairs, threshold_pairs
from siamese_gui.core.data.splits import Role, folder_splits, small_classes


def _classes(num_classes: int, per_class: int, seed: int = 0) -> Dataset:
    """Each class a random blob pattern; its images that pattern, shifted and noisy."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(num_classes):
        pattern = (rng.random((7, 7)) > 0.6).astype(np.float32)
        base = np.kron(pattern, np.ones((4, 4), np.float32))
        for _ in range(per_class):
            shifted = np.roll(base, rng.integers(-1, 2, size=2), axis=(0, 1))
            images.append(np.clip(shifted * 220 + rng.normal(0, 12, (28, 28)), 0, 255).astype(np.uint8))
            labels.append(c)
    files = tuple(f"c{label}/{i}.png" for i, label in enumerate(labels))
    hashes = tuple(f"{i:064x}" for i in range(len(labels)))
    return Dataset(np.stack(images), np.asarray(labels, np.int64), tuple(f"c{c}" for c in range(num_classes)),
                   "blobs", files=files, hashes=hashes, root="/blobs")


def _kinds(labels) -> tuple[int, int]:
    pairs = balanced_pairs(labels, seed=1)
    return int(pairs.same.sum()), int((~pairs.same).sum())


@pytest.mark.parametrize("per_class,num_classes", [(4, 200), (2, 10), (3, 8), (8, 50)])
def test_small_classes_are_validated_and_tested_on_whole_classes(per_class, num_classes):
    splits = folder_splits(_classes(num_classes, per_class), seed=0)
    names = splits.train.class_names
    trained = {names[i] for i in np.unique(splits.train.labels)}
    assert splits.validation_classes and splits.unseen_classes
    assert trained.isdisjoint(splits.validation_classes) and trained.isdisjoint(splits.unseen_classes)
    for role in (Role.VALIDATION, Role.TEST):
        same, different = _kinds(splits.dataset(role).labels)
        assert same > 0 and different > 0, role
    record = splits.metadata()
    assert set(record["seen_classes"]) == trained
    assert set(record["validation_classes"]) == set(splits.validation_classes)
    assert "classes kept out of training" in splits.describe(Role.VALIDATION)


def test_classes_of_many_images_keep_the_stratified_split():
    splits = folder_splits(_classes(10, 30), seed=0)
    assert splits.validation_classes == () and splits.unseen_classes == ()
    assert set(np.unique(splits.validation.labels)) == set(range(10))
    assert not small_classes(np.full(10, 30), 0.15) and small_classes(np.full(10, 4), 0.15)


def test_held_out_classes_keep_a_same_class_test_pair_of_every_seen_class_that_can_spare_one():
    data = _classes(40, 4)
    unseen = tuple(f"c{i}" for i in range(20))
    splits = folder_splits(data, seed=0, unseen=unseen)
    assert splits.closed_test is not None
    same, different = _kinds(splits.closed_test.labels)
    assert same > 0 and different > 0
    counts = np.bincount(splits.train.labels)
    assert counts[counts > 0].min() >= 2  # every trained class keeps a same-class pair to learn from


def test_few_small_classes_pair_held_out_images_with_training_images():
    validation = np.array([0, 1, 2])
    training = np.array([0, 0, 1, 1, 2, 2])
    pairs, partners = threshold_pairs(validation, training, seed=0)
    assert pairs.same.any() and (~pairs.same).any()
    assert np.all(pairs.a < 3) and np.all(pairs.b >= 3)  # a held-out image against a known one
    labels = np.concatenate([validation, training[partners]])
    np.testing.assert_array_equal(labels[pairs.a] == labels[pairs.b], pairs.same)


def test_a_run_on_three_classes_of_three_images_chooses_its_threshold_and_says_how():
    from siamese_gui.core.training.train import train
    from tests.conftest import tiny_config

    data = _classes(3, 3)
    splits = folder_splits(data, seed=0)
    assert _kinds(splits.validation.labels)[0] == 0  # no same-class pair among held-out images
    result = train(tiny_config(epochs=1, batch_size=4), splits.train, validation=splits.validation)
    assert result.threshold is not None
    assert result.validation.defined
    assert "with a training image" in result.validation_pairs_description
