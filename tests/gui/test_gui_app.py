"""Start-up: the window, menus, status bar, icon, About, and the run() entry point."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from siamese_gui.core.datasets import DataSplits


def test_gui_package_is_the_only_qt_user():
    import siamese_gui.core  # noqa: F401

    core_modules = [m for name, m in sys.modules.items() if name.startswith("siamese_gui.core")]
    for module in core_modules:
        source = open(module.__file__, encoding="utf-8").read()
        assert "PySide6" not in source, module.__name__


def test_window_has_four_panels_menus_and_status(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Compare", "Gallery", "Threshold", "Train"
    ]
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus[0] == "&File" and menus[-1] == "&Help"
    file_actions = [a.text() for a in window.menuBar().actions()[0].menu().actions() if a.text()]
    for expected in ("&Open model…", "&Save model as…", "Open image-&folder dataset…",
                     "&Export gallery as PNG…", "&Quit"):
        assert expected in file_actions
    assert window.model_label.text() == "Model: none"
    assert window.data_label.text() == "Data: loading…"
    assert window.threshold_label.text() == "Threshold: 0.500"


def test_status_bar_names_model_data_and_threshold(loaded_window):
    assert loaded_window.model_label.text() == "Model: trained (unsaved)"
    assert loaded_window.data_label.text() == "Data: synthetic test data, 48 images"
    loaded_window.state.set_threshold(0.25)
    assert loaded_window.threshold_label.text() == "Threshold: 0.250"


def test_status_bar_says_when_running_on_samples(window):
    from siamese_gui.core.datasets import load_samples

    samples = load_samples()
    window.state.set_data(DataSplits(samples, samples))
    assert "bundled samples" in window.data_label.text()
    assert "Fashion-MNIST not installed" in window.data_label.text()


def test_panel_shortcuts_switch_tabs(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    view_menu = [a for a in window.menuBar().actions() if a.text() == "&View"][0].menu()
    view_menu.actions()[2].trigger()
    assert window.tabs.currentWidget() is window.threshold_panel
    assert view_menu.actions()[2].shortcut().toString() == "Ctrl+3"


def test_app_icon_and_about_versions():
    from siamese_gui.gui.app import app_icon
    from siamese_gui.gui.dialogs.about import versions

    assert not app_icon().isNull()
    info = versions()
    assert info["Siamese GUI"]
    assert info["Qt"]
    assert "TensorFlow" in info


def test_run_shows_the_window_and_returns(monkeypatch, qapp):
    from siamese_gui.gui import app as app_module
    from siamese_gui.gui.main_window import MainWindow

    started = []
    monkeypatch.setattr(MainWindow, "start_loading", lambda self, path=None: started.append(path))

    def close_when_shown():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        assert windows
        windows[0].close()

    QTimer.singleShot(200, close_when_shown)
    assert app_module.run(model_path="some.keras") == 0
    assert started == ["some.keras"]
