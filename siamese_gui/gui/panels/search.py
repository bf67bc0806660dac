"""The Search panel: one query image against a gallery; the K nearest as thumbnails.

Where the images come from and how they are searched is `core.app.search_sources`'s;
the search runs on the task thread, and the panel keeps the gallery it returns until
the model or the source changes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.search_sources import Gallery, SearchResult, SearchSource, search
from siamese_gui.core.evaluation.metrics import Verdict, verdict_of
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    array_to_pixmap,
    follow_item_tooltips,
    set_source_item,
    show_error,
    verdict_text,
)
from siamese_gui.gui.widgets.image_pane import ImagePane
from siamese_gui.gui.workers import error_text

THUMB = 96
COLUMNS = 5
DEFAULT_K = 10
INDEX_FILTER = "Search index (*.npz);;All files (*)"


_SEARCH_TASK = "search"

class SearchPanel(QWidget):
    """Finds the gallery images nearest to a query image.

    Signals:
        pairRequested: (query, hit), each (float32 28x28 image, label text), when a
            result is clicked: open the pair in Compare.
        resultsChanged: new results are shown.
    """

    pairRequested = Signal(object, object)
    resultsChanged = Signal()

    def __init__(self, state, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.gallery: Gallery | None = None
        self.results: list[SearchResult] = []
        self.result_buttons: list[QToolButton] = []
        self._folder: str | None = None
        self._index_file: str | None = None

        self.query = ImagePane("Query", state)
        self.query.setMaximumWidth(360)
        self.query.imageChanged.connect(self._query_changed)

        self.source_combo = QComboBox()
        self.source_combo.addItems(["Test images", "Folder…", "Index file…"])
        follow_item_tooltips(self.source_combo, "Where to search: the loaded test images, a folder of "
                             "images, or an index made with `siamese-gui index`")
        self.source_combo.activated.connect(self._source_chosen)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 50)
        self.top_spin.setValue(DEFAULT_K)
        self.top_spin.setPrefix("top ")
        self.top_spin.setToolTip("How many nearest images to show")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.status = QLabel("Choose a query image, then Search.")
        self.status.setToolTip(tooltip("Search", more=True))
        self.status.setWordWrap(True)
        theme.set_style(self.status, lambda c: f"color: {c.muted};")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Search in"))
        controls.addWidget(self.source_combo)
        controls.addWidget(self.top_spin)
        controls.addWidget(self.search_button)
        controls.addStretch(1)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)

        right = QVBoxLayout()
        right.addLayout(controls)
        right.addWidget(self.status)
        right.addWidget(scroll, 1)
        hint = QLabel("Click a result to open it beside the query in Compare.")
        theme.set_style(hint, lambda c: f"color: {c.muted}; font-size: 11px;")
        right.addWidget(hint)
        layout = QHBoxLayout(self)
        layout.addWidget(self.query)
        layout.addLayout(right, 1)

        state.modelChanged.connect(self._model_changed)
        state.thresholdChanged.connect(self._recolor)
        theme.on_change(self._recolor)

    # Gallery -------------------------------------------------------------------------

    def _source_chosen(self, row: int) -> None:
        if row == 1:
            folder = QFileDialog.getExistingDirectory(self, "Search in folder")
            if folder:
                self.set_folder(folder)
            else:
                self.source_combo.setCurrentIndex(self._source_row())
        elif row == 2:
            path, _ = QFileDialog.getOpenFileName(self, "Open search index", "", INDEX_FILTER)
            if path:
                self.set_index_file(path)
            else:
                self.source_combo.setCurrentIndex(self._source_row())
        else:
            self._folder = self._index_file = None

    def _source_row(self) -> int:
        return 1 if self._folder else 2 if self._index_file else 0

    def set_folder(self, folder: str | Path) -> None:
        """Search a folder of images (embedded on the next search)."""
        self._folder, self._index_file = str(folder), None
        self.source_combo.setCurrentIndex(1)
        set_source_item(self.source_combo, 1, f"Folder: {Path(folder).name}", str(folder))
        self.status.setText(f"Gallery: folder {folder} (embedded when you search)")

    def set_index_file(self, path: str | Path) -> None:
        """Search an index file made by `siamese-gui index`."""
        self._index_file, self._folder = str(path), None
        self.source_combo.setCurrentIndex(2)
        set_source_item(self.source_combo, 2, f"Index: {Path(path).name}", str(path))
        self.status.setText(f"Gallery: index {path}")

    def source(self) -> SearchSource:
        """Where the next search looks: the chosen folder or index, else the test images."""
        if self._folder:
            return SearchSource.folder(self._folder)
        if self._index_file:
            return SearchSource.index_file(self._index_file)
        return SearchSource.test_images(self.state.test_data)

    def _model_changed(self) -> None:
        shown = bool(self.results)
        self.gallery = None
        self._clear_results()
        if shown:  # before any search there is nothing to search again
            self.status.setText("The model changed: search again.")

    # Search --------------------------------------------------------------------------

    def _query_changed(self) -> None:
        self._clear_results()

    def search(self) -> bool:
        """Search the gallery for the query on the task thread."""
        handle = self.state.model
        if handle is None:
            show_error(self, "No model", "Load or train a model first.")
            return False
        if self.query.image is None:
            show_error(self, "No query", "Drop, paste or open a query image first.")
            return False
        source = self.source()
        if source.data is None and not source.path:
            show_error(self, "No gallery", "No test images are loaded; choose a folder or an index.")
            return False
        gallery = self.gallery if self.gallery is not None and self.gallery.serves(source, handle) else None
        query = self.query.image.array.copy()
        k, threshold = self.top_spin.value(), self.state.threshold.value

        def work(should_stop):
            return search(source, handle, query, k, threshold, gallery, should_stop)

        self.search_button.setEnabled(False)
        self.status.setText("Embedding the gallery…" if gallery is None else "Searching…")
        # A newer search supersedes this one: its results are never shown.
        self.runner.submit(work, self._done, self._failed, "Searching…", key=_SEARCH_TASK,
                           cancellable=True)
        return True

    def _done(self, result) -> None:
        self.search_button.setEnabled(True)
        self.gallery, self.results = result
        self.status.setText(f"{len(self.results)} nearest of {self.gallery.description}")
        self._show_results()

    def _failed(self, exc: BaseException) -> None:
        self.search_button.setEnabled(True)
        self.status.setText("Search failed.")
        show_error(self, "Cannot search", error_text(exc))

    # Results -------------------------------------------------------------------------

    def _clear_results(self) -> None:
        self.results = []
        for button in self.result_buttons:
            self.grid.removeWidget(button)
            button.deleteLater()
        self.result_buttons = []

    def _show_results(self) -> None:
        results = self.results
        self._clear_results()
        self.results = results
        for i, result in enumerate(results):
            button = QToolButton()
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIcon(QIcon(array_to_pixmap(result.image, THUMB)))
            button.setIconSize(QSize(THUMB, THUMB))
            button.setAutoRaise(True)
            button.setToolTip(f"<p>{escape(result.caption)}</p>{tooltip('Search', more=True)}"
                              f"{tooltip('Distance')}<p>Click to compare with the query.</p>")
            button.clicked.connect(lambda _=False, i=i: self._open(i))
            self.grid.addWidget(button, i // COLUMNS, i % COLUMNS)
            self.result_buttons.append(button)
        self._recolor()
        self.resultsChanged.emit()

    def _recolor(self, *_args) -> None:
        threshold = self.state.threshold.value
        for button, result in zip(self.result_buttons, self.results):
            hit = result.hit
            verdict = verdict_of(hit.distance, threshold)
            label = hit.class_name or result.caption
            button.setText(f"#{hit.rank}  {hit.distance:.3f}\n{verdict_text(verdict)}\n{label}")
            color = theme.colors().verdict(verdict is Verdict.SAME)
            button.setStyleSheet(f"QToolButton {{ color: {color}; border: 2px solid {color}; "
                                 "border-radius: 6px; padding: 4px; }")

    def _open(self, i: int) -> None:
        result = self.results[i]
        query = self.query.image
        self.pairRequested.emit(
            (query.array.copy(), query.caption),
            (np.asarray(result.image, np.float32), result.hit.class_name or result.caption),
        )
