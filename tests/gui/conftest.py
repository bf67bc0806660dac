"""Fixtures for the GUI tests: offscreen Qt, no blocking dialogs, no leaked threads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from gui_helpers import QuadrantEmbedder, numpy_model, synthetic_dataset  # noqa: E402,F401
from PySide6.QtCore import QSettings, QStandardPaths  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from siamese_gui.core.data.datasets import Dataset, DataSplits  # noqa: E402


@pytest.fixture(autouse=True)
def no_running_threads():
    """Fail any test that leaves a worker QThread running (or not joined)."""
    yield
    from siamese_gui.gui import workers

    left = [t.objectName() for t in workers.active_threads()]
    running = [getattr(t, "objectName", lambda: t.name)() for t in workers.active_threads()  # noqa: B023
               if (t.isRunning() if hasattr(t, "isRunning") else t.is_alive())]
    assert not running, f"threads still running after the test: {running}"
    assert not left, f"threads never joined after the test: {left}"


@pytest.fixture(autouse=True)
def garbage_collection_handed_back():
    """Fail any test that leaves Python's automatic garbage collection off (a window that
    was never closed still holding the GUI-thread collector)."""
    yield
    import gc

    from PySide6.QtWidgets import QApplication

    from siamese_gui.gui.gui_thread_gc import GuiThreadCollector

    app = QApplication.instance()
    collector = app.findChild(GuiThreadCollector) if app is not None else None
    holders = collector.holders if collector is not None else 0
    assert holders == 0 and gc.isenabled(), f"{holders} window(s) still hold garbage collection"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Keep remembered work (QSettings), the user data folder and the run history
    ($XDG_DATA_HOME) out of the real home, fresh for each test."""
    QStandardPaths.setTestModeEnabled(True)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("settings")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
    yield


class Dialogs(list):
    """The message boxes shown, as (title, text); `answer` is what a question gets back."""

    answer = QMessageBox.StandardButton.Yes


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Record message boxes instead of blocking on them; returns [(title, text), ...].

    Questions are answered with `dialogs.answer` (Yes unless a test changes it).
    """
    shown = Dialogs()

    def record(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    def question(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return shown.answer

    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(record))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    # A file dialog would block too: behave as if the user cancelled it.
    for name in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    return shown


@pytest.fixture
def data() -> Dataset:
    return synthetic_dataset()


@pytest.fixture
def window(qtbot):
    """A main window that loads nothing by itself; closed (threads joined) afterwards."""
    from siamese_gui.gui.main_window import MainWindow

    win = MainWindow(autoload=False)
    qtbot.addWidget(win)
    win.resize(1100, 750)
    yield win
    win.close()


@pytest.fixture
def loaded_window(window, data, qtbot):
    """A window with synthetic data, a numpy model and its evaluation computed.

    Training images (validation comes from them) are drawn apart from `data`, which is
    the held-out test split every panel shows.
    """
    window.state.set_data(DataSplits(synthetic_dataset(per_class=40, seed=1), data))
    model = numpy_model(class_names=data.class_names)
    window.state.set_model(model)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60_000)
    return window


@pytest.fixture(autouse=True)
def system_theme_afterwards():
    """Hand the next test the system's palette back if a test switched the theme (the
    application, and so its palette, lives for the whole session)."""
    yield
    from PySide6.QtWidgets import QApplication

    from siamese_gui.gui import theme

    app = QApplication.instance()
    if app is not None and (theme.current_theme() != "system" or theme.colors().dark):
        theme.apply_theme("system")
        QApplication.processEvents()
