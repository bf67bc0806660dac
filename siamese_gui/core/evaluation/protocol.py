"""The one evaluation recipe: which pairs, which distances, which numbers.

The CLI, every panel, training, the benchmark and the tests call `evaluate` so that a
figure means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import STANDARD_SEED, Pairs, balanced_pairs, random_pairs
from siamese_gui.core.evaluation.metrics import (
    EvaluationReport,
    Rate,
    ThresholdMetrics,
    class_pair_errors,
    evaluate_distances,
    judged_same,
    metrics_at,
    pair_distances,
    roc_curve,
    wilson_rate,
)

# Panels embed at most this many images (a seeded sample beyond it): all of
# Fashion-MNIST's 10,000 test images, so the panels show the same figures as
# `siamese-gui evaluate`, in about a second per model change.
PANEL_IMAGES = 10_000


def evaluation_pairs(labels: np.ndarray, count: int | None = None, seed: int = STANDARD_SEED) -> Pairs:
    """The evaluation pairs of a set of images.

    Args:
        labels: class of each image.
        count: how many pairs; None gives the standard protocol (every image gets one
            same-class and one different-class partner: 20,000 pairs on Fashion-MNIST's
            test split with seed 0).
        seed: seeds the partners.
    """
    if count is None:
        return balanced_pairs(labels, seed=seed)
    return random_pairs(labels, count, seed)


@dataclass(frozen=True)
class ClassBreakdown:
    """Where the errors are, class by class, at one threshold.

    Attributes:
        frr: per class name, the share of its same-class pairs wrongly rejected.
        confused: (class a, class b, false accepts, pairs), most false accepts first.
    """

    frr: dict[str, Rate]
    confused: list[tuple[str, str, int, int]]

    def as_dict(self) -> dict:
        return {
            "frr_per_class": {name: rate.as_dict() for name, rate in self.frr.items()},
            "most_confused": [
                {"a": a, "b": b, "false_accepts": n, "pairs": total} for a, b, n, total in self.confused
            ],
        }


@dataclass(frozen=True)
class Evaluation:
    """A model scored on one set of pairs.

    Attributes:
        data: the images the pairs index.
        description: which images these are, in words (shown beside every number).
        embeddings: one embedding per image of `data`.
        pairs: the evaluation pairs.
        distances: the distance of each pair.
        report: AUC, EER and the best threshold on these pairs (None where undefined).
        seed: the seed that drew the pairs (and the image sample).
        source_indices: the index of each image in the dataset it was sampled from.
    """

    data: Dataset
    description: str
    embeddings: np.ndarray
    pairs: Pairs
    distances: np.ndarray
    report: EvaluationReport
    seed: int
    source_indices: np.ndarray

    @cached_property
    def roc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(far, tar, thresholds); see `core.evaluation.roc_curve`."""
        return roc_curve(self.distances, self.pairs.same)

    def embeddings_of(self, indices: np.ndarray) -> np.ndarray | None:
        """The embeddings of images `indices` of the sampled-from dataset, or None when
        some of them were not sampled (so they must be embedded)."""
        if len(self.source_indices) == 0:
            return None
        positions = np.searchsorted(self.source_indices, indices)
        positions = np.minimum(positions, len(self.source_indices) - 1)
        if not np.array_equal(self.source_indices[positions], indices):
            return None
        return self.embeddings[positions]

    @property
    def dataset(self) -> Dataset:
        """The images the pairs index (the same as `data`)."""
        return self.data

    def at(self, threshold: float) -> ThresholdMetrics:
        """Accuracy, FAR, FRR (with intervals) at `threshold`."""
        return metrics_at(self.distances, self.pairs.same, threshold)

    def wrong(self, threshold: float) -> np.ndarray:
        """Whether each pair's verdict at `threshold` is wrong."""
        return judged_same(self.distances, threshold) != self.pairs.same

    def breakdown(self, threshold: float, top: int = 5) -> ClassBreakdown:
        """FRR per class and the most-confused class pairs at `threshold`."""
        names = self.data.class_names
        errors, totals = class_pair_errors(
            self.data.labels, self.pairs, self.distances, threshold, len(names)
        )
        frr = {
            names[c]: wilson_rate(errors[c, c], totals[c, c])
            for c in range(len(names))
            if totals[c, c] > 0
        }
        confused = [
            (names[a], names[b], int(errors[a, b]), int(totals[a, b]))
            for a in range(len(names))
            for b in range(a + 1, len(names))
            if errors[a, b] > 0
        ]
        confused.sort(key=lambda row: (-row[2], row[0], row[1]))
        return ClassBreakdown(frr, confused[:top])


def evaluate(
    embed: Callable[..., np.ndarray],
    data: Dataset,
    description: str,
    pairs: int | None = None,
    seed: int = STANDARD_SEED,
    max_images: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation:
    """Score a model on balanced pairs of `data`.

    Args:
        embed: the model's `embed(images, should_stop=...)` (a `ModelHandle.embed`).
        data: held-out images (never the images the model trained on).
        description: which images these are, for display.
        pairs: how many pairs; None = the standard protocol (two per image).
        seed: seeds the pairs and the image sample.
        max_images: embed at most this many images (a seeded, stratified-by-chance
            sample); None embeds them all.
        should_stop: polled between embedding batches.
    """
    source_indices = np.arange(len(data))
    if max_images is not None and len(data) > max_images:
        rng = np.random.default_rng(seed)
        source_indices = np.sort(rng.choice(len(data), max_images, replace=False))
        data = data.subset(source_indices)
        description = f"{description}; a seeded sample of {max_images:,}"
    chosen = evaluation_pairs(data.labels, pairs, seed)
    embeddings = np.asarray(embed(data.images, should_stop=should_stop))
    distances = pair_distances(embeddings, chosen)
    return Evaluation(
        data=data,
        description=description,
        embeddings=embeddings,
        pairs=chosen,
        distances=distances,
        report=evaluate_distances(distances, chosen.same),
        seed=seed,
        source_indices=source_indices,
    )
