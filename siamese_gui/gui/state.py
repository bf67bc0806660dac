"""The one application state every panel reads: model, data, evaluation cache, threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from siamese_gui.core.datasets import Dataset, DataSplits
from siamese_gui.core.evaluation import (
    EvaluationReport,
    evaluate_distances,
    is_valid_threshold,
    judged_same,
    pair_distances,
    roc_curve,
)
from siamese_gui.core.pairs import Pairs, balanced_pairs

EVALUATION_IMAGES = 2000
EVALUATION_SEED = 0
DEFAULT_THRESHOLD = 0.5


is_same = judged_same  # the one verdict convention, from the core


@dataclass(frozen=True)
class Evaluation:
    """Embeddings and pair distances of the evaluation images, computed once per model.

    Attributes:
        dataset: the evaluation images (the test split, or a seeded sample of it).
        embeddings: one embedding per image of `dataset`.
        pairs: balanced same/different pairs among `dataset`'s images.
        distances: the distance of each pair.
        report: AUC, EER and the max-accuracy threshold of these pairs.
        roc: (far, tar, thresholds) from `core.evaluation.roc_curve`.
        generation: the model generation these numbers belong to.
        source_indices: index of each evaluation image in the test split.
    """

    dataset: Dataset
    embeddings: np.ndarray
    pairs: Pairs
    distances: np.ndarray
    report: EvaluationReport
    roc: tuple[np.ndarray, np.ndarray, np.ndarray]
    generation: int
    source_indices: np.ndarray


def compute_evaluation(
    comparator: Any,
    dataset: Dataset,
    generation: int,
    should_stop: Callable[[], bool] | None = None,
    max_images: int = EVALUATION_IMAGES,
) -> Evaluation:
    """Embed the evaluation images once and derive every number the panels show.

    Runs on the task thread.

    Args:
        comparator: a `core.store.Comparator` (anything with `embed(images, should_stop)`).
        dataset: the test split; a seeded sample of `max_images` is used when larger.
        generation: the model generation, so stale results can be dropped.
        should_stop: polled between embedding batches.
        max_images: the most images embedded.
    """
    source_indices = np.arange(len(dataset))
    if len(dataset) > max_images:
        rng = np.random.default_rng(EVALUATION_SEED)
        source_indices = np.sort(rng.choice(len(dataset), max_images, replace=False))
        dataset = dataset.subset(source_indices)
    pairs = balanced_pairs(dataset.labels, seed=EVALUATION_SEED)
    embeddings = np.asarray(comparator.embed(dataset.images, should_stop=should_stop))
    distances = pair_distances(embeddings, pairs)
    return Evaluation(
        dataset=dataset,
        embeddings=embeddings,
        pairs=pairs,
        distances=distances,
        report=evaluate_distances(distances, pairs.same),
        roc=roc_curve(distances, pairs.same),
        generation=generation,
        source_indices=source_indices,
    )


class AppState(QObject):
    """Holds the model, the data, the cached evaluation and the threshold.

    Signals fire on the GUI thread whenever a value changes, so every panel reflects a
    change at once.
    """

    modelChanged = Signal()
    dataChanged = Signal()
    evaluationChanged = Signal()
    thresholdChanged = Signal(float)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.comparator: Any = None
        self.model_path: Path | None = None
        self.model_generation = 0
        self.splits: DataSplits | None = None
        self.evaluation: Evaluation | None = None
        self.threshold = DEFAULT_THRESHOLD

    @property
    def has_model(self) -> bool:
        return self.comparator is not None

    @property
    def model_name(self) -> str:
        """A short name for the model: its file name, or "unsaved" for a new one."""
        if self.model is None:
            return "none"
        return self.model_path.name if self.model_path else "trained (unsaved)"

    @property
    def test_data(self) -> Dataset | None:
        return self.splits.test if self.splits else None

    @property
    def train_data(self) -> Dataset | None:
        return self.splits.train if self.splits else None

    def set_model(self, loaded: Any, comparator: Any, path: Path | None) -> None:
        """Make `loaded` the model every panel uses and take over its threshold."""
        self.model = loaded
        self.comparator = comparator
        self.model_path = Path(path) if path else None
        self.model_generation += 1
        self.evaluation = None
        self.modelChanged.emit()
        self.evaluationChanged.emit()
        self.set_threshold(float(getattr(loaded, "threshold", DEFAULT_THRESHOLD)))

    def set_model_path(self, path: Path | None) -> None:
        """Record where the current model is saved."""
        self.model_path = Path(path) if path else None
        if self.model is not None and hasattr(self.model, "path"):
            self.model.path = self.model_path
        self.modelChanged.emit()

    def set_data(self, splits: DataSplits) -> None:
        """Use new data; the evaluation cache is dropped until it is recomputed."""
        self.splits = splits
        self.evaluation = None
        self.dataChanged.emit()
        self.evaluationChanged.emit()

    def set_evaluation(self, evaluation: Evaluation) -> bool:
        """Store an evaluation unless it belongs to an older model.

        Returns:
            Whether it was stored.
        """
        if evaluation.generation != self.model_generation:
            return False
        self.evaluation = evaluation
        self.evaluationChanged.emit()
        return True

    def set_threshold(self, value: float) -> None:
        """Set the shared threshold; ignored unless `is_valid_threshold` accepts it."""
        if not is_valid_threshold(value):
            return
        value = float(value)
        if value != self.threshold:
            self.threshold = value
            self.thresholdChanged.emit(value)

    def threshold_range(self) -> float:
        """The upper end of the threshold controls: past nearly every distance seen."""
        upper = 2.0
        if self.evaluation is not None and len(self.evaluation.distances):
            upper = float(np.quantile(self.evaluation.distances, 0.995)) * 1.15
        upper = max(upper, self.threshold * 1.25, 0.1)
        return math.ceil(upper * 10) / 10
