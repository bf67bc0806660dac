"""The validation pairs a model's threshold is chosen on, their record, and the figures
at a threshold on them.

Training chooses the recommended threshold on `validation_pairs` of its validation
images and records them (`validation_record`: how many images and pairs, the pairs'
seed, a SHA-256 of the images and labels). When another threshold is saved with the
model, `figures_at` measures it on the same pairs where those images are at hand again,
so the figures saved with a model are always the ones at its stored threshold.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import Pairs, balanced_pairs
from siamese_gui.core.evaluation.metrics import metrics_at, pair_distances
from siamese_gui.core.evaluation.threshold import Threshold

# Where the record lives in a model's `metrics`.
RECORD_FIELD = "validation_pairs"


def validation_pairs(labels: np.ndarray, seed: int) -> Pairs:
    """Balanced pairs among held-out images, used to choose the threshold."""
    return balanced_pairs(labels, seed=seed + 1)


def images_sha256(data: Dataset) -> str:
    """SHA-256 of a dataset's pixels, labels and class names, as the model sees them."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data.images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(data.labels, dtype=np.int64).tobytes())
    digest.update("\n".join(data.class_names).encode("utf-8"))
    return digest.hexdigest()


def validation_record(data: Dataset, seed: int, pairs: Pairs, description: str) -> dict:
    """What a model file records about the validation pairs its threshold was chosen on.

    Args:
        data: the validation images.
        seed: the run's seed (the pairs are `validation_pairs(data.labels, seed)`).
        pairs: those pairs.
        description: which pairs these are, in words.
    """
    return {"images": len(data), "pairs": len(pairs), "seed": int(seed),
            "images_sha256": images_sha256(data), "description": description}


def matches_record(record, data: Dataset | None) -> bool:
    """Whether `data` holds exactly the validation images `record` describes."""
    if not isinstance(record, dict) or data is None or record.get("images") != len(data):
        return False
    return record.get("images_sha256") == images_sha256(data)


def figures_at(
    metadata: dict,
    threshold: Threshold,
    embed: Callable[..., np.ndarray],
    validation: Dataset | None,
    should_stop: Callable[[], bool] | None = None,
) -> dict | None:
    """The figures at `threshold` on the validation pairs the model records, for its file.

    Args:
        metadata: the model's metadata (its `metrics.validation_pairs` record).
        threshold: the threshold to measure.
        embed: the model's `embed(images, should_stop=...)`.
        validation: the validation images at hand (the session's), or None.
        should_stop: polled between embedding batches.

    Returns:
        `ThresholdMetrics.as_dict()` plus "measured_on" (the pairs, in words), or None where the model records no validation pairs or `validation`
        is not exactly them.
    """
    record = (metadata.get("metrics") or {}).get(RECORD_FIELD)
    if not matches_record(record, validation):
        return None
    pairs = validation_pairs(validation.labels, int(record.get("seed", 0)))
    if len(pairs) != record.get("pairs"):
        return None
    embeddings = np.asarray(embed(validation.images, should_stop=should_stop))
    distances = pair_distances(embeddings, pairs)
    figures = metrics_at(distances, pairs.same, threshold.value).as_dict()
    figures["measured_on"] = str(record.get("description") or f"{len(pairs):,} validation pairs")
    return figures
