"""The Models panel: several models on the same evaluation pairs, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.model_comparison import (
    DEFAULT_FRR,
    ModelComparison,
    ModelScore,
    comparison_table,
    evaluation_set_from,
    score_model,
)
from siamese_gui.gui import theme
from siamese_gui.gui.common import show_error
from siamese_gui.gui.widgets.plots import DeferredCanvas, set_roles, style_axes, themed_legend
from siamese_gui.gui.workers import error_text

MODEL_FILTER = "Keras model (*.keras);;All files (*)"


def _load_and_score(path: Path, evaluation, should_stop):
    from siamese_gui.core.runtime.loading import load_model_handle

    handle = load_model_handle(path)
    return handle, score_model(handle, evaluation, DEFAULT_FRR, should_stop=should_stop)


@dataclass
class ModelEntry:
    """One model in the comparison.

    Attributes:
        handle: the model.
        score: its numbers on the shared pairs (None until computed).
        current: whether it is the app's current model (which cannot be removed here).
    """

    handle: object
    score: ModelScore | None
    current: bool = False


class ComparisonPlots(DeferredCanvas):
    """Overlaid distance histograms and ROC curves, one colour per model."""

    def __init__(self):
        super().__init__(9.0, 3.6)
        self.setMinimumSize(300, 220)
        self.hist_ax, self.roc_ax = self.figure.subplots(1, 2, width_ratios=[1.35, 1])
        self.show_scores([], None, "")

    def show_scores(self, scores: list[ModelScore], same: np.ndarray | None, message: str) -> None:
        """Redraw for `scores` (all measured on pairs whose kind is `same`)."""
        for ax in (self.hist_ax, self.roc_ax):
            ax.clear()
            style_axes(ax)
        self.hist_ax.set_title("Distances: same class (solid), different (dashed)", fontsize=10)
        self.roc_ax.set_title("ROC", fontsize=10)
        if not scores or same is None:
            set_roles(self.hist_ax.text(0.5, 0.5, message, ha="center", va="center",
                                        transform=self.hist_ax.transAxes, fontsize=9), color="muted")
            self.draw_idle()
            return
        set_roles(self.roc_ax.plot([0, 1], [0, 1], linewidth=1, linestyle=":"), color="diagonal")
        for k, score in enumerate(scores):
            color = f"series:{k}"  # a role: the theme's k-th series colour at each draw
            d = score.distances
            upper = max(float(np.quantile(d, 0.999)), score.threshold) * 1.05
            bins = np.linspace(0, max(upper, 1e-3), 50)
            *_, same_steps = self.hist_ax.hist(d[same], bins=bins, histtype="step", linewidth=1.6,
                                               label=f"{score.name}")
            *_, different_steps = self.hist_ax.hist(d[~same], bins=bins, histtype="step", linewidth=1.4,
                                                    linestyle="--")
            set_roles([same_steps, different_steps], edgecolor=color)
            set_roles(self.hist_ax.axvline(score.threshold, linewidth=1, linestyle=":"), color=color)
            far, tar, _ = score.roc
            auc = "" if score.report.auc is None else f" (AUC {score.report.auc:.3f})"
            set_roles(self.roc_ax.plot(far, tar, linewidth=2, label=score.name + auc), color=color)
            m = score.at_threshold
            set_roles(self.roc_ax.plot([m.far], [1 - m.frr], "o", markersize=7), color=color)
        self.hist_ax.set_xlabel("distance (dotted: each model's threshold)")
        self.hist_ax.set_ylabel("pairs")
        themed_legend(self.hist_ax, fontsize=8, frameon=False)
        self.roc_ax.set_xlim(-0.01, 1.0)
        self.roc_ax.set_ylim(0.0, 1.01)
        self.roc_ax.set_xlabel("false accept rate (FAR)")
        self.roc_ax.set_ylabel("true accept rate (1 − FRR)")
        themed_legend(self.roc_ax, loc="lower right", fontsize=8, frameon=False)
        self.draw_idle()


_REFRESH_TASK = "models refresh"

class ModelsPanel(QWidget):
    """Compare the current model with other model files on the same pairs.

    Args:
        state: the app state; reads `model`, `test_data`, `modelChanged` (and
            `dataChanged` where it exists).
        runner: the task runner; models are loaded and images embedded there.
    """

    scoresChanged = Signal()

    def __init__(self, state, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.entries: list[ModelEntry] = []
        self.evaluation = None
        self._stale = True

        self.add_button = QPushButton("Add model…")
        self.add_button.setToolTip("Open another .keras model and measure it on the same pairs")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setEnabled(False)
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        theme.set_style(self.data_label, lambda c: f"color: {c.muted};")
        self.table = QTableWidget(0, 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.plots = ComparisonPlots()

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plots)
        splitter.setSizes([120, 520])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.data_label)
        layout.addWidget(splitter, 1)

        self.add_button.clicked.connect(lambda _=False: self.add_model())
        self.remove_button.clicked.connect(lambda _=False: self.remove_selected())
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.state.modelChanged.connect(self._inputs_changed)
        if hasattr(self.state, "dataChanged"):
            self.state.dataChanged.connect(self._inputs_changed)
        theme.on_change(self._recolor_names)
        self._render()

    # Keeping up with the app ---------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _inputs_changed(self) -> None:
        self._stale = True
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Measure the current model and every added one on the current test data."""
        self._stale = False
        data = self.state.test_data
        others = [e.handle for e in self.entries if not e.current]
        current = self.state.model
        handles = ([current] if current is not None else []) + others
        if data is None or not handles:
            self.runner.cancel(_REFRESH_TASK)
            self.entries = [ModelEntry(h, None, h is current) for h in handles]
            self.evaluation = None
            self._render()
            return
        def work(should_stop):
            evaluation = evaluation_set_from(data)
            return evaluation, [score_model(h, evaluation, DEFAULT_FRR, should_stop=should_stop) for h in handles]

        def done(result) -> None:
            self.evaluation, scores = result
            self.entries = [ModelEntry(h, s, h is current) for h, s in zip(handles, scores)]
            self._render()

        self.entries = [ModelEntry(h, None, h is current) for h in handles]
        self._render("Measuring the models on the evaluation pairs…")
        # A newer refresh (new data, model or list) supersedes this one.
        self.runner.submit(work, done, self._failed,
                           "Measuring the models on the same pairs…", key=_REFRESH_TASK, cancellable=True)

    def _failed(self, exc: BaseException) -> None:
        self._render()
        show_error(self, "Cannot compare the models", error_text(exc))

    # Adding and removing -------------------------------------------------------------

    def add_model(self, path: str | Path | None = None) -> None:
        """Open a model file and measure it on the same pairs (on the task thread)."""
        if self.state.test_data is None:
            show_error(self, "No data", "Load data first (File menu).")
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Add a model to compare", "", MODEL_FILTER)
            if not path:
                return
        path = Path(path)
        data = self.state.test_data
        evaluation = self.evaluation if self.evaluation is not None and self.evaluation.dataset is data else None

        def work(should_stop):
            return _load_and_score(path, evaluation or evaluation_set_from(data), should_stop)

        def done(result) -> None:
            handle, score = result
            if self.state.test_data is not data:  # the data changed meanwhile: measure again
                self.entries.append(ModelEntry(handle, None))
                self.refresh()
                return
            self.entries.append(ModelEntry(handle, score))
            self._render()

        self.runner.submit(work, done, lambda exc: show_error(self, "Cannot add the model", error_text(exc)),
                           f"Measuring {path.name}…", cancellable=True)

    def compare_models(self, paths) -> None:
        """Compare the current model with exactly these model files (the others added go)."""
        self.entries = [e for e in self.entries if e.current]
        self._render()
        current = getattr(self.state, "model_path", None)
        for path in paths:
            if current is None or Path(path) != Path(current):
                self.add_model(path)

    def remove_selected(self) -> None:
        """Remove the selected model (not the app's current model)."""
        row = self._selected_row()
        if row is None or row >= len(self.entries) or self.entries[row].current:
            return
        del self.entries[row]
        self._render()

    def _selected_row(self) -> int | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return next(iter(rows)) if rows else None

    def _selection_changed(self) -> None:
        row = self._selected_row()
        self.remove_button.setEnabled(row is not None and row < len(self.entries) and not self.entries[row].current)

    # Display -------------------------------------------------------------------------

    @property
    def scores(self) -> list[ModelScore]:
        return [e.score for e in self.entries if e.score is not None]

    def _render(self, message: str = "") -> None:
        scores = self.scores
        if self.evaluation is not None and scores:
            self.data_label.setText(
                f"All models on the same {self.evaluation.description}. Accuracy at each model's own "
                f"threshold; FAR where each model's FRR is {100 * DEFAULT_FRR:g} %; 95 % intervals.")
        elif self.state.test_data is None:
            self.data_label.setText("Load data to compare models.")
        else:
            self.data_label.setText(message or "Add a model to compare it with the current one.")
        table = comparison_table(ModelComparison(tuple(scores), "", 0, DEFAULT_FRR))
        headers = table[0]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for c, tip in enumerate(HEADER_TIPS[:len(headers)]):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.setRowCount(len(self.entries))
        rows = iter(table[1:])
        for r, entry in enumerate(self.entries):
            cells = next(rows) if entry.score is not None else [entry.handle.name] + ["…"] * (len(headers) - 1)
            if entry.current:
                cells = [f"{cells[0]} (current)"] + cells[1:]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setForeground(self._name_brush(r))
                    item.setToolTip(str(getattr(entry.handle, "path", "") or ""))
                self.table.setItem(r, c, item)
        same = None if self.evaluation is None else self.evaluation.pairs.same
        self.plots.show_scores(scores, same, message or "No model measured yet")
        self._selection_changed()
        self.scoresChanged.emit()

    def _name_brush(self, row: int):
        """A model's name in its lines' colour (the text colour until it is measured)."""
        from PySide6.QtGui import QBrush, QColor

        colors = theme.colors()
        if self.entries[row].score is None:
            return QBrush(QColor(colors.text))
        return QBrush(QColor(colors.series[row % len(colors.series)]))

    def _recolor_names(self) -> None:
        for row in range(min(self.table.rowCount(), len(self.entries))):
            item = self.table.item(row, 0)
            if item is not None:
                item.setForeground(self._name_brush(row))


# The plain words of each column of `comparison_table`, in its order.
HEADER_TIPS = (
    "<p>The model measured; (current) is the one every panel uses.</p>" + tooltip("Models", more=True),
    tooltip("ROC AUC", more=True),
    tooltip("EER", more=True),
    tooltip("Model's own threshold", more=True),
    tooltip("Accuracy") + "<p>Read at each model's own threshold.</p>" + tooltip("95 % interval"),
    tooltip("FAR at FRR", more=True) + tooltip("95 % interval"),
)

