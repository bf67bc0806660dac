"""The Verify and Models panels and File › Export report, used as a person would."""

from __future__ import annotations

import csv

import cv2
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog

from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.core.data.pairs import standard_pairs
from siamese_gui.core.evaluation.metrics import evaluate_distances, pair_distances
from siamese_gui.core.runtime import loading
from siamese_gui.core.runtime.handle import ModelHandle

pytestmark = pytest.mark.gui


def _quadrants(batch):
    return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 3


def _pixels(batch):
    return batch.reshape(len(batch), -1)[:, ::9] * 0.4


def _handle(embedder=_quadrants, threshold=0.5, name="a.keras", tmp_path=None):
    path = tmp_path / name if tmp_path is not None else None
    return ModelHandle(embedder=embedder, metadata={"threshold": threshold, "class_names": []}, path=path)


@pytest.fixture
def ready(window, data, qtbot, tmp_path):
    window.show()
    window.state.set_data(DataSplits(data, data))
    handle = _handle(tmp_path=tmp_path)
    window.state.set_model(handle)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=20_000)
    return window


def _click_tab(qtbot, window, panel):
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(panel)).center())
    assert window.tabs.currentWidget() is panel


def _pairs_csv(tmp_path, data):
    folder = tmp_path / "img"
    folder.mkdir()
    for i in range(8):
        cv2.imwrite(str(folder / f"{i}.png"), data.images[i * 6])
    rows = ["image_a,image_b"] + [f"img/{i}.png,img/{i + 1}.png" for i in range(7)]
    rows += ["img/0.png,img/missing.png", "img/3.png"]
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_verify_panel_import_sort_filter_export(ready, qtbot, tmp_path, data, monkeypatch, dialogs):
    window = ready
    panel = window.verify_panel
    pairs = _pairs_csv(tmp_path, data)
    _click_tab(qtbot, window, panel)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(pairs), "")))
    qtbot.mouseClick(panel.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 9, timeout=20_000)
    assert not dialogs
    assert "7 of 9 pairs scored" in panel.summary_label.text()

    # Click the Distance header: rows sort by distance, failed rows last.
    header = panel.table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(3) + 10, header.height() // 2))
    shown = [panel.proxy.index(r, 3).data() for r in range(panel.proxy.rowCount())]
    numbers = [float(t) for t in shown if t]
    assert numbers == sorted(numbers) and shown[-2:] == ["", ""]

    # Choose "Errors" in the filter with the keyboard: only the two bad rows remain.
    panel.filter_combo.setFocus()
    for _ in range(3):
        qtbot.keyClick(panel.filter_combo, Qt.Key.Key_Down)
    assert panel.filter_combo.currentText() == "Errors"
    assert panel.proxy.rowCount() == 2
    errors = [panel.proxy.index(r, 5).data() for r in range(2)]
    assert any("missing.png" in e for e in errors) and any("two image paths" in e for e in errors)

    # Move the threshold past every distance: every scored pair is judged same.
    window.state.set_threshold(100.0)
    qtbot.keyClick(panel.filter_combo, Qt.Key.Key_Up)  # "Different"
    assert panel.proxy.rowCount() == 0

    out = tmp_path / "results.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(out.is_file, timeout=10_000)
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 9  # every row, not only the filtered ones
    assert {r["verdict"] for r in table if not r["error"]} == {"same"}
    assert all(float(r["threshold"]) == 100.0 for r in table)

    # Exporting over the pairs file it came from is refused; the pairs file stays.
    before = pairs.read_bytes()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(pairs), "")))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10_000)
    assert dialogs[-1][0] == "Cannot export the results" and "is the input file" in dialogs[-1][1]
    assert pairs.read_bytes() == before


def test_models_panel_add_and_remove(ready, qtbot, tmp_path, data, monkeypatch, dialogs):
    window = ready
    panel = window.models_panel
    other = _handle(_pixels, threshold=0.9, name="b.keras", tmp_path=tmp_path)
    monkeypatch.setattr(loading, "load_model_handle", lambda path: other)
    _click_tab(qtbot, window, panel)
    qtbot.waitUntil(lambda: len(panel.scores) == 1, timeout=20_000)
    assert panel.table.item(0, 0).text() == "a.keras (current)"

    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "b.keras"), "")))
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.scores) == 2, timeout=20_000)
    assert not dialogs
    assert panel.table.rowCount() == 2 and panel.table.item(1, 0).text() == "b.keras"
    # The table's AUC is the AUC of b's distances on the standard pairs of the test data.
    pairs = standard_pairs(data.labels)
    direct = evaluate_distances(pair_distances(other.embed(data.images), pairs), pairs.same)
    assert panel.table.item(1, 1).text() == f"{direct.auc:.4f}"
    assert panel.table.item(1, 3).text() == "0.9000"
    assert "same" in panel.data_label.text() and "synthetic test data" in panel.data_label.text()
    assert len(panel.plots.roc_ax.get_lines()) >= 1 + 2 * 2  # diagonal + curve and point per model

    # The current model cannot be removed; the added one can.
    rect = panel.table.visualItemRect(panel.table.item(0, 1))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert not panel.remove_button.isEnabled()
    rect = panel.table.visualItemRect(panel.table.item(1, 1))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 1 and len(panel.scores) == 1


