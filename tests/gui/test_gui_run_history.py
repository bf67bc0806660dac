"""Run history in the Train panel: every run is listed and kept across launches; a saved
run's model opens; several runs compare in the Models panel in one click; delete asks."""

from __future__ import annotations

import pytest
from gui_helpers import choose_file, click, show_tab
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.gui.main_window import MainWindow

pytest.importorskip("tensorflow")
from test_gui_training import TIMEOUT_MS, TINY  # noqa: E402


def launch(qtbot, data) -> MainWindow:
    window = MainWindow(autoload=False)
    qtbot.addWidget(window)
    window.state.set_data(DataSplits(data, data))
    window.show()
    qtbot.waitExposed(window)
    show_tab(qtbot, window, window.train_panel)
    return window


def train_once(qtbot, panel, seed: int):
    spin = panel.settings.widgets["seed"]
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(seed))
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    return finished.args[0]


def select_rows(qtbot, table, rows) -> None:
    """Click the first row, Ctrl+click the others, as a person selects several."""
    for k, row in enumerate(rows):
        rect = table.visualItemRect(table.item(row, 0))
        modifier = Qt.KeyboardModifier.NoModifier if k == 0 else Qt.KeyboardModifier.ControlModifier
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_three_runs_are_kept_opened_compared_and_deleted(qtbot, data, tmp_path, monkeypatch, dialogs):
    window = launch(qtbot, data)
    panel = window.train_panel
    panel.set_config(TINY)
    runs = panel.run_list
    assert runs.table.rowCount() == 0

    unsaved = train_once(qtbot, panel, 1)
    assert runs.table.rowCount() == 1 and runs.table.item(0, 4).text() == "not saved"
    paths = []
    for seed in (2, 3, 4):
        train_once(qtbot, panel, seed)
        paths.append(tmp_path / f"run{seed}.keras")
        choose_file(monkeypatch, paths[-1])
        click(qtbot, panel.save_button)
        qtbot.waitUntil(lambda: runs.table.item(0, 4).text() == paths[-1].name, timeout=60_000)
    assert runs.table.rowCount() == 4
    record = runs.records[0]
    assert record.status == "completed" and record.config["seed"] == 4 and record.config["epochs"] == TINY.epochs
    assert record.seen_classes == data.class_names and record.data == data.source
    assert 0 <= record.figures["accuracy"] <= 1 and record.figures["threshold"] == pytest.approx(
        panel.outcome.result.threshold)
    # The Runs table shows the figure the Result leads with (its test pairs), not another.
    figures = panel.outcome.figures
    assert figures is not None
    at = figures.main.evaluation.at(figures.threshold.value)
    assert record.figures["accuracy"] == pytest.approx(at.accuracy)
    assert record.figures["test_pairs"] == len(figures.main.evaluation.pairs)
    assert runs.table.item(0, 3).text() == f"{at.accuracy:.1%}"
    assert unsaved.handle is not None and runs.records[3].model is None

    # Three saved runs in the Models panel in one click.
    select_rows(qtbot, runs.table, [0, 1, 2])
    assert len(runs.selected()) == 3
    click(qtbot, runs.compare_button)
    models = window.models_panel
    assert window.tabs.currentWidget() is models
    qtbot.waitUntil(lambda: len(models.scores) == 3, timeout=TIMEOUT_MS)
    assert sorted(s.name for s in models.scores) == sorted(p.name for p in paths)
    assert models.table.rowCount() == 3
    window.close()

    # Next launch: the same four runs.
    window = launch(qtbot, data)
    runs = window.train_panel.run_list
    assert [r.model for r in runs.records] == [str(p) for p in reversed(paths)] + [None]
    # The never-saved run says so and cannot be opened.
    select_rows(qtbot, runs.table, [3])
    assert not runs.open_button.isEnabled()
    assert "never saved" in runs.detail_label.text() and "never saved" in runs.open_button.toolTip()
    qtbot.mouseDClick(runs.table.viewport(), Qt.MouseButton.LeftButton,
                      pos=runs.table.visualItemRect(runs.table.item(3, 0)).center())
    assert dialogs[-1][0] == "No model file" and window.state.model is None
    # A saved one opens in every panel.
    select_rows(qtbot, runs.table, [1])
    click(qtbot, runs.open_button)
    qtbot.waitUntil(lambda: window.state.model_path == paths[1], timeout=60_000)

    # Delete asks first: No keeps the run, Yes removes it (its model file stays).
    dialogs.answer = QMessageBox.StandardButton.No
    select_rows(qtbot, runs.table, [0])
    click(qtbot, runs.delete_button)
    assert dialogs[-1][0] == "Delete runs?" and runs.table.rowCount() == 4
    dialogs.answer = QMessageBox.StandardButton.Yes
    click(qtbot, runs.delete_button)
    assert runs.table.rowCount() == 3 and paths[2].is_file()
    assert [r.model for r in runs.records] == [str(paths[1]), str(paths[0]), None]
    window.close()

    window = launch(qtbot, data)
    assert window.train_panel.run_list.table.rowCount() == 3
    window.close()


def test_a_corrupt_history_is_a_notice_not_a_crash(qtbot, data):
    from siamese_gui.core.app.run_history import history_path

    history_path().parent.mkdir(parents=True)
    history_path().write_text('{"runs": [{"id": "x"}, 3]}')
    window = launch(qtbot, data)
    runs = window.train_panel.run_list
    assert runs.table.rowCount() == 0
    assert "run 1 skipped (no time)" in runs.detail_label.text()
    assert "run 2 skipped (not an object)" in runs.detail_label.text()
    window.close()


def test_the_data_column_names_the_data_shortly():
    from siamese_gui.gui.widgets.run_list import short_data

    assert short_data("image folder /home/me/pets") == "pets"
    assert short_data("Fashion-MNIST train (/usr/share/datasets/fashion-mnist)") == "Fashion-MNIST train"
    assert short_data("synthetic test data") == "synthetic test data"
