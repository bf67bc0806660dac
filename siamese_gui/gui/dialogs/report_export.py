"""File › Export report…: the stakeholder report of the current model, as HTML or PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QFileDialog, QWidget

from siamese_gui.gui.common import show_error
from siamese_gui.gui.workers import error_text

REPORT_FILTERS = ("HTML report (*.html)", "PDF report (*.pdf)")


def _build_and_write(handle, images, threshold, path: Path, should_stop) -> Path:
    from siamese_gui.core.app.report import report_from_figures, write_report
    from siamese_gui.core.app.scoring import score_images

    figures = score_images(handle.embed, images, threshold, should_stop=should_stop)
    return write_report(report_from_figures(handle, figures), path)


def export_report(
    parent: QWidget,
    state,
    runner,
    path: str | Path | None = None,
    on_written: Callable[[Path], None] | None = None,
) -> bool:
    """Ask where to save (unless `path` is given), then build and write the report in the background.

    The format follows the suffix: .pdf for PDF, else HTML.

    Returns:
        Whether a task was started.
    """
    handle, data = state.model, state.test_data
    if handle is None or data is None or state.splits is None:
        show_error(parent, "Nothing to report", "Load a model and data first.")
        return False
    if path is None:
        suggestion = f"{Path(handle.name).stem}-report.html"
        path, chosen = QFileDialog.getSaveFileName(parent, "Export report", suggestion, ";;".join(REPORT_FILTERS))
        if not path:
            return False
        if Path(path).suffix.lower() not in (".html", ".htm", ".pdf"):
            path = str(path) + (".pdf" if chosen == REPORT_FILTERS[1] else ".html")
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm", ".pdf"):
        path = path.with_suffix(".html")
    # The threshold in use, with its origin (model, preset, hand) and detail.
    threshold = state.threshold
    # The images `evaluate` and `report` score for this model and data (seen and unseen
    # classes apart), never the training images.
    images = state.session.scored_images()
    runner.submit(
        lambda should_stop: _build_and_write(handle, images, threshold, path, should_stop),
        on_written,
        lambda exc: show_error(parent, "Cannot export the report", error_text(exc)),
        f"Writing the report {path.name}…",
        cancellable=True,
    )
    return True