def test_export_report_html_and_pdf(ready, qtbot, tmp_path, monkeypatch, dialogs):
    window = ready
    window.state.set_threshold(0.7)
    target = tmp_path / "report"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "PDF report (*.pdf)")))
    window.export_report_action.trigger()
    pdf = tmp_path / "report.pdf"
    qtbot.waitUntil(pdf.is_file, timeout=60_000)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    html = tmp_path / "r.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(html), "")))
    window.export_report_action.trigger()
    qtbot.waitUntil(html.is_file, timeout=60_000)
    text = html.read_text(encoding="utf-8")
    assert "Used</th><td>0.7000 (set by hand" in text
    assert "synthetic test data" in text and "data:image/png;base64," in text
    assert not dialogs


def _double_click(qtbot, widget, pos) -> None:
    """Press, release, then the second press a double-click is (a lone double-click event
    has no pressed row for the view to open)."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def _right_click(qtbot, widget, pos) -> None:
    """A right-click: the press, then the context-menu event the window system sends with
    it (QTest delivers mouse events straight to the widget, without that event)."""
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    qtbot.mouseClick(widget, Qt.MouseButton.RightButton, pos=pos)
    QApplication.sendEvent(widget, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                     widget.mapToGlobal(pos)))


def _row_of_line(panel, line: int) -> int:
    return next(r for r in range(panel.proxy.rowCount()) if panel.proxy.index(r, 0).data() == str(line))


def test_verify_rows_show_thumbnails_and_open_in_compare(ready, qtbot, tmp_path, data, monkeypatch, dialogs):
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from siamese_gui.core.io.images import load_image

    window = ready
    panel = window.verify_panel
    pairs = _pairs_csv(tmp_path, data)
    _click_tab(qtbot, window, panel)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(pairs), "")))
    qtbot.mouseClick(panel.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 9, timeout=20_000)
    assert "Double-click a row" in panel.open_hint.text() and panel.open_hint.isVisible()

    # Both image cells of a scored row carry a thumbnail; a missing image has none.
    row = _row_of_line(panel, 3)  # img/1.png, img/2.png
    for column in (1, 2):
        thumb = panel.proxy.index(row, column).data(Qt.ItemDataRole.DecorationRole)
        assert thumb is not None and not thumb.isNull() and thumb.width() >= 28
    missing = _row_of_line(panel, 9)  # img/0.png, img/missing.png
    assert panel.proxy.index(missing, 2).data(Qt.ItemDataRole.DecorationRole) is None
    assert panel.proxy.index(missing, 1).data(Qt.ItemDataRole.DecorationRole) is not None

    # Double-click the row: the pair opens in Compare, the images as the model saw them.
    rect = panel.table.visualRect(panel.proxy.index(row, 3))
    _double_click(qtbot, panel.table.viewport(), rect.center())
    assert window.tabs.currentWidget() is window.compare_panel
    compare = window.compare_panel
    np.testing.assert_allclose(compare.pane_a.image.array, load_image(tmp_path / "img" / "1.png"), atol=1 / 255)
    np.testing.assert_allclose(compare.pane_b.image.array, load_image(tmp_path / "img" / "2.png"), atol=1 / 255)
    assert compare.pane_a.image.caption == "img/1.png"
    qtbot.waitUntil(lambda: compare.distance is not None, timeout=10_000)
    assert compare.distance == pytest.approx(panel.result_at(panel.proxy.index(row, 0)).distance, abs=1e-3)

    # Right-click another row: "Open in Compare" opens it too; a row with an unreadable
    # image offers it disabled.
    _click_tab(qtbot, window, panel)
    other = _row_of_line(panel, 5)  # img/3.png, img/4.png
    rect = panel.table.visualRect(panel.proxy.index(other, 1))
    _right_click(qtbot, panel.table.viewport(), rect.center())
    qtbot.waitUntil(lambda: getattr(panel, "row_menu", None) is not None and panel.row_menu.isVisible(),
                    timeout=2_000)
    menu = panel.row_menu
    action = next(a for a in menu.actions() if a.text() == "Open in Compare")
    assert action.isEnabled()
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    QApplication.processEvents()
    assert window.tabs.currentWidget() is window.compare_panel
    assert compare.pane_b.image.caption == "img/4.png"

    _click_tab(qtbot, window, panel)
    rect = panel.table.visualRect(panel.proxy.index(_row_of_line(panel, 9), 1))
    _right_click(qtbot, panel.table.viewport(), rect.center())
    qtbot.waitUntil(lambda: panel.row_menu.isVisible(), timeout=2_000)
    assert not panel.row_menu.actions()[0].isEnabled()
    panel.row_menu.close()
    _double_click(qtbot, panel.table.viewport(), rect.center())
    assert window.tabs.currentWidget() is panel  # nothing to open
    assert not dialogs
