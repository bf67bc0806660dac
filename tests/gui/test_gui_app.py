"""Start-up: the window, menus, status bar, icon, About, and the run() entry point."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from gui_helpers import (
    click,
    numpy_model,  # noqa: E402
    press,
    show_tab,
)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QMessageBox, QPushButton, QToolButton

from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.gui import workers


def test_gui_package_is_the_only_qt_user():
    import siamese_gui.core  # noqa: F401

    core_modules = [m for name, m in sys.modules.items() if name.startswith("siamese_gui.core")]
    for module in core_modules:
        source = open(module.__file__, encoding="utf-8").read()
        assert "PySide6" not in source, module.__name__


def test_window_has_its_panels_menus_and_status(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Compare", "Gallery", "Threshold", "Train", "Search", "Map", "Verify", "Models"
    ]
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus[0] == "&File" and menus[-1] == "&Help"
    file_actions = [a.text() for a in window.menuBar().actions()[0].menu().actions() if a.text()]
    for expected in ("&Open model…", "&Save model as…", "Open image-&folder dataset…",
                     "&Export gallery as PNG…", "Export &report…", "&Quit"):
        assert expected in file_actions
    assert window.model_label.text() == "Model: none"
    assert window.data_label.text() == "Data: loading…"
    assert window.threshold_label.text() == "Threshold: 0.500"


def test_window_title_names_the_model_once(window, data):
    from siamese_gui.gui import APP_NAME

    # Qt itself appends the application display name ("fashion_mnist.keras — Siamese GUI").
    assert window.windowTitle() == ""
    model = numpy_model()
    window.state.set_model(model)
    assert window.windowTitle() == "trained (unsaved)"
    assert APP_NAME not in window.windowTitle()


def test_status_bar_names_model_data_and_threshold(loaded_window):
    assert loaded_window.model_label.text() == "Model: trained (unsaved)"
    assert loaded_window.data_label.text() == "Data: generated, 48 held-out test images"
    loaded_window.state.set_threshold(0.25)
    assert loaded_window.threshold_label.text() == "Threshold: 0.250"


def test_status_bar_says_when_running_on_samples(window):
    from siamese_gui.core.data.datasets import load_samples

    samples = load_samples()
    window.state.set_data(DataSplits(samples, samples))
    assert "bundled samples" in window.data_label.text()
    assert "Fashion-MNIST not installed" in window.data_label.text()


def test_panel_shortcuts_switch_tabs(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    for key, panel in (("Ctrl+3", window.threshold_panel), ("Ctrl+4", window.train_panel),
                       ("Ctrl+2", window.gallery_panel), ("Ctrl+1", window.compare_panel)):
        press(qtbot, window, key)
        assert window.tabs.currentWidget() is panel


def _close_dialogs_soon():
    """Close popup menus and modal dialogs (About) as soon as they open."""

    def close():
        for widget in (QApplication.activePopupWidget(), QApplication.activeModalWidget()):
            if widget is not None:
                widget.close()

    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(close)
    timer.start()
    return timer


def _wait_idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.train_panel.is_training and not window.runner.is_busy(), timeout=120_000)


def test_every_button_clicks_without_an_exception(loaded_window, qtbot, dialogs):
    """Smoke test: each visible, enabled button of every panel, clicked once.

    File dialogs cancel, questions are answered No, popup menus and dialogs close.
    """
    pytest.importorskip("tensorflow")
    from test_gui_training import TINY

    window = loaded_window
    window.train_panel.set_config(TINY)
    window.show()
    qtbot.waitExposed(window)
    dialogs.answer = QMessageBox.StandardButton.No
    closer = _close_dialogs_soon()
    clicked = []
    with qtbot.captureExceptions() as exceptions:
        for index in range(window.tabs.count()):
            panel = window.tabs.widget(index)
            show_tab(qtbot, window, panel)
            _wait_idle(qtbot, window)
            for button in panel.findChildren(QAbstractButton):
                if isinstance(button, (QPushButton, QToolButton)) and button.isVisible() and button.isEnabled():
                    click(qtbot, button)
                    clicked.append(button.text())
                    qtbot.wait(20)
            _wait_idle(qtbot, window)
    closer.stop()
    assert not exceptions, [str(e[1]) for e in exceptions]
    for expected in ("Open…", "Paste", "From dataset", "⇄  Swap", "Random same-class pair", "Shuffle",
                     "Model's recommended", "Max accuracy", "Save threshold with model…", "▶  Start training",
                     "■  Stop"):
        assert expected in clicked, expected
    assert window.train_panel.controller.runs_started == 1


def test_every_menu_action_runs_without_an_exception(loaded_window, qtbot, dialogs):
    """Each menu item, by its shortcut where it has one (else triggered from the menu)."""
    pytest.importorskip("tensorflow")
    from test_gui_training import TINY

    window = loaded_window
    window.train_panel.set_config(TINY)
    window.show()
    qtbot.waitExposed(window)
    dialogs.answer = QMessageBox.StandardButton.No
    closer = _close_dialogs_soon()
    actions = [a for menu in window.menuBar().actions() for a in menu.menu().actions()
               if a.text() and not a.isSeparator()]
    quit_action = [a for a in actions if a.text() == "&Quit"][0]
    with qtbot.captureExceptions() as exceptions:
        for action in actions:
            if action is quit_action:
                continue
            if action.shortcut().isEmpty():
                action.trigger()
            else:
                press(qtbot, window, action.shortcut().toString())
            qtbot.wait(20)
            _wait_idle(qtbot, window)
        dialogs.answer = QMessageBox.StandardButton.Yes
        press(qtbot, window, "Ctrl+Q")
    closer.stop()
    assert not exceptions, [str(e[1]) for e in exceptions]
    assert not window.isVisible()
    assert window.train_panel.controller.runs_started == 1
    assert not any(t.isRunning() for t in workers.active_threads())


def test_app_icon_and_about_versions(qapp):
    from siamese_gui.gui.app import app_icon
    from siamese_gui.gui.dialogs.about import versions

    assert not app_icon().isNull()
    info = versions()
    assert info["Siamese GUI"]
    assert info["Qt"]
    # From the module when imported, else from its distribution (tensorflow-cpu or tensorflow).
    assert info["TensorFlow"][0].isdigit(), info["TensorFlow"]
    assert info["Keras"][0].isdigit(), info["Keras"]


def test_help_about_gives_the_installed_versions(window, qtbot):
    """Help › About, clicked as a person does, gives the version of the TensorFlow build
    installed (tensorflow-cpu or tensorflow), not "not installed". (F1 opens the glossary.)"""
    from siamese_gui.gui.dialogs.about import AboutDialog

    shown = []

    def read_and_close():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, AboutDialog):
            shown.append(" ".join(label.text() for label in dialog.findChildren(QLabel)))
            dialog.close()
        else:
            QTimer.singleShot(50, read_and_close)

    window.show()
    qtbot.waitExposed(window)
    QTimer.singleShot(50, read_and_close)
    bar = window.menuBar()
    help_menu = next(a.menu() for a in bar.actions() if a.text() == "&Help")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(help_menu.menuAction()).center())
    qtbot.waitUntil(help_menu.isVisible, timeout=5000)
    about = next(a for a in help_menu.actions() if a.text() == "&About Siamese GUI")
    qtbot.mouseClick(help_menu, Qt.MouseButton.LeftButton, pos=help_menu.actionGeometry(about).center())
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert re.search(r"TensorFlow</td><td><b>\d+\.\d+", shown[0]), shown[0]
    assert re.search(r"Keras</td><td><b>\d+\.\d+", shown[0]), shown[0]


def test_run_shows_the_window_and_returns(monkeypatch, qapp):
    from siamese_gui.gui import app as app_module
    from siamese_gui.gui.main_window import MainWindow

    started, frozen = [], []
    monkeypatch.setattr(MainWindow, "start_loading",
                        lambda self, path=None, prefetch=None: started.append((path, prefetch.model_path)))
    monkeypatch.setattr(app_module.gc, "freeze", lambda: frozen.append(True))

    def close_when_shown():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        assert windows
        windows[0].close()

    QTimer.singleShot(200, close_when_shown)
    assert app_module.run(model_path="some.keras") == 0
    assert started == [("some.keras", Path("some.keras"))]  # loading began before the window
    assert frozen == [True]  # the exit skips the final garbage collection


def test_a_deferred_window_shows_compare_and_gallery_first_then_builds_the_rest(qtbot):
    from siamese_gui.gui.main_window import MainWindow

    window = MainWindow(autoload=False, defer_panels=True)
    qtbot.addWidget(window)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Compare", "Gallery", "Threshold", "Train", "Search", "Map", "Verify", "Models"]
    assert window.tabs.widget(2).text() == "Loading…" and not window.panels_built
    assert [a.text() for a in window.menuBar().actions()][0] == "&File"  # the menus are there at once
    window.build_panels()
    threshold = window.threshold_panel
    window.build_panels()  # once only
    assert window.threshold_panel is threshold and window.tabs.widget(2) is threshold
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == titles
    window.shutdown()


def test_choosing_a_tab_that_is_still_loading_builds_the_panels(qtbot):
    from siamese_gui.gui.main_window import MainWindow

    window = MainWindow(autoload=False, defer_panels=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.mouseClick(window.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=window.tabs.tabBar().tabRect(5).center())
    qtbot.waitUntil(lambda: window.panels_built, timeout=10_000)
    assert window.tabs.currentWidget() is window.map_panel
    window.shutdown()


def test_a_deferred_window_closes_before_its_panels_are_built(qtbot):
    from siamese_gui.gui.main_window import MainWindow

    window = MainWindow(autoload=False, defer_panels=True)
    window.show()
    qtbot.waitExposed(window)
    assert window.close() and not window.panels_built


def test_run_builds_the_remaining_panels_soon_after_the_window_appears(monkeypatch, qapp):
    from siamese_gui.gui import app as app_module
    from siamese_gui.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "start_loading", lambda self, path=None, prefetch=None: None)
    monkeypatch.setattr(app_module.gc, "freeze", lambda: None)
    monkeypatch.setattr(app_module, "BUILD_PANELS_MS", 50)
    built = []

    def close_when_built():
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        if not window.panels_built:
            QTimer.singleShot(50, close_when_built)
            return
        built.append(window.tabs.count())
        window.close()

    QTimer.singleShot(100, close_when_built)
    assert app_module.run(model_path="some.keras") == 0
    assert built == [8]
