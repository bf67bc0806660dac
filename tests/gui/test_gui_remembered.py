"""Remembered work: the window, its last panel, the Train form, recent files and the last
model and data come back when the app is launched again (a new window, same settings)."""

from __future__ import annotations

import pytest
from gui_helpers import show_tab
from PySide6.QtWidgets import QFileDialog

from siamese_gui.core.io.locations import default_model_path
from siamese_gui.gui.common import settings
from siamese_gui.gui.main_window import MainWindow


def launch(qtbot, autoload: bool = False) -> MainWindow:
    """Start the window as the app does (with the same settings as the last one)."""
    window = MainWindow(autoload=autoload)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def settle(qtbot, window) -> None:
    qtbot.wait(20)  # a launch starts loading once the window is shown
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=120_000)
    qtbot.wait(20)


def recent_actions(window) -> dict:
    """File › Open recent's items, text -> action, as the menu shows them."""
    window.recent_menu.aboutToShow.emit()
    return {a.text(): a for a in window.recent_menu.actions() if a.text() and not a.isSeparator()}


def file_action(window, text: str):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text() == text)


def type_into(qtbot, widget, text: str) -> None:
    widget.setFocus()
    line = widget.lineEdit() if hasattr(widget, "lineEdit") else widget
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_geometry_panel_form_and_recent_dataset_come_back(qtbot, tmp_path, monkeypatch, image_folder_factory):
    folder = image_folder_factory(tmp_path / "shapes", per_class=4, num_classes=3)
    first = launch(qtbot)
    default_size = first.size()
    # Shorter than the default (the offscreen screen is narrower than the window's least width).
    first.resize(first.width(), 600)
    qtbot.waitUntil(lambda: first.height() == 600)
    size = first.size()
    assert size != default_size
    show_tab(qtbot, first, first.train_panel)
    panel = first.train_panel
    type_into(qtbot, panel.settings.widgets["epochs"], "7")
    type_into(qtbot, panel.settings.widgets["learning_rate"], "0.02")
    type_into(qtbot, panel.classes_edit, "class 1, class 2")
    type_into(qtbot, panel.held_out_edit, "30%")
    type_into(qtbot, panel.per_class_spin, "25")
    assert panel.config().epochs == 7
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    file_action(first, "Open image-&folder dataset…").trigger()
    settle(qtbot, first)
    assert first.state.source.dataset.root == str(folder)
    assert list(recent_actions(first)) == ["shapes", "&Clear recent"]
    first.close()

    second = launch(qtbot, autoload=True)
    assert second.size() == size
    assert second.tabs.currentWidget() is second.train_panel
    panel = second.train_panel
    config = panel.config()
    assert (config.epochs, config.learning_rate) == (7, pytest.approx(0.02))
    assert panel.classes_edit.text() == "class 1, class 2" and panel.held_out_edit.text() == "30%"
    assert panel.per_class_spin.value() == 25
    settle(qtbot, second)
    # The last data is read again; the model is the shipped one (no other was used).
    assert second.state.source.dataset.root == str(folder)
    assert second.state.model_path == default_model_path()

    # File › Open recent › shapes after other data, then Clear.
    second.choose_data_source("samples")
    settle(qtbot, second)
    assert second.state.source.dataset.root != str(folder)
    recent_actions(second)["shapes"].trigger()
    settle(qtbot, second)
    assert second.state.source.dataset.root == str(folder)
    recent_actions(second)["&Clear recent"].trigger()
    actions = recent_actions(second)
    assert list(actions) == ["&Clear recent"] and not actions["&Clear recent"].isEnabled()
    second.close()


def test_a_missing_or_unreadable_last_model_falls_back_to_the_shipped_one(qtbot, tmp_path, dialogs):
    settings().setValue("session/model", str(tmp_path / "gone.keras"))
    window = launch(qtbot, autoload=True)
    qtbot.waitUntil(lambda: "gone.keras is gone: using the shipped model" in window.message_label.text(), timeout=120_000)
    assert window.state.model_path == default_model_path()
    window.close()

    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    settings().setValue("session/model", str(bad))
    window = launch(qtbot, autoload=True)
    qtbot.waitUntil(lambda: "Could not reopen" in window.message_label.text(), timeout=120_000)
    assert window.state.model_path == default_model_path()
    message = window.message_label.text()
    assert message.startswith("Could not reopen bad.keras (") and message.endswith("using the shipped model")
    assert "\n" not in message
    assert dialogs == []
    # The shipped model is what opens next time.
    assert settings().value("session/model", "", str) == ""
    window.close()


def test_open_shipped_model_goes_back_to_it(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    import shutil

    copy = tmp_path / "mine.keras"
    shutil.copy(default_model_path(), copy)
    window = launch(qtbot)
    window.open_model(copy)
    settle(qtbot, window)
    assert window.state.model_path == copy
    assert "mine.keras" in recent_actions(window)
    window.close()

    window = launch(qtbot, autoload=True)
    settle(qtbot, window)
    assert window.state.model_path == copy  # the last model, reopened
    file_action(window, "Open s&hipped model").trigger()
    settle(qtbot, window)
    assert window.state.model_path == default_model_path()
    recent_actions(window)["mine.keras"].trigger()
    settle(qtbot, window)
    assert window.state.model_path == copy
    window.close()
