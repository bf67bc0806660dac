"""Training on tiny synthetic data: it learns, it stops when asked, it repeats, it fails cleanly."""

import numpy as np
import pytest

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import balanced_pairs
from siamese_gui.core.errors import ConfigError
from siamese_gui.core.evaluation.metrics import pair_distances, roc_auc


def _embed(embedding, images):
    from siamese_gui.core.model.graph import embed

    return embed(embedding, images)


def test_training_lowers_the_loss(trained):
    result, _, batches, _ = trained
    losses = [b.loss for b in batches]
    assert result.status == "completed" and result.usable
    assert len(result.history["loss"]) == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert all(np.isfinite(losses))


def test_same_class_pairs_end_up_closer_than_different_class_pairs(trained, trained_config):
    from siamese_gui.core.model.networks import build_embedding_network

    result, dataset, _, _ = trained
    pairs = balanced_pairs(dataset.labels, seed=5)
    distances = pair_distances(_embed(result.embedding, dataset.images), pairs)
    assert distances[pairs.same].mean() < distances[~pairs.same].mean()
    auc = roc_auc(distances, pairs.same)
    assert auc > 0.85
    untrained = build_embedding_network(
        trained_config.preset, trained_config.embedding_dim, histogram_share=trained_config.histogram_share
    )
    before = pair_distances(_embed(untrained, dataset.images), pairs)
    assert auc > roc_auc(before, pairs.same)


