"""Plain words first, details on demand, as a person meets them: hovering over a setting
or a figure shows its plain line, Help › Glossary lists them all, a Details toggle opens
the full provenance, and a preset's threshold says where it came from."""

from __future__ import annotations

import re

import pytest
from gui_helpers import click, press, show_tab
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFormLayout, QToolTip

from siamese_gui.core.app.glossary import short
from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.core.model.config import setting_name, settings
from siamese_gui.gui.dialogs.glossary import GlossaryDialog
from siamese_gui.gui.panels.models import HEADER_TIPS
from siamese_gui.gui.panels.threshold import METRIC_ROWS


def _plain(tip: str) -> str:
    """A rich-text tooltip's words."""
    return re.sub(r"<[^>]+>", " ", tip).replace("&amp;", "&")


def _hover(qtbot, widget, pos: QPoint | None = None) -> str:
    """Rest the pointer on `widget` until its tooltip shows; the tooltip's words."""
    QToolTip.hideText()  # an earlier tip fades out first
    qtbot.waitUntil(lambda: not QToolTip.isVisible(), timeout=5_000)
    pos = widget.rect().center() if pos is None else pos
    qtbot.mouseMove(widget, pos + QPoint(1, 0))
    qtbot.mouseMove(widget, pos)
    qtbot.waitUntil(QToolTip.isVisible, timeout=5_000)
    return _plain(QToolTip.text())


def test_every_train_setting_and_its_label_explain_themselves_in_plain_words(window, data, qtbot):
    window.state.set_data(DataSplits(data, data))
    window.show()
    qtbot.waitExposed(window)
    panel = window.train_panel
    show_tab(qtbot, window, panel)
    form = panel.form_box.layout()
    assert isinstance(form, QFormLayout)
    for spec in settings():
        field = panel.settings.widgets[spec.name]
        plain = spec.metadata["plain"]
        assert _plain(field.toolTip()).strip().startswith(plain), spec.name
        assert spec.metadata["help"] in _plain(field.toolTip())  # the full line follows
        label = form.labelForField(field)
        if spec.metadata["widget"] != "check":
            assert label.text() == spec.metadata["label"] and label.buddy() is field
            assert label.toolTip() == field.toolTip(), spec.name
    # Every row of the form, the data and sampling rows too, has its words on label and field.
    for row in range(form.rowCount()):
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        assert field is not None and field.widget().toolTip(), row
        if label is not None and label.widget().text():
            assert label.widget().toolTip(), label.widget().text()

    # As a person finds it: the pointer on the label shows the plain line.
    batch = panel.settings.widgets["batch_size"]
    panel.settings_column.ensureWidgetVisible(batch)
    label = form.labelForField(batch)
    assert short(setting_name(next(s for s in settings() if s.name == "batch_size"))) in _hover(qtbot, label)


def test_the_threshold_panels_figures_say_what_they_mean(loaded_window, qtbot):
    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    for row, (name, _, term) in enumerate(METRIC_ROWS):
        tip = _plain(panel.table.item(row, 0).toolTip())
        assert short(term) in tip, name
    for column in range(panel.table.columnCount()):
        assert panel.table.horizontalHeaderItem(column).toolTip()
    assert short("Accepted and rejected") in _plain(panel.counts_label.toolTip())
    for button, term in ((panel.max_accuracy_button, "Max accuracy"), (panel.eer_button, "Equal error rate"),
                         (panel.far_button, "FAR ≤ 1 %")):
        assert short(term) in _plain(button.toolTip())
    assert short("Threshold") in _plain(panel.control.slider.toolTip())
    # Under the pointer, each plot explains itself: the histograms, then the ROC curve.
    canvas = panel.plots
    canvas.draw()
    for axes, term in ((canvas.hist_ax, "Distance histograms"), (canvas.roc_ax, "ROC curve")):
        box = axes.get_window_extent()
        ratio = canvas.device_pixel_ratio
        centre = QPoint(int((box.x0 + box.x1) / 2 / ratio), int(canvas.height() - (box.y0 + box.y1) / 2 / ratio))
        assert short(term) in _hover(qtbot, canvas, centre), term
    # The FAR row, hovered.
    table = panel.table
    far_row = [field for _, field, _ in METRIC_ROWS].index("far")
    cell = table.visualItemRect(table.item(far_row, 0)).center()
    assert short("FAR") in _hover(qtbot, table.viewport(), cell)


