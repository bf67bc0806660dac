"""The default recipe: gradient histograms inside the model, the histogram share and the
step schedule."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_dataset


def _binomial_blur(x: np.ndarray) -> np.ndarray:
    """3x3 [1, 2, 1] blur, pixel by pixel, edges mirrored without repeating the edge."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * padded[:, dy : dy + x.shape[1], dx : dx + x.shape[2]]
    return out


def _reference_histograms(images: np.ndarray, bins: int = 18, smooth: bool = False) -> np.ndarray:
    """Signed gradient histograms computed pixel by pixel with numpy, for comparison."""
    from siamese_gui.core.model.networks import _hog_pooling_matrix

    x = np.asarray(images, np.float64)
    if smooth:
        x = _binomial_blur(x)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    angle = np.arctan2(gy, gx)
    magnitude = np.hypot(gx, gy)
    centres = 2 * np.pi * np.arange(bins) / bins
    width = 2 * np.pi / bins
    votes = np.zeros((*x.shape, bins))
    for k, centre in enumerate(centres):
        cosine = np.cos(angle - centre)
        votes[..., k] = magnitude * np.maximum(cosine - np.cos(width), 0) / (1 - np.cos(width))
    pool = _hog_pooling_matrix().astype(np.float64)
    cells = np.einsum("py,qx,nyxk->npqk", pool, pool, votes)
    out = []
    for n in range(len(x)):
        blocks = []
        for by in range(3):
            for bx in range(3):
                block = cells[n, 2 * by : 2 * by + 2, 2 * bx : 2 * bx + 2].ravel()
                block = block / (np.linalg.norm(block) + 0.1 * 4 * bins)
                block = np.minimum(block, 0.2)
                blocks.append(block / (np.linalg.norm(block) + 1e-3))
        vector = np.concatenate(blocks)
        out.append(vector / np.linalg.norm(vector))
    return np.stack(out)


def _histograms(images: np.ndarray, smooth: bool = False) -> np.ndarray:
    import keras

    from siamese_gui.core.model.networks import INPUT_SHAPE, GradientHistograms

    image = keras.Input(INPUT_SHAPE)
    model = keras.Model(image, GradientHistograms(18, smooth=smooth)(image))
    return model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0)


@pytest.mark.parametrize("smooth", [False, True])
def test_gradient_histograms_match_a_pixel_by_pixel_reference(smooth):
    images = make_dataset(per_class=3).images
    expected = _reference_histograms(images, smooth=smooth)
    np.testing.assert_allclose(_histograms(images, smooth), expected, atol=2e-5)
    if smooth:  # the blur changes the histograms, so the reference is not the plain one
        assert np.abs(expected - _reference_histograms(images)).max() > 1e-3


def test_models_saved_before_smoothing_keep_their_histograms():
    """A saved layer without a `smooth` setting computes what it did when it was saved."""
    from siamese_gui.core.model.networks import GradientHistograms

    assert GradientHistograms.from_config({"bins": 18}).smooth is False
    assert GradientHistograms.from_config(GradientHistograms(18, smooth=True).get_config()).smooth is True


def test_gradient_histograms_tell_a_shape_from_its_mirror_and_survive_blank_images():
    images = make_dataset(per_class=2).images
    mirrored = images[:, :, ::-1]
    a, b = _histograms(images), _histograms(mirrored)
    assert np.linalg.norm(a - b, axis=1).min() > 0.05  # signed and placed: a mirror differs
    blank = _histograms(np.zeros((2, 28, 28), np.uint8))
    assert np.isfinite(blank).all() and np.abs(blank).max() == 0


def test_the_default_network_runs_in_the_litert_copy(tmp_path):
    """The runtime copy gives the Keras values, for blank and full images too (a fused
    L2 normalisation of the all-zero histograms of a flat image gave NaN)."""
    pytest.importorskip("ai_edge_litert")
    from siamese_gui.core.model.networks import build_embedding_network
    from siamese_gui.core.runtime.copies import runtime_embedder
    from siamese_gui.core.runtime.export import _tflite_bytes, check_parity

    network = build_embedding_network("default", 8)
    path = tmp_path / "default.tflite"
    path.write_bytes(_tflite_bytes(network))
    assert check_parity(network, path) <= 1e-4  # probe images include blank and full ones
    images = np.concatenate([make_dataset(per_class=2).images, np.zeros((2, 28, 28), np.uint8)])
    got = runtime_embedder(path)(images[..., None].astype(np.float32) / 255.0)
    assert np.isfinite(got).all()