def test_progress_reports_every_batch_and_epoch(trained):
    result, _, batches, epochs = trained
    steps = batches[0].batches_per_epoch
    assert steps in (36 // 8, -(-36 // 8))  # 48 images, a quarter held out, batches of 8
    assert [(b.epoch, b.batch) for b in batches] == [(e, i) for e in range(3) for i in range(steps)]
    assert [e.epoch for e in epochs] == [0, 1, 2] and all(e.epochs == 3 for e in epochs)
    assert batches[-1].position() == f"epoch 3/3 · batch {steps}/{steps}"
    assert [e.position() for e in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(e.val_loss is not None and np.isfinite(e.val_loss) for e in epochs)
    assert batches[-1].eta_s == pytest.approx(0.0)
    assert all(later.elapsed_s >= earlier.elapsed_s for earlier, later in zip(batches, batches[1:]))
    np.testing.assert_allclose([e.loss for e in epochs], result.history["loss"], rtol=1e-5)
    # Each epoch's loss is the mean of its batch losses.
    per_batch = np.array([b.loss for b in batches]).reshape(3, steps).mean(axis=1)
    np.testing.assert_allclose(per_batch, result.history["loss"], rtol=1e-3, atol=1e-5)


def test_result_carries_a_threshold_and_validation_metrics(trained):
    result, _, _, _ = trained
    assert result.threshold is not None and np.isfinite(result.threshold)
    assert result.validation.pairs == 24  # 12 held-out images, two pairs each
    assert result.at_threshold.threshold == result.threshold
    assert result.at_threshold.accuracy == pytest.approx(result.validation.best_accuracy)
    assert result.data_source == "synthetic shapes"
    assert result.seconds > 0


def test_pair_model_distance_matches_the_embeddings(trained):
    result, dataset, _, _ = trained
    x = dataset.images[:4].astype(np.float32)[..., None] / 255.0
    model_distance = np.asarray(result.model([x[:2], x[2:4]], training=False)).ravel()
    vectors = _embed(result.embedding, dataset.images[:4])
    by_hand = np.linalg.norm(vectors[:2] - vectors[2:4], axis=1)
    np.testing.assert_allclose(model_distance, by_hand, rtol=1e-4, atol=1e-3)


def test_should_stop_stops_within_one_batch(dataset_factory, config_factory):
    from siamese_gui.core.training.train import train

    batches, epochs, polls = [], [], []

    def should_stop():
        polls.append(len(batches))
        return len(batches) >= 3

    result = train(
        config_factory(epochs=5, batch_size=4),
        dataset_factory(),
        on_batch=batches.append,
        on_epoch=epochs.append,
        should_stop=should_stop,
    )
    assert batches[0].batches_per_epoch == 9
    assert len(batches) == 3  # would be 45 without the stop
    assert [(b.epoch, b.batch) for b in batches] == [(0, 0), (0, 1), (0, 2)]
    assert epochs == []  # the interrupted epoch is not reported as finished
    assert polls[:3] == [1, 2, 3]
    assert result.status == "stopped" and result.usable
    assert "stopped" in result.message
    assert result.threshold is not None  # the weights so far are kept and evaluated


def test_should_cancel_abandons_the_run_without_validating(dataset_factory, config_factory, monkeypatch):
    import siamese_gui.core.training.train as training
    from siamese_gui.core.errors import Cancelled

    batches = []
    validated = []
    monkeypatch.setattr(training, "embed", lambda *args, **kwargs: validated.append(args))
    with pytest.raises(Cancelled):
        training.train(
            config_factory(epochs=5, batch_size=4),
            dataset_factory(),
            on_batch=batches.append,
            should_cancel=lambda: len(batches) >= 2,
        )
    assert len(batches) == 2  # stopped within the batch, as should_stop does
    assert validated == []  # closing the app does not wait for a validation pass


def test_same_seed_gives_the_same_result(trained, trained_config):
    from siamese_gui.core.training.train import train

    first, dataset, _, _ = trained
    again = train(trained_config, dataset)
    np.testing.assert_allclose(again.history["loss"], first.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        _embed(again.embedding, dataset.images), _embed(first.embedding, dataset.images), atol=1e-5
    )
    assert again.threshold == pytest.approx(first.threshold, abs=1e-5)


def test_non_finite_loss_is_reported_as_a_failure(dataset_factory, config_factory):
    from siamese_gui.core.training.train import train

    data = dataset_factory()
    images = data.images.astype(np.float32)
    images[:, 0, 0] = np.nan  # a corrupted input makes every loss NaN
    bad = Dataset(images, data.labels, data.class_names, "corrupted")
    batches = []
    result = train(config_factory(epochs=3), bad, on_batch=batches.append)
    assert result.status == "failed" and not result.usable
    assert "loss" in result.message and "nan" in result.message.lower()
    assert batches == []  # training stopped at the first non-finite batch
    assert result.threshold is None and result.validation is None


def test_absurd_learning_rate_is_refused_by_its_range(config_factory):
    with pytest.raises(ConfigError, match="learning rate must be between"):
        config_factory(learning_rate=1e30)


def test_too_small_a_dataset_is_a_config_error(config_factory):
    from siamese_gui.core.training.train import train

    tiny = Dataset(np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 1]), ("a", "b"), "three images")
    with pytest.raises(ConfigError, match="three images"):
        train(config_factory(), tiny)


def test_mirror_trained_model_embeds_mirror_images_identically(dataset_factory, config_factory):
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.training.train import train

    data = dataset_factory()
    result = train(config_factory(augment=True, epochs=1, preset="seed"), data)
    plain = embed(result.embedding, data.images)
    mirrored = embed(result.embedding, data.images[:, :, ::-1])
    np.testing.assert_allclose(plain, mirrored, atol=1e-6)


def test_mirror_trained_default_model_averages_its_learned_part_only(dataset_factory, config_factory):
    """The learned part sees a shape and its mirror image as one; the gradient histograms
    still tell them apart (a 2 is not an S)."""
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.training.train import train

    data = dataset_factory()
    result = train(config_factory(augment=True, epochs=1), data)
    dim = result.config.embedding_dim
    plain = embed(result.embedding, data.images)
    mirrored = embed(result.embedding, data.images[:, :, ::-1])
    np.testing.assert_allclose(plain[:, :dim], mirrored[:, :dim], atol=1e-6)
    assert np.abs(plain[:, dim:] - mirrored[:, dim:]).max() > 0.01
    np.testing.assert_allclose(np.linalg.norm(plain, axis=1), 1.0, atol=1e-5)
