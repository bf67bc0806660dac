"""The automatic histogram share: chosen on classes kept out of the first steps of a run."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TINY_CLASSES

from siamese_gui.core.training.share_choice import (
    MIN_CLASSES,
    PROBE_IMAGES,
    SHARES,
    TOLERANCE,
    choose_share,
    plan_probe,
)


def _unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _class_vectors(labels, noise, rng, dim=16):
    """Unit vectors clustered by class (small `noise`) or scattered (large)."""
    centres = rng.normal(size=(labels.max() + 1, dim))
    return _unit(centres[labels] + noise * rng.normal(size=(len(labels), dim)))


def test_a_probe_holds_out_a_third_of_the_classes_and_scores_only_their_training_images():
    labels = np.repeat(np.arange(9), 50)
    train_idx = np.arange(0, len(labels), 2)  # every other image trains; the rest validate
    probe = plan_probe(labels, train_idx, total_steps=200, seed=3)
    assert probe.steps == 160 and probe.total_steps == 200
    assert len(probe.classes) == 3 and set(probe.classes) <= set(range(9))
    assert set(probe.images) <= set(train_idx)
    assert set(labels[probe.images]) == set(probe.classes)
    assert len(probe.images) == 3 * 25
    again = plan_probe(labels, train_idx, total_steps=200, seed=3)
    np.testing.assert_array_equal(again.classes, probe.classes)
    other = plan_probe(labels, train_idx, total_steps=200, seed=4)
    assert other is not None


def test_a_probe_needs_enough_classes_and_steps_and_caps_its_images():
    labels = np.repeat(np.arange(MIN_CLASSES), 2000)
    everything = np.arange(len(labels))
    probe = plan_probe(labels, everything, total_steps=50, seed=0)
    assert len(probe.classes) == 2 and len(probe.images) == PROBE_IMAGES
    few = np.repeat(np.arange(MIN_CLASSES - 1), 50)
    assert plan_probe(few, np.arange(len(few)), total_steps=50, seed=0) is None
    assert plan_probe(labels, everything, total_steps=1, seed=0) is None


def test_the_share_follows_whichever_part_separates_the_held_out_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    sharp = _class_vectors(labels, 1.0, rng)
    blurred = _class_vectors(labels, 10.0, rng)
    learned_wins = choose_share(sharp, blurred, labels)
    scores = learned_wins.scores
    assert set(scores) == set(SHARES) and learned_wins.best_auc == max(scores.values())
    # The largest share within half a standard error of the best, not the best itself.
    floor = learned_wins.best_auc - TOLERANCE * learned_wins.standard_error
    assert learned_wins.auc == scores[learned_wins.share] >= floor
    assert all(scores[share] < floor for share in SHARES if share > learned_wins.share)
    assert learned_wins.share <= 0.3 and 0 < learned_wins.standard_error < 0.05
    assert learned_wins.learned_auc > 0.9 > 0.6 > learned_wins.histograms_auc
    assert learned_wins.auc >= learned_wins.histograms_auc
    histograms_win = choose_share(blurred, sharp, labels)
    assert histograms_win.share == max(SHARES)
    assert histograms_win.histograms_auc > 0.9 > 0.6 > histograms_win.learned_auc
    assert histograms_win.pairs == len(labels) * (len(labels) - 1) // 2
    # Each part tells apart what the other confuses: the joined distance beats both.
    learned_sees = _class_vectors(np.minimum(labels, 1), 0.3, rng)  # classes 1 and 2 alike
    histograms_see = _class_vectors(np.maximum(labels, 1), 0.3, rng)  # classes 0 and 1 alike
    both = choose_share(learned_sees, histograms_see, labels)
    assert min(SHARES) < both.share < max(SHARES)
    assert both.auc > max(both.learned_auc, both.histograms_auc) + 0.05


def test_the_probe_classes_sit_out_the_first_steps_then_train(dataset_factory, config_factory):
    from siamese_gui.core.training.train import training_batches

    data = dataset_factory(per_class=20)
    train_idx = np.arange(len(data))
    probe = plan_probe(data.labels, train_idx, total_steps=10, seed=0)
    batches = training_batches(data, train_idx, config_factory(batch_size=8), probe)
    seen = [set(labels.numpy().tolist()) for _, labels in batches.take(probe.steps + 8)]
    assert all(not (labels & set(probe.classes)) for labels in seen[: probe.steps])
    assert set().union(*seen[probe.steps:]) == set(range(4))


@pytest.mark.parametrize("stop_at", [None, 1])
def test_a_run_says_how_it_chose_its_share(dataset_factory, config_factory, stop_at):
    """A run with the automatic share reports the probe's evidence and uses its choice;
    stopped before the probe step, it keeps the share for its image count and says so."""
    from siamese_gui.core.training.train import train

    steps = []
    config = config_factory(epochs=0, steps=6, batch_size=16, histogram_share=0.0)
    result = train(
        config, dataset_factory(per_class=20), on_batch=steps.append,
        should_stop=(lambda: stop_at is not None and len(steps) >= stop_at),
    )
    share = float(result.embedding.get_layer("histograms_share").scale) ** 2
    if stop_at is None:
        assert "automatic: the largest share within half a standard error of the best" in result.histograms
        assert "kept out of the first 5 of 6 steps" in result.histograms
        assert result.histograms.startswith(f"{share:.0%} of each squared distance")
        assert round(share, 4) in SHARES
        record = result.share_choice
        assert record["share"] == pytest.approx(share) and record["held_out_for_steps"] == 5
        assert len(record["held_out_classes"]) == 2 and set(record["held_out_classes"]) <= set(TINY_CLASSES)
        assert record["best_auc"] == max(record["auc_by_share"].values())
        assert record["auc_by_share"][f"{share:.4g}"] == record["auc"]
        assert record["auc"] >= record["best_auc"] - TOLERANCE * record["standard_error"] - 1e-6
    else:
        assert result.status == "stopped"
        assert "(automatic)" in result.histograms and "the run ended before step 5" in result.histograms
        assert share == pytest.approx(0.95)
        assert result.share_choice is None
