"""Several models measured on the same evaluation pairs, side by side.

Each model is scored at its own threshold (the one stored with it), so the comparison
shows what each would do if deployed as saved; AUC and EER compare the distances
independently of any threshold, and FAR at a fixed FRR compares them at one common
operating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import Pairs
from siamese_gui.core.evaluation.metrics import (
    EvaluationReport,
    Rate,
    ThresholdMetrics,
    evaluate_distances,
    metrics_at,
    pair_distances,
    roc_curve,
)
from siamese_gui.core.model.embedding import embed_with_progress

DEFAULT_FRR = 0.05


@dataclass(frozen=True)
class EvaluationSet:
    """Images and the pairs every model is measured on.

    Attributes:
        dataset: the images (never ones a model trained on, where that is known).
        pairs: index pairs into `dataset`.
        description: which images and pairs, in words, for every output.
    """

    dataset: Dataset
    pairs: Pairs
    description: str


def evaluation_set_from(dataset: Dataset) -> EvaluationSet:
    """The standard pairs of held-out images: one same- and one different-class partner
    per image, seed 0 (20,000 pairs on Fashion-MNIST's test split)."""
    from siamese_gui.core.data.pairs import standard_pairs

    pairs = standard_pairs(dataset.labels)
    return EvaluationSet(dataset, pairs, describe_pairs(dataset, pairs))


def describe_pairs(dataset: Dataset, pairs: Pairs) -> str:
    """"20,000 pairs (10,000 same, 10,000 different) from <source>, seed 0"."""
    same = int(np.sum(pairs.same))
    return (
        f"{len(pairs):,} pairs ({same:,} same-class, {len(pairs) - same:,} different-class) "
        f"among {len(dataset):,} images of {dataset.source}; one same- and one different-class "
        "partner per image, seed 0"
    )


def far_at_frr(distances: np.ndarray, same: np.ndarray, frr: float) -> tuple[float | None, float | None]:
    """The lowest FAR whose FRR is at most `frr`, and its threshold.

    Returns:
        (far, threshold), or (None, None) when there are no pairs of one kind.
    """
    same = np.asarray(same, bool)
    if same.all() or not same.any():
        return None, None
    far, tar, thresholds = roc_curve(distances, same)
    allowed = np.flatnonzero(1.0 - tar <= frr + 1e-12)
    k = int(allowed[0])  # FAR only rises with the threshold, so the first is the lowest
    return float(far[k]), float(thresholds[k])


@dataclass(frozen=True)
class ModelScore:
    """One model's numbers on the shared pairs.

    Attributes:
        name: the model's file name.
        path: the model file ("" if unsaved).
        threshold: the model's own threshold.
        threshold_text: the threshold and where it came from (`Threshold.describe`).
        report: AUC, EER and the best threshold on these pairs.
        at_threshold: counts and rates at `threshold`.
        frr_target: the FRR at which `far_at_frr` is read.
        far_at_frr: FAR where FRR is at most `frr_target` (None when undefined).
        far_at_frr_threshold: the threshold giving it.
        far_at_frr_rate: that FAR with its 95 % interval.
        roc: (far, tar, thresholds).
        distances: the distance of every pair.
    """

    name: str
    path: str
    threshold: float
    threshold_text: str
    report: EvaluationReport
    at_threshold: ThresholdMetrics
    frr_target: float
    far_at_frr: float | None
    far_at_frr_threshold: float | None
    far_at_frr_rate: Rate | None
    roc: tuple[np.ndarray, np.ndarray, np.ndarray]
    distances: np.ndarray

    @property
    def accuracy_rate(self) -> Rate:
        """Accuracy at the model's own threshold, with its 95 % Wilson interval."""
        return self.at_threshold.accuracy_rate

    def as_dict(self) -> dict:
        acc = self.accuracy_rate
        far = self.far_at_frr_rate
        return {
            "model": self.name,
            "path": self.path,
            "threshold": self.threshold,
            "threshold_origin": self.threshold_text,
            "auc": self.report.auc,
            "eer": self.report.eer,
            "eer_threshold": self.report.eer_threshold,
            "accuracy": acc.value,
            "accuracy_ci95": None if acc.value is None else [acc.low, acc.high],
            "far": self.at_threshold.far,
            "frr": self.at_threshold.frr,
            "frr_target": self.frr_target,
            "far_at_frr": self.far_at_frr,
            "far_at_frr_ci95": None if far is None or far.value is None else [far.low, far.high],
            "far_at_frr_threshold": self.far_at_frr_threshold,
        }


def score_distances(
    name: str,
    path: str,
    threshold: float,
    threshold_text: str,
    distances: np.ndarray,
    same: np.ndarray,
    frr_target: float = DEFAULT_FRR,
) -> ModelScore:
    """Score one model from its pair distances (no model needed)."""
    distances = np.asarray(distances, np.float64)
    same = np.asarray(same, bool)
    far, far_threshold = far_at_frr(distances, same, frr_target)
    far_rate = None if far_threshold is None else metrics_at(distances, same, far_threshold).far_rate
    return ModelScore(
        name=name,
        path=path,
        threshold=float(threshold),
        threshold_text=threshold_text,
        report=evaluate_distances(distances, same),
        at_threshold=metrics_at(distances, same, threshold),
        frr_target=frr_target,
        far_at_frr=far,
        far_at_frr_threshold=far_threshold,
        far_at_frr_rate=far_rate,
        roc=roc_curve(distances, same),
        distances=distances,
    )


def score_model(
    handle,
    evaluation: EvaluationSet,
    frr_target: float = DEFAULT_FRR,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    done: int = 0,
    total: int | None = None,
) -> ModelScore:
    """Embed the evaluation images with one model and score it at its own threshold."""
    embeddings = embed_with_progress(handle, evaluation.dataset.images, progress, should_stop, done, total)
    distances = pair_distances(embeddings, evaluation.pairs)
    threshold = handle.threshold
    return score_distances(
        handle.name, str(handle.path or ""), threshold.value, threshold.describe(),
        distances, evaluation.pairs.same, frr_target,
    )


@dataclass(frozen=True)
class ModelComparison:
    """Models scored on the same pairs."""

    scores: tuple[ModelScore, ...]
    evaluation: str
    pairs: int
    frr_target: float

    def as_dict(self) -> dict:
        return {
            "evaluation": self.evaluation,
            "pairs": self.pairs,
            "frr_target": self.frr_target,
            "models": [s.as_dict() for s in self.scores],
        }


def compare_models(
    handles: Sequence,
    evaluation: EvaluationSet,
    frr_target: float = DEFAULT_FRR,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ModelComparison:
    """Score every model on the same pairs.

    Args:
        handles: `core.inference.ModelHandle`s.
        evaluation: the shared images and pairs (see `evaluation_set`).
        frr_target: the FRR at which FAR is compared.
        progress: called with (images embedded, images x models).
        should_stop: polled between chunks.
    """
    n = len(evaluation.dataset.images)
    scores = tuple(
        score_model(h, evaluation, frr_target, progress, should_stop, i * n, n * len(handles))
        for i, h in enumerate(handles)
    )
    return ModelComparison(scores, evaluation.description, len(evaluation.pairs), frr_target)


def comparison_table(comparison: ModelComparison) -> list[list[str]]:
    """Rows of text for a side-by-side table: a header row, then one row per model."""
    frr = f"{100 * comparison.frr_target:g} %"
    rows = [["model", "AUC", "EER", "threshold", "accuracy (95 % CI)", f"FAR at FRR {frr} (95 % CI)"]]
    for s in comparison.scores:
        rows.append([
            s.name,
            "undefined" if s.report.auc is None else f"{s.report.auc:.4f}",
            "undefined" if s.report.eer is None else f"{100 * s.report.eer:.2f} %",
            f"{s.threshold:.4f}",
            s.accuracy_rate.describe(2),
            "undefined" if s.far_at_frr_rate is None else s.far_at_frr_rate.describe(2),
        ])
    return rows


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
