"""The Threshold panel: distance histograms, ROC, metrics at the threshold, presets."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.scoring import part_headline
from siamese_gui.core.app.session import ThresholdPreset
from siamese_gui.core.data.splits import test_classes_in_words
from siamese_gui.core.errors import SiameseError
from siamese_gui.gui import theme
from siamese_gui.gui.common import ask, show_error
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.disclosure import DetailsToggle
from siamese_gui.gui.widgets.neutral_tooltips import NeutralTooltips
from siamese_gui.gui.widgets.plots import ThresholdPlots
from siamese_gui.gui.widgets.threshold_control import ThresholdControl

# Thresholds picked from the evaluation pairs (not the architecture presets of core.config).
THRESHOLD_PRESETS = {"max_accuracy": "Max accuracy", "eer": "Equal error rate", "far_1": "FAR ≤ 1 %"}
_PRESETS = {"max_accuracy": ThresholdPreset.MAX_ACCURACY, "eer": ThresholdPreset.EQUAL_ERROR,
            "far_1": ThresholdPreset.FAR_1}
# (row name, field of ThresholdMetrics, its glossary term)
METRIC_ROWS = (
    ("Accuracy", "accuracy", "Accuracy"),
    ("Precision", "precision", "Precision"),
    ("Recall (TAR)", "recall", "TAR"),
    ("FAR", "far", "FAR"),
    ("FRR", "frr", "FRR"),
)


# Rows shown with their 95 % interval (or "not enough data") from the core.
_RATES = {"accuracy": "accuracy_rate", "far": "far_rate", "frr": "frr_rate"}


def _rate_text(metrics, field: str) -> str:
    if field in _RATES:
        rate = getattr(metrics, _RATES[field])
        return rate.describe() if rate.measured else "not enough data"
    return f"{getattr(metrics, field):.1%}"


class ThresholdPanel(QWidget):
    """Shows how the threshold trades false accepts against false rejects.

    The shipped model (and any read-only model) is never written: saving the threshold
    then saves a copy of the model in the user's data folder.

    Signals:
        saveModelRequested(str): the model must be saved to a new file (it has none
            yet, or it is read-only): a suggested path.
        statusMessage(str): a short note for the status bar.
    """

    saveModelRequested = Signal(str)
    statusMessage = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._preset_pick: tuple[float, str] | None = None  # (threshold, how it was chosen)
        self._summary = ("", "")  # (which classes, the pairs in words) of the current evaluation
        self.plots = ThresholdPlots()
        self.control = ThresholdControl(state)

        self.recommended_button = QPushButton("Model's recommended")
        self.recommended_button.setToolTip(tooltip("Model's own threshold"))
        self.recommended_button.clicked.connect(self.restore_recommended)
        self.max_accuracy_button = QPushButton(THRESHOLD_PRESETS["max_accuracy"])
        self.max_accuracy_button.setToolTip(tooltip("Max accuracy", more=True))
        self.eer_button = QPushButton(THRESHOLD_PRESETS["eer"])
        self.eer_button.setToolTip(tooltip("Equal error rate", more=True))
        self.far_button = QPushButton(THRESHOLD_PRESETS["far_1"])
        self.far_button.setToolTip(tooltip("FAR ≤ 1 %", more=True))
        self._preset_tips = {b: b.toolTip() for b in (self.max_accuracy_button, self.eer_button, self.far_button)}
        self.max_accuracy_button.clicked.connect(lambda: self.apply_preset("max_accuracy"))
        self.eer_button.clicked.connect(lambda: self.apply_preset("eer"))
        self.far_button.clicked.connect(lambda: self.apply_preset("far_1"))
        self.save_button = QPushButton("Save threshold with model…")
        self.save_button.setToolTip(
            "Store this threshold with the model (the shipped model is never changed: a copy is saved)"
        )
        self.save_button.clicked.connect(self.save_threshold)
        # The threshold in use leads with one plain sentence (`Threshold.lead`); where it
        # and the model's own come from in full is behind Details.
        self.provenance_label = QLabel()
        self.provenance_label.setWordWrap(True)
        self.provenance_label.setTextFormat(Qt.TextFormat.PlainText)
        self.provenance_label.setAccessibleName("Where the threshold comes from")
        self.model_threshold_label = QLabel()
        self.model_threshold_label.setWordWrap(True)
        theme.set_style(self.model_threshold_label, lambda c: f"color: {c.muted};")

        self.table = QTableWidget(len(METRIC_ROWS), 2)
        self.table.setHorizontalHeaderLabels(["At the threshold", "Value"])
        self.table.horizontalHeaderItem(0).setToolTip(tooltip("Threshold"))
        self.table.horizontalHeaderItem(1).setToolTip(tooltip("95 % interval"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        for row, (name, _, term) in enumerate(METRIC_ROWS):
            item = QTableWidgetItem(name)
            item.setToolTip(tooltip(term, more=True))
            self.table.setItem(row, 0, item)
            value = QTableWidgetItem("—")
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, value)
        self.table.setFixedHeight(self.table.verticalHeader().length() + self.table.horizontalHeader().height() + 4)
        self.table.setMinimumWidth(280)
        self.counts_label = QLabel()
        theme.set_style(self.counts_label, lambda c: f"color: {c.muted};")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        theme.set_style(self.summary_label, lambda c: f"color: {c.muted};")

        presets = QGroupBox("Threshold")
        presets_layout = QVBoxLayout(presets)
        presets_layout.addWidget(self.control)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Presets:"))
        for button in (self.recommended_button, self.max_accuracy_button, self.eer_button, self.far_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        presets_layout.addLayout(buttons)
        provenance_row = QHBoxLayout()
        self.model_threshold_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = DetailsToggle(self.model_threshold_label)
        provenance_row.addWidget(self.provenance_label, 1)
        provenance_row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        presets_layout.addLayout(provenance_row)
        presets_layout.addWidget(self.model_threshold_label)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_button)
        save_row.addStretch(1)
        presets_layout.addLayout(save_row)
        presets_layout.addWidget(self.summary_label)
        presets_layout.addStretch(1)

        metrics = QGroupBox("Metrics")
        metrics_layout = QVBoxLayout(metrics)
        metrics_layout.addWidget(self.table)
        metrics_layout.addWidget(self.counts_label)
        metrics_layout.addStretch(1)

        bottom = QGridLayout()
        bottom.addWidget(presets, 0, 0)
        bottom.addWidget(metrics, 0, 1)
        bottom.setColumnStretch(0, 3)
        bottom.setColumnStretch(1, 2)
        # Each plot explains itself under the pointer.
        self._plot_tips = {self.plots.hist_ax: tooltip("Distance histograms", more=True),
                           self.plots.roc_ax: tooltip("ROC curve", more=True)}
        self.plots.setToolTip(tooltip("Distance histograms") + tooltip("ROC curve"))
        self.plots.mpl_connect("motion_notify_event", self._plot_hovered)
        self.counts_label.setToolTip(tooltip("Accepted and rejected", more=True))
        self.summary_label.setToolTip(tooltip("Test pairs", more=True) + tooltip("ROC AUC") + tooltip("EER"))
        NeutralTooltips(self, (self.counts_label, self.summary_label))  # not in their muted grey
        layout = QVBoxLayout(self)
        layout.addWidget(self.plots, 1)
        layout.addLayout(bottom)

        state.evaluationChanged.connect(self.refresh)
        state.modelChanged.connect(self._update_buttons)
        state.thresholdChanged.connect(self._threshold_changed)
        self.refresh()

    def _plot_hovered(self, event) -> None:
        tip = self._plot_tips.get(event.inaxes, tooltip("Distance histograms") + tooltip("ROC curve"))
        if tip != self.plots.toolTip():
            self.plots.setToolTip(tip)

    def _update_buttons(self) -> None:
        # Presets are chosen on the validation pairs, which may arrive after the test pairs.
        validation = self.state.validation_evaluation
        usable = validation is not None and validation.report.defined
        if validation is None:
            why = "Waiting for the validation pairs to be scored."
        elif not usable:
            why = ("Not available: the validation images hold only one kind of pair (no two images of "
                   "one class, or only one class), so no threshold can be chosen on them. The model's "
                   "own threshold still applies; add images to use the presets.")
        for button in (self.max_accuracy_button, self.eer_button, self.far_button):
            button.setEnabled(usable)
            button.setToolTip(self._preset_tips[button] if usable else why)
        model = self.state.model
        self.recommended_button.setEnabled(model is not None)
        self.save_button.setEnabled(model is not None)
        self._show_provenance()

    def _show_provenance(self) -> None:
        """Say where the threshold in use comes from: one plain sentence, and behind
        Details the full provenance of it and of the model's own."""
        threshold, model = self.state.threshold, self.state.model
        self.provenance_label.setText(f"Threshold in use: {threshold.value:.4f}. {threshold.lead()}")
        lines = [f"In use: {threshold.describe()}"]
        if model is not None:
            lines.append(f"The model's own: {model.threshold.describe()}")
        self.model_threshold_label.setText("\n".join(lines))

    def refresh(self) -> None:
        """Redraw everything for the current evaluation (once per model or data change)."""
        self._update_buttons()
        evaluation = self.state.evaluation
        if evaluation is None:
            if self.state.has_model and self.state.splits is not None:
                message = "Computing distances of the evaluation pairs…"
            else:
                message = "No evaluation yet: load a model and data"
            self.plots.clear(message)
            self.summary_label.setText("")
            self._show_metrics(None)
            return
        report = evaluation.report
        eer_point = (report.eer, 1 - report.eer) if report.defined else (0.0, 0.0)
        self.plots.set_evaluation(
            evaluation.distances, evaluation.pairs.same, evaluation.roc, eer_point, self.state.threshold.value
        )
        model = self.state.model
        seen = (test_classes_in_words(self.state.splits, model.training_classes)
                if self.state.splits is not None and model is not None else "the test images")
        if report.defined:
            figures = (f"ROC AUC {report.auc:.3f}, equal error rate {report.eer:.1%} at "
                       f"{report.eer_threshold:.3f}")
        else:
            figures = "ROC AUC and EER undefined (only one kind of pair)"
        validation = self.state.validation_evaluation
        where = (f" Presets are chosen on {len(validation.pairs):,} validation pairs, never on these."
                 if validation is not None else "")
        # The accuracy line is the one `evaluate` and `report` print for these images.
        self._summary = (seen, f"{report.pairs:,} test pairs of {evaluation.description}. {figures}.{where}")
        self._threshold_changed(self.state.threshold.value)

    def _threshold_changed(self, threshold: float) -> None:
        self._show_provenance()
        evaluation = self.state.evaluation
        if evaluation is None:
            return
        metrics = evaluation.at(threshold)
        self._show_metrics(metrics)
        seen, rest = self._summary
        self.summary_label.setText(
            f"Expected on new images ({seen}): {part_headline(evaluation, threshold, '')}; {rest}")
        self.plots.set_threshold(threshold, metrics.far, metrics.recall)

    def _show_metrics(self, metrics) -> None:
        self.metrics = metrics
        for row, (_, field, _) in enumerate(METRIC_ROWS):
            text = "—" if metrics is None else _rate_text(metrics, field)
            self.table.item(row, 1).setText(text)
        if metrics is None:
            self.counts_label.setText("")
        else:
            self.counts_label.setText(
                f"accepted: {metrics.true_accepts:,} right, {metrics.false_accepts:,} wrong · "
                f"rejected: {metrics.true_rejects:,} right, {metrics.false_rejects:,} wrong"
            )

    def preset_threshold(self, name: str) -> float | None:
        """The threshold a preset stands for, chosen on the validation pairs (None until
        they are evaluated)."""
        try:
            return self.state.session.preset_threshold(_PRESETS[name]).value
        except SiameseError:
            return None

    def apply_preset(self, name: str) -> None:
        """Set the shared threshold to a preset: "max_accuracy", "eer" or "far_1"."""
        try:
            self.state.apply_preset(_PRESETS[name])
        except SiameseError as exc:
            self.statusMessage.emit(str(exc))

    def restore_recommended(self) -> None:
        """Set the shared threshold back to the one stored with the model."""
        if self.state.model is not None:
            self.state.apply_preset(ThresholdPreset.MODEL)

    def save_threshold(self) -> bool:
        """Store the current threshold, how it was chosen and the figures at it, with the model.

        A model without a file, or a read-only one (the shipped model), is saved as a
        new file through `saveModelRequested`; a model of the user's own is updated
        in place after asking (`core.app.model_files.store_threshold_in`, in the
        background).

        Returns:
            Whether the threshold is being written into the model's own file now.
        """
        model = self.state.model
        if model is None:
            return False
        threshold = self.state.threshold
        if model.path is None or model.read_only:
            self.saveModelRequested.emit(self._copy_suggestion())
            return False
        path = Path(model.path)
        if not ask(self, "Save the threshold?",
                   f"Overwrite the threshold stored with {path.name} "
                   f"({model.threshold.value:.4f}) by {threshold.value:.4f}?"):
            return False
        from siamese_gui.core.app.model_files import store_threshold_in

        splits = self.state.splits
        validation = splits.validation if splits is not None else None

        def saved(metadata: dict) -> None:
            model.metadata = metadata
            self._update_buttons()
            self.statusMessage.emit(f"Threshold {threshold.value:.3f} saved with {path.name}")

        self.state.runner.submit(
            lambda: store_threshold_in(model, threshold, validation), saved,
            lambda exc: show_error(self, "Cannot save the threshold", str(exc)),
            f"Saving the threshold into {path.name}…",
        )
        return True

    def _copy_suggestion(self) -> str:
        """A file in the user's data folder for a copy of the current model."""
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "models"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            folder = Path.home()
        model = self.state.model
        stem = Path(model.path).stem if model is not None and model.path else "model"
        name = f"{stem}-threshold-{self.state.threshold.value:.3f}.keras"
        return str(folder / name)
