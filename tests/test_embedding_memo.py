"""A model handle does not embed the same images twice, and never serves stale results."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from siamese_gui.core.embedding_memo import MIN_IMAGES, EmbeddingMemo
from siamese_gui.core.inference import ModelHandle


def _images(count=MIN_IMAGES, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def _counting_handle():
    calls = []

    def embedder(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :4] * 1.0

    return ModelHandle(embedder, {"threshold": 0.5}), calls


def test_the_same_images_are_embedded_once_and_a_copy_is_returned():
    handle, calls = _counting_handle()
    images = _images()
    first = handle.embed(images)
    embedded = sum(calls)
    second = handle.embed(images.copy())  # equal bytes, another array
    assert sum(calls) == embedded == len(images)
    np.testing.assert_array_equal(first, second)
    second[:] = -1
    np.testing.assert_array_equal(handle.embed(images), first)  # the stored result is untouched
    handle.embed(_images(seed=1))
    assert sum(calls) == 2 * len(images)


def test_small_batches_are_not_remembered():
    handle, calls = _counting_handle()
    pair = _images(2)
    handle.embed(pair)
    handle.embed(pair)
    assert calls == [2, 2]


def test_a_new_embedder_forgets_the_old_embeddings():
    handle, _ = _counting_handle()
    images = _images()
    before = handle.embed(images)
    handle.embedder = lambda batch: batch.reshape(len(batch), -1)[:, :4] * 2.0
    np.testing.assert_allclose(handle.embed(images), 2 * before)


def test_concurrent_requests_compute_once_and_a_failed_run_lets_the_next_compute():
    memo = EmbeddingMemo()
    images = _images()
    runs, results = [], []

    def compute():
        runs.append(1)
        time.sleep(0.2)
        return np.ones((len(images), 3))

    threads = [threading.Thread(target=lambda: results.append(memo.embed(images, compute))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1 and len(results) == 3

    other = _images(seed=2)

    def fail():
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError):
        memo.embed(other, fail)
    np.testing.assert_array_equal(memo.embed(other, lambda: np.zeros((len(other), 3))), 0)


def test_the_start_up_prefetch_leaves_the_panels_test_evaluation_nothing_to_embed(monkeypatch):
    from siamese_gui.core import inference
    from siamese_gui.core.locations import default_model_path
    from siamese_gui.core.prefetch import Prefetch
    from siamese_gui.core.session import panel_evaluation, splits_for_model
    from siamese_gui.core.splits import Role

    prefetch = Prefetch(default_model_path())
    prefetch.warm_up.result(timeout=120)
    source, handle = prefetch.data.result(), prefetch.model.result()
    batches = []
    real = inference.embed_in_batches
    monkeypatch.setattr(inference, "embed_in_batches", lambda *a, **k: batches.append(1) or real(*a, **k))
    evaluation = panel_evaluation(handle, splits_for_model(source, handle), Role.TEST)
    assert batches == [] and len(evaluation.embeddings) == len(evaluation.data) > 0
    assert len(panel_evaluation(handle, splits_for_model(source, handle), Role.VALIDATION).embeddings)
    assert batches == [1]  # the validation images were not prefetched