def test_default_network_joins_learned_and_histogram_parts_at_the_share():
    import keras

    from siamese_gui.core.model.networks import HISTOGRAM_BINS, build_embedding_network

    network = build_embedding_network("default", 8, histogram_share=0.64)
    images = make_dataset(per_class=2).images[..., None].astype(np.float32) / 255.0
    out = network.predict(images, verbose=0)
    assert out.shape == (len(images), 8 + 36 * HISTOGRAM_BINS)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # The histogram part carries 64 % of the squared length, the learned part 36 %.
    np.testing.assert_allclose(np.sum(out[:, 8:] ** 2, axis=1), 0.64, atol=1e-5)
    assert keras.saving.get_registered_object("siamese_gui>GradientHistograms") is not None


def test_the_goal_decides_whether_histograms_join():
    from siamese_gui.core.model.config import NEW_CLASSES, TRAINED_CLASSES, TrainingConfig
    from siamese_gui.core.training.train import FALLBACK_HISTOGRAM_SHARE, histogram_share

    auto = TrainingConfig()
    assert auto.resolved_goal(open_set=False) == TRAINED_CLASSES
    assert auto.resolved_goal(open_set=True) == NEW_CLASSES
    assert TrainingConfig(goal=TRAINED_CLASSES).resolved_goal(open_set=True) == TRAINED_CLASSES
    assert histogram_share(auto, TRAINED_CLASSES) == 0.0
    assert histogram_share(auto, NEW_CLASSES) == FALLBACK_HISTOGRAM_SHARE == 0.95
    assert histogram_share(TrainingConfig(histogram_share=0.3), NEW_CLASSES) == 0.3
    assert histogram_share(TrainingConfig(preset="seed"), NEW_CLASSES) == 0.0


def test_a_run_for_the_trained_classes_is_the_learned_network_alone(dataset_factory, config_factory):
    from siamese_gui.core.training.train import train

    result = train(config_factory(goal="auto", steps=0, epochs=1), dataset_factory(per_class=20))
    assert result.goal == "trained-classes" and result.share_choice is None
    assert "learned network alone" in result.histograms and "as the split tests them" in result.histograms
    names = {layer.name for layer in result.embedding.layers}
    assert "gradient_histograms" not in names and "histograms_share" not in names
    images = dataset_factory(per_class=2).images[..., None].astype(np.float32) / 255.0
    out = result.embedding.predict(images, verbose=0)
    assert out.shape == (len(images), 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_schedule_by_steps_suits_small_and_large_data():
    from siamese_gui.core.model.config import NEW_CLASSES, TRAINED_CLASSES, TrainingConfig
    from siamese_gui.core.training.train import MAX_STEPS, MIN_STEPS, plan_schedule

    small = plan_schedule(TrainingConfig(), 300)
    large = plan_schedule(TrainingConfig(), 54_000)
    assert small.steps >= MIN_STEPS and large.steps == MAX_STEPS[NEW_CLASSES]
    # Aiming at the trained classes, a large dataset trains longer: nothing unseen to lose.
    assert plan_schedule(TrainingConfig(), 54_000, TRAINED_CLASSES).steps == MAX_STEPS[TRAINED_CLASSES]
    assert MAX_STEPS[TRAINED_CLASSES] > MAX_STEPS[NEW_CLASSES]
    assert small.steps_per_epoch == 1 and small.batch_size == 256
    assert "automatic" in small.description and "300 training images" in small.description
    fixed = plan_schedule(TrainingConfig(epochs=3), 54_000)
    assert fixed.steps == 3 * (54_000 // 256) and "3 epochs, as set" in fixed.description
    chosen = plan_schedule(TrainingConfig(steps=500), 54_000)
    assert chosen.steps == 500 and chosen.steps_per_epoch * chosen.epochs >= 500
    assert chosen.description.startswith("500 optimiser steps of 256 images (as set)")


def test_a_run_takes_the_steps_it_was_given_and_says_so(dataset_factory, config_factory):
    from siamese_gui.core.training.train import train

    batches, rounds = [], []
    config = config_factory(epochs=0, steps=7, batch_size=16, histogram_share=0.0)
    result = train(config, dataset_factory(), on_batch=batches.append, on_epoch=rounds.append)
    assert result.status == "completed"
    assert len(batches) == 7
    assert [b.done for b in batches] == list(range(1, 8)) and all(b.steps == 7 for b in batches)
    # Progress speaks in steps, the schedule's unit, not in epochs the user never set.
    assert [b.position() for b in batches] == [f"step {i}/7" for i in range(1, 8)]
    assert rounds[-1].position() == "step 7/7"
    assert all(r.position().startswith("step ") for r in rounds)
    assert result.schedule.startswith("7 optimiser steps of 16 images (as set)")
    assert "kept out of the first 6 of 7 steps" in result.histograms