def test_a_preset_changes_where_the_panel_says_the_threshold_comes_from(loaded_window, qtbot):
    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    qtbot.waitUntil(panel.far_button.isEnabled, timeout=60_000)
    lead = panel.provenance_label
    assert "The model's own" in lead.text()

    click(qtbot, panel.far_button)
    pairs = len(window.state.validation_evaluation.pairs)
    value = window.state.threshold.value
    assert lead.text() == (f"Threshold in use: {value:.4f}. Chosen on {pairs:,} held-out pairs to keep "
                           "false matches to 1 % at most.")
    assert "The model's own" not in lead.text()
    # The status bar's threshold says the same, under the pointer.
    assert window.threshold_label.text() == f"Threshold: {value:.3f}"
    assert "Chosen on" in _plain(window.threshold_label.toolTip())

    # Typed in by hand: set by you.
    spin = panel.control.spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0.3")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.state.threshold.value == pytest.approx(0.3)
    assert lead.text() == "Threshold in use: 0.3000. Set by you."

    click(qtbot, panel.recommended_button)
    assert lead.text().startswith("Threshold in use: 0.5000. The model's own")


def test_details_open_the_full_provenance_behind_the_plain_sentence(loaded_window, qtbot):
    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    qtbot.waitUntil(panel.far_button.isEnabled, timeout=60_000)
    click(qtbot, panel.far_button)
    details = panel.model_threshold_label
    assert not details.isVisible()
    click(qtbot, panel.details_button)
    assert details.isVisible()
    state = window.state
    assert f"In use: {state.threshold.describe()}" in details.text()
    assert "validation pairs" in details.text()  # the long form names the pairs in full
    assert f"The model's own: {state.model.threshold.describe()}" in details.text()
    click(qtbot, panel.details_button)
    assert not details.isVisible()


def test_help_glossary_opens_from_the_menu_and_f1_and_finds_a_term(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    bar = window.menuBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(help_menu.menuAction()).center())
    qtbot.waitUntil(help_menu.isVisible, timeout=5_000)
    item = window.glossary_action
    assert item in help_menu.actions() and "what does this mean" in item.text().lower()
    qtbot.mouseClick(help_menu, Qt.MouseButton.LeftButton, pos=help_menu.actionGeometry(item).center())
    qtbot.waitUntil(lambda: window.glossary is not None and window.glossary.isVisible(), timeout=5_000)
    dialog = window.glossary
    assert isinstance(dialog, GlossaryDialog)
    text = dialog.browser.toPlainText()
    for term in ("FAR", "FRR", "EER", "ROC AUC", "Batch size", "Histogram share"):
        assert f"{term}: {short(term)}" in text, term

    # Typing narrows the list to the terms that mention the words.
    dialog.filter_edit.setFocus()
    qtbot.keyClicks(dialog.filter_edit, "batch size")
    text = dialog.browser.toPlainText()
    assert f"Batch size: {short('Batch size')}" in text and "False accept rate" not in text
    dialog.close()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2_000)

    press(qtbot, window, "F1")
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert window.glossary is dialog  # one glossary, shown again
    dialog.close()


def test_the_other_panels_name_their_figures_in_plain_words(loaded_window, qtbot):
    window = loaded_window
    compare = window.compare_panel
    for widget in (compare.distance_caption, compare.distance_label):
        assert short("Distance") in _plain(widget.toolTip())
    assert short("Verdict") in _plain(compare.verdict_label.toolTip())

    models = window.models_panel
    table = models.table
    assert table.columnCount() == len(HEADER_TIPS)
    for column, term in enumerate(("Models", "ROC AUC", "EER", "Model's own threshold", "Accuracy", "FAR at FRR")):
        assert short(term) in _plain(table.horizontalHeaderItem(column).toolTip()), column

    verify = window.verify_panel
    header = verify.table.model()
    for column in range(header.columnCount()):
        assert header.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert short("Distance") in _plain(header.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole))
    assert short("Verdict") in _plain(header.headerData(4, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole))
    assert short("Search") in _plain(window.search_panel.status.toolTip())
    assert short("Map") in _plain(window.map_panel.status.toolTip())
    assert short("Gallery") in _plain(window.gallery_panel.summary.toolTip())
    runs = window.train_panel.run_list.table
    for column in range(runs.columnCount()):
        assert runs.horizontalHeaderItem(column).toolTip()


def test_the_verdicts_explanation_shows_in_the_ordinary_tooltip_look(loaded_window, qtbot):
    """The verdict is 30 px white on blue; its tooltip is not (Qt would style it so)."""
    from PySide6.QtWidgets import QApplication

    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    compare = window.compare_panel
    show_tab(qtbot, window, compare)
    click(qtbot, compare.same_button)
    qtbot.waitUntil(lambda: compare.distance is not None, timeout=30_000)
    shown = _hover(qtbot, compare.verdict_label)
    assert short("Verdict") in shown and short("Threshold") in shown
    tips = [w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QTipLabel" and w.isVisible()]
    assert len(tips) == 1
    assert tips[0].font().pixelSize() != 30 and tips[0].font().weight() != 700
