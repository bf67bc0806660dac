"""The Verify panel: score a CSV of image pairs, browse the results, export them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.verify import (
    VerifyResult,
    rejudge,
    summarize,
    verify_csv,
    write_results_csv,
)
from siamese_gui.core.evaluation.metrics import Verdict
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    array_to_pixmap,
    show_error,
)
from siamese_gui.gui.widgets.neutral_tooltips import NeutralTooltips
from siamese_gui.gui.workers import error_text

CSV_FILTER = "CSV files (*.csv);;All files (*)"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = 32  # thumbnails in the image columns, in logical pixels
OPEN_HINT = "Double-click a row (or right-click › Open in Compare) to see the pair in Compare."
FILTERS = (("All pairs", "all"), ("Same", "same"), ("Different", "different"), ("Errors", "errors"))


class ResultsModel(QAbstractTableModel):
    """The verification results as a table: line, images, distance, verdict, error."""

    HEADERS = ("Line", "Image A", "Image B", "Distance", "Verdict", "Error")
    HEADER_TIPS = (
        "<p>The line of the CSV file this pair comes from.</p>",
        "<p>The pair's first image file.</p>",
        "<p>The pair's second image file.</p>",
        tooltip("Distance", more=True),
        tooltip("Verdict") + tooltip("Threshold"),
        "<p>Why this pair could not be judged (an image that cannot be read, say).</p>",
    )

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.results: list[VerifyResult] = []
        self._thumbs: dict[int, object] = {}  # id of a shared picture -> its pixmap

    def set_results(self, results: list[VerifyResult]) -> None:
        self.beginResetModel()
        self.results = list(results)
        # Rejudged results share their pictures: keep the pixmaps made of those.
        alive = {id(p) for r in self.results for p in r.pictures if p is not None}
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in alive}
        self.endResetModel()

    def thumbnail(self, picture: np.ndarray | None):
        """The picture's pixmap, made when its row is first drawn."""
        if picture is None:
            return None
        key = id(picture)
        if key not in self._thumbs:
            self._thumbs[key] = array_to_pixmap(picture, THUMB)
        return self._thumbs[key]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.results)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.results[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                str(r.line),
                _short(r.image_a),
                _short(r.image_b),
                "" if r.distance is None else f"{r.distance:.4f}",
                "error" if r.verdict is None else r.verdict.value,
                r.error,
            )[column]
        if role == SORT_ROLE:
            return (
                r.line,
                r.image_a.lower(),
                r.image_b.lower(),
                math.inf if r.distance is None else r.distance,
                "~" if r.verdict is None else r.verdict.value,  # errors sort last
                r.error,
            )[column]
        if role == Qt.ItemDataRole.DecorationRole and column in (1, 2):
            return self.thumbnail(r.pictures[column - 1])
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"line {r.line}", r.image_a, r.image_b, None, None, r.error or None)[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 4:
            colors = theme.colors()  # asked at each paint: a new palette repaints in its colours
            color = colors.wrong if r.verdict is None else colors.verdict(r.verdict is Verdict.SAME)
            return QBrush(QColor(color))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _short(path: str) -> str:
    """The file name with its folder (often the class or the person): "boots/img-01.png"."""
    if not path:
        return ""
    parts = Path(path).parts
    return "/".join(parts[-2:])


class VerdictFilter(QSortFilterProxyModel):
    """Shows all rows, or only those judged same, judged different, or with errors."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.mode = "all"
        self.setSortRole(SORT_ROLE)

    def set_mode(self, mode: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.mode = mode
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.mode = mode
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802 - Qt override
        if self.mode == "all":
            return True
        result = self.sourceModel().results[row]
        if self.mode == "errors":
            return not result.ok
        return result.verdict is not None and result.verdict.value == self.mode


class _Progress(QObject):
    """Carries progress from the task thread to the panel (queued across threads)."""

    changed = Signal(int, int)


class VerifyPanel(QWidget):
    """Import a CSV of image pairs, see distance and verdict for each, export the results.

    Args:
        state: the app state; reads `model`, `threshold`, `modelChanged`, `thresholdChanged`.
        runner: the task runner; the images are decoded and embedded there.

    Signals:
        resultsChanged: new results are shown.
        pairRequested: (image, label text) twice, each a float32 28x28 image, when a row
            is double-clicked or "Open in Compare" chosen: open the pair in Compare.
    """

    resultsChanged = Signal()
    pairRequested = Signal(object, object)

    def __init__(self, state, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.csv_path: Path | None = None
        self.results: list[VerifyResult] = []
        self._progress = _Progress(self)
        self._progress.changed.connect(self._show_progress)

        self.import_button = QPushButton("Import CSV…")
        self.import_button.setToolTip("A CSV file with two image paths per row (relative to the CSV's folder)")
        self.export_button = QPushButton("Export results…")
        self.export_button.setEnabled(False)
        self.filter_combo = QComboBox()
        for text, mode in FILTERS:
            self.filter_combo.addItem(text, mode)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.hide()
        self.summary_label = QLabel()
        theme.set_style(self.summary_label, lambda c: f"color: {c.muted};")
        self.summary_label.setWordWrap(True)

        self.table_model = ResultsModel(self)
        self.proxy = VerdictFilter(self)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(max(self.fontMetrics().height(), THUMB) + 6)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(self._open_row)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._row_menu)
        self.open_hint = QLabel(OPEN_HINT)
        theme.set_style(self.open_hint, lambda c: f"color: {c.muted}; font-size: 11px;")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((60, 220, 220, 90, 90)):
            self.table.setColumnWidth(column, width)

        top = QHBoxLayout()
        top.addWidget(self.import_button)
        self.summary_label.setToolTip(tooltip("Verify", more=True))
        NeutralTooltips(self, (self.summary_label,))  # not in its muted grey
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_combo)
        top.addWidget(self.progress_bar)
        top.addStretch(1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.open_hint)

        self.import_button.clicked.connect(lambda _=False: self.import_csv())
        self.export_button.clicked.connect(lambda _=False: self.export_results())
        self.filter_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_mode(self.filter_combo.currentData()))
        self.state.thresholdChanged.connect(self._threshold_changed)
        self.state.modelChanged.connect(self._model_changed)
        self._update_summary()

    # Import --------------------------------------------------------------------------

    def import_csv(self, path: str | Path | None = None) -> None:
        """Score every pair of a CSV file with the current model (on the task thread)."""
        if self.state.model is None:
            show_error(self, "No model", "Open or train a model first.")
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import pairs CSV", "", CSV_FILTER)
            if not path:
                return
        self.csv_path = Path(path)
        self._run()

    def _run(self) -> None:
        handle, threshold, path = self.state.model, self.state.threshold.value, self.csv_path
        progress = self._progress.changed.emit

        def work(should_stop):
            return verify_csv(handle, path, threshold, progress=progress, should_stop=should_stop)

        self.import_button.setEnabled(False)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.summary_label.setText(f"Scoring the pairs in {path.name}…")
        # A newer import (or model) supersedes this run: its results are never shown.
        self.runner.submit(work, self._done, self._failed, f"Verifying the pairs in {path.name}…",
                           key="verify", cancellable=True)

    def _show_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)

    def _done(self, results: list[VerifyResult]) -> None:
        self._finish()
        # The threshold may have moved while the task ran.
        self._set_results(rejudge(results, self.state.threshold.value))

    def _failed(self, exc: BaseException) -> None:
        self._finish()
        self._update_summary()
        show_error(self, "Cannot verify the pairs", error_text(exc))

    def _finish(self) -> None:
        self.import_button.setEnabled(True)
        self.progress_bar.hide()

    def _set_results(self, results: list[VerifyResult]) -> None:
        self.results = results
        self.table_model.set_results(results)
        self.export_button.setEnabled(bool(results))
        self._update_summary()
        self.resultsChanged.emit()

    def _threshold_changed(self, value: float) -> None:
        if self.results:
            self._set_results(rejudge(self.results, value))

    def _model_changed(self) -> None:
        # Distances belong to the model that computed them: score again with the new one.
        if self.csv_path is not None and self.state.model is not None and self.results:
            self._run()

    def _update_summary(self) -> None:
        if not self.results:
            self.summary_label.setText(
                "Import a CSV file with two image paths per row (a header row is optional; relative "
                "paths are relative to the CSV's folder). Each pair gets a distance and a verdict.")
            return
        s = summarize(self.results)
        self.summary_label.setText(
            f"{self.csv_path.name if self.csv_path else ''}: {s.scored:,} of {s.pairs:,} pairs scored — "
            f"{s.same:,} same, {s.different:,} different, {s.errors:,} with errors — at threshold "
            f"{self.state.threshold.value:.3f} ({self.state.model.name if self.state.model is not None else 'no model'}). "
            "Click a column header to sort.")

    # Open in Compare -----------------------------------------------------------------

    def result_at(self, index: QModelIndex) -> VerifyResult | None:
        """The result of a (sorted, filtered) table row."""
        if not index.isValid():
            return None
        return self.table_model.results[self.proxy.mapToSource(index).row()]

    def _openable(self, result: VerifyResult | None) -> bool:
        return result is not None and all(p is not None for p in result.pictures)

    def _open_row(self, index: QModelIndex) -> None:
        result = self.result_at(index)
        if not self._openable(result):
            return
        # The images the model saw, as Search and Map send theirs.
        self.pairRequested.emit(
            *[(p.astype(np.float32) / 255.0, _short(path))
              for p, path in zip(result.pictures, (result.image_a, result.image_b))])

    def _row_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        result = self.result_at(index)
        if result is None:
            return
        menu = QMenu(self)
        action = menu.addAction("Open in Compare")
        action.setEnabled(self._openable(result))
        if not action.isEnabled():
            action.setToolTip(result.error or "an image of this pair could not be read")
        action.triggered.connect(lambda _=False, index=index: self._open_row(index))
        self.row_menu = menu  # kept for the tests, which read and trigger it
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # Export --------------------------------------------------------------------------

    def export_results(self, path: str | Path | None = None) -> None:
        """Write every result (not only the filtered ones) to a CSV file."""
        if not self.results:
            return
        if path is None:
            suggestion = str(self.csv_path.with_name(self.csv_path.stem + "-results.csv")) if self.csv_path else ""
            path, _ = QFileDialog.getSaveFileName(self, "Export results", suggestion, CSV_FILTER)
            if not path:
                return
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".csv")
        results = list(self.results)
        # Never over the pairs file the results came from, nor the model.
        model = self.state.model.path if self.state.model is not None else None
        inputs = (self.csv_path, model)
        self.runner.submit(lambda: write_results_csv(results, path, inputs), self._exported,
                           lambda exc: show_error(self, "Cannot export the results", error_text(exc)),
                           f"Writing {path.name}…")

    def _exported(self, path: Path) -> None:
        self.exported_path = path
        self.summary_label.setText(self.summary_label.text().split(" Exported")[0] + f" Exported to {path}.")
