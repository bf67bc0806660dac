"""Qt signals over the headless `core.session.Session`: the one state every panel reads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from siamese_gui.core.app.session import Change, DataSource, Session, ThresholdPreset
from siamese_gui.core.data.datasets import Dataset, DataSplits
from siamese_gui.core.data.splits import Role, Splits
from siamese_gui.core.evaluation.protocol import Evaluation
from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin
from siamese_gui.core.runtime.handle import ModelHandle
from siamese_gui.gui.workers import QtDeliver, TaskRunner


class AppState(QObject):
    """Re-emits the session's changes as Qt signals, on the GUI thread.

    Widgets read the session through these properties and ask it to act; they hold no
    copy of its state.
    """

    modelChanged = Signal()
    dataChanged = Signal()
    evaluationChanged = Signal()
    thresholdChanged = Signal(float)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._deliver = QtDeliver(self)
        self.runner = TaskRunner(self._deliver, self)
        self.session: Session = self.runner.session
        self.session.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        if change is Change.MODEL:
            self.modelChanged.emit()
        elif change is Change.DATA:
            self.dataChanged.emit()
        elif change is Change.EVALUATION:
            self.evaluationChanged.emit()
        else:
            self.thresholdChanged.emit(self.session.threshold.value)

    # Reading --------------------------------------------------------------------------

    @property
    def model(self) -> ModelHandle | None:
        return self.session.model

    @property
    def has_model(self) -> bool:
        return self.session.model is not None

    @property
    def model_path(self) -> Path | None:
        return self.session.model.path if self.session.model is not None else None

    @property
    def model_name(self) -> str:
        return self.session.model.name if self.session.model is not None else "none"

    @property
    def threshold(self) -> Threshold:
        """The threshold every panel uses: its value, how it was chosen, on which pairs."""
        return self.session.threshold

    @property
    def splits(self) -> Splits | None:
        return self.session.splits

    @property
    def test_data(self) -> Dataset | None:
        """Held-out images the model did not train on (what Compare, Gallery and the
        Threshold panel show)."""
        return self.session.splits.test if self.session.splits else None

    @property
    def train_data(self) -> Dataset | None:
        return self.session.splits.train if self.session.splits else None

    @property
    def source(self) -> DataSource | None:
        return self.session.source

    @property
    def evaluation(self) -> Evaluation | None:
        """The test evaluation ("expected on new images")."""
        return self.session.evaluation(Role.TEST)

    @property
    def validation_evaluation(self) -> Evaluation | None:
        """The validation evaluation, where thresholds are chosen."""
        return self.session.evaluation(Role.VALIDATION)

    # Acting ---------------------------------------------------------------------------

    def set_model(self, model: ModelHandle | None, source: DataSource | None = None) -> None:
        """Use `model` (and, with `source`, that data in the same change)."""
        self.session.set_model(model, source)
        self.refresh_evaluations()

    def set_data(self, source: DataSource | DataSplits | Dataset) -> None:
        """Use new data: a `DataSource`, Fashion-MNIST-like `DataSplits` (validation from
        its train split, test = its test split) or one `Dataset` (split 70/15/15)."""
        if isinstance(source, DataSplits):
            source = DataSource(fashion_mnist=source)
        elif isinstance(source, Dataset):
            source = DataSource(dataset=source)
        self.session.set_data(source)
        self.refresh_evaluations()

    def refresh_evaluations(self) -> None:
        self.session.refresh_evaluations(on_error=self.runner.report_error)

    def set_threshold(self, value: float, origin: ThresholdOrigin = ThresholdOrigin.USER, detail: str = "") -> None:
        """Set the shared threshold; values that are not finite and non-negative are ignored."""
        value = float(value)
        if math.isfinite(value) and value >= 0:
            self.session.set_threshold(value, origin, detail)

    def apply_preset(self, preset: ThresholdPreset) -> Threshold:
        return self.session.apply_preset(preset)

    def model_saved(self, path: Path) -> None:
        """Record that the current model now lives at `path` (after Save As)."""
        model = self.session.model
        if model is not None:
            model.path = Path(path)
            model.read_only = False
            self.modelChanged.emit()

    def threshold_range(self) -> float:
        """The upper end of the threshold controls: past nearly every distance seen."""
        upper = 2.0
        evaluation = self.evaluation
        if evaluation is not None and len(evaluation.distances):
            upper = float(np.quantile(evaluation.distances, 0.995)) * 1.15
        upper = max(upper, self.threshold.value * 1.25, 0.1)
        return math.ceil(upper * 10) / 10

    def shutdown(self) -> None:
        """Cancel the work in progress and wait for the worker."""
        self.runner.shutdown()
