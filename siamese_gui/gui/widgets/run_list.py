"""The list of past training runs (the core's run history) with Open, Compare and Delete."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from siamese_gui.core.app.run_history import RunHistory, RunRecord
from siamese_gui.core.errors import SiameseError
from siamese_gui.gui.common import MUTED_COLOR, NOTICE_COLOR, ask, plural, show_error

COLUMNS = ("When", "Status", "Data", "Accuracy", "Model")
COLUMN_TIPS = (
    "<p>When the run ended.</p>",
    "<p>Completed, stopped by you (the weights so far kept) or failed.</p>",
    "<p>The images it trained on.</p>",
    tooltip("Accuracy") + "<p>Measured at the run's own threshold on its test pairs (of the classes it never saw, "
    "where it held some out), as its Result says; on its validation pairs where it had no "
    "test images.</p>",
    "<p>The file its model was saved to, if it was.</p>",
)


def short_data(text: str) -> str:
    """A data description short enough for a table cell: a folder's name, or the words
    before the path ("Fashion-MNIST train (/usr/share/...)" -> "Fashion-MNIST train")."""
    if text.startswith("image folder "):
        return Path(text.removeprefix("image folder ")).name or text
    return text.split(" (")[0] or text


def _percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


class RunList(QGroupBox):
    """Every recorded training run, newest first; kept across launches.

    Signals:
        openRequested(str): "Open model" with the run's model file.
        compareRequested(list): "Compare in Models" with the selected runs' model files.
    """

    openRequested = Signal(str)
    compareRequested = Signal(list)

    def __init__(self, history: RunHistory | None = None, parent: QWidget | None = None):
        super().__init__("Runs", parent)
        self.history = history or RunHistory()
        self.records: list[RunRecord] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(120)
        self.table.setToolTip("Every training run, kept across launches. Select two or more (Ctrl+click) "
                              "to compare them in the Models panel.")
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextFormat(Qt.TextFormat.RichText)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open model")
        self.open_button.setToolTip("Use the selected run's saved model in every panel")
        self.compare_button = QPushButton("Compare in Models")
        self.compare_button.setToolTip("Measure the selected runs' models side by side in the Models panel")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Remove the selected runs from the list (their model files stay)")
        buttons = QHBoxLayout()
        for button in (self.open_button, self.compare_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.detail_label)

        self.open_button.clicked.connect(lambda _=False: self.open_selected())
        self.compare_button.clicked.connect(lambda _=False: self.compare_selected())
        self.delete_button.clicked.connect(lambda _=False: self.delete_selected())
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.notices: list[str] = []
        self.reload()

    # The history ---------------------------------------------------------------------

    def reload(self) -> None:
        """Read the history file again (another window or `siamese-gui train` may have added runs)."""
        self.records, self.notices = self.history.load()
        self._render()

    def add(self, record: RunRecord) -> None:
        """Record a finished run and show it first."""
        try:
            self.history.add(record)
        except SiameseError as exc:
            self.notices = [f"This run is not kept: {exc}"]
            self.records = [record] + [r for r in self.records if r.id != record.id]
            self._render()
            return
        self.reload()

    def model_saved(self, run_id: str, path: str | Path) -> None:
        """Note that a run's model was saved to `path`."""
        try:
            self.history.set_model(run_id, path)
        except SiameseError as exc:
            self.notices = [str(exc)]
        self.reload()

    def selected(self) -> list[RunRecord]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.records[r] for r in rows if r < len(self.records)]

    # Actions -------------------------------------------------------------------------

    def open_selected(self) -> None:
        runs = self.selected()
        if len(runs) != 1:
            return
        run = runs[0]
        if run.model_path is None:
            show_error(self, "No model file", "This run's model was never saved, so it cannot be opened. "
                       "Save a run's model from the Result (Save model…) to open it later.")
            return
        if not run.model_path.is_file():
            show_error(self, "Model file missing", f"{run.model_path}: the run's model file is no longer there")
            return
        self.openRequested.emit(str(run.model_path))

    def compare_selected(self) -> None:
        runs = self.selected()
        paths = [str(r.model_path) for r in runs if r.model_path is not None and r.model_path.is_file()]
        if len(paths) < 2:
            show_error(self, "Nothing to compare", "Select two or more runs whose models were saved.")
            return
        if len(paths) < len(runs):
            self.notices = [f"{plural(len(runs) - len(paths), 'run')} without a saved model left out"]
            self._render_notices()
        self.compareRequested.emit(paths)

    def delete_selected(self) -> None:
        runs = self.selected()
        if not runs:
            return
        what = "this run" if len(runs) == 1 else f"these {len(runs)} runs"
        if not ask(self, "Delete runs?", f"Remove {what} from the list? Saved model files are not deleted."):
            return
        try:
            self.history.remove([r.id for r in runs])
        except SiameseError as exc:
            show_error(self, "Cannot delete the runs", str(exc))
            return
        self.reload()

    # Display -------------------------------------------------------------------------

    def _render(self) -> None:
        self.table.setRowCount(len(self.records))
        for row, run in enumerate(self.records):
            try:
                when = run.when.astimezone().strftime("%Y-%m-%d %H:%M")
            except ValueError:
                when = run.time
            model = run.model_path.name if run.model_path is not None else "not saved"
            cells = (when, run.status, short_data(run.data), _percent(run.figures.get("accuracy")), model)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 2:
                    item.setToolTip(run.data)
                if column == 4:
                    item.setToolTip(str(run.model_path) if run.model_path else "The model was never saved")
                self.table.setItem(row, column, item)
        self._selection_changed()

    def _render_notices(self) -> None:
        if self.notices:
            listing = "<br>".join(escape(n) for n in self.notices[:3])
            more = f" … and {len(self.notices) - 3} more" if len(self.notices) > 3 else ""
            self.detail_label.setText(f"<span style='color:{NOTICE_COLOR}'>{listing}{more}</span>")

    def _selection_changed(self) -> None:
        runs = self.selected()
        saved = [r for r in runs if r.model_path is not None]
        self.open_button.setEnabled(len(runs) == 1 and bool(saved))
        self.open_button.setToolTip("Use the selected run's saved model in every panel" if len(runs) != 1 or saved
                                    else "This run's model was never saved, so it cannot be opened")
        self.compare_button.setEnabled(len(saved) >= 2)
        self.delete_button.setEnabled(bool(runs))
        if len(runs) == 1:
            self.detail_label.setText(self._detail_html(runs[0]))
        elif runs:
            self.detail_label.setText(f"<span style='color:{MUTED_COLOR}'>{plural(len(runs), 'run')} selected, "
                                      f"{len(saved)} with a saved model</span>")
        elif not self.records:
            self.detail_label.setText(f"<span style='color:{MUTED_COLOR}'>No runs yet: each training run is "
                                      "listed here.</span>")
        else:
            self.detail_label.setText("")
        self._render_notices()

    @staticmethod
    def _detail_html(run: RunRecord) -> str:
        f = run.figures
        config = run.config
        settings = ", ".join(f"{k} {config[k]}" for k in ("preset", "epochs", "batch_size", "learning_rate",
                                                          "embedding_dim", "seed") if k in config)
        lines = [f"<b>{escape(run.status.capitalize())}</b> in {run.seconds:.0f} s"
                 + (f" — {escape(run.message)}" if run.message and run.message != run.status else ""),
                 f"Data: {escape(run.data)}",
                 f"Trained on: {escape(', '.join(run.seen_classes)) or '—'}"]
        if run.unseen_classes:
            lines.append(f"Held out (unseen): {escape(', '.join(run.unseen_classes))}")
        if f:
            threshold = "—" if f.get("threshold") is None else f"{f['threshold']:.3f}"
            lines.append(f"Accuracy {_percent(f.get('accuracy'))}, false matches {_percent(f.get('far'))}, "
                         f"missed matches {_percent(f.get('frr'))}, threshold {threshold}")
        lines.append(f"Settings: {escape(settings)}")
        lines.append(f"Model: {escape(str(run.model_path))}" if run.model_path is not None
                     else f"<span style='color:{NOTICE_COLOR}'>Model never saved: it cannot be opened.</span>")
        return "<br>".join(lines)
