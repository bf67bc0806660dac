"""Acting as a person does: clicking buttons, pressing shortcuts, answering dialogs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from siamese_gui.core.data.datasets import Dataset


def settle(qtbot, widget: QWidget) -> None:
    """Wait, as a person would, until the window's background work is done and shown."""
    runner = getattr(getattr(widget.window(), "state", None), "runner", None)
    if runner is None:
        return
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=60_000)
    QApplication.processEvents()  # results queued for the GUI thread


def click(qtbot, widget: QWidget) -> None:
    """Left-click the middle of a visible, enabled widget, then let the app settle."""
    assert widget.isVisible(), f"{widget!r} is not visible"
    assert widget.isEnabled(), f"{widget!r} is disabled"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())
    settle(qtbot, widget)


def press(qtbot, window: QWidget, shortcut: str) -> None:
    """Press a shortcut ("Ctrl+Shift+S") in the active window."""
    sequence = QKeySequence(shortcut)
    combination = sequence[0]
    if QApplication.activeWindow() is not window:
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, combination.key(), combination.keyboardModifiers())
    settle(qtbot, window)


def show_tab(qtbot, window, panel) -> None:
    """Click the tab of `panel` in the main window."""
    bar = window.tabs.tabBar()
    index = window.tabs.indexOf(panel)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentWidget() is panel


def choose_file(monkeypatch, path: str | Path) -> list[tuple]:
    """Make Open/Save file dialogs answer `path`; returns the dialogs' arguments."""
    asked: list[tuple] = []

    def answer(*args, **kwargs):
        asked.append(args)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(answer))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer))
    return asked


def close_popups_soon(interval_ms: int = 50) -> QTimer:
    """Close any popup menu that opens (a QToolButton's menu runs its own event loop)."""

    def close():
        popup = QApplication.activePopupWidget()
        if popup is not None:
            popup.close()

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(close)
    timer.start()
    return timer


def center_of(widget: QWidget) -> QPoint:
    return widget.rect().center()


class QuadrantEmbedder:
    """Embeds an image as its four quadrant means (no TensorFlow); counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        batch = np.asarray(batch, dtype=np.float32).reshape(len(batch), 28, 28)
        return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 2.0


def numpy_model(threshold: float = 0.5, path=None, read_only: bool = False, class_names=()):
    """A `ModelHandle` over `QuadrantEmbedder`, as the app uses a loaded model."""
    from siamese_gui.core.runtime.handle import ModelHandle

    metadata = {"threshold": threshold, "class_names": list(class_names)}
    return ModelHandle(embedder=QuadrantEmbedder(), metadata=metadata, path=path, read_only=read_only)


def synthetic_dataset(per_class: int = 12, classes: int = 4, seed: int = 0) -> Dataset:
    """Noise images with one bright square whose position is the class."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(per_class * classes, 28, 28)).astype(np.uint8)
    labels = np.repeat(np.arange(classes), per_class).astype(np.int64)
    for i, label in enumerate(labels):
        row, col = divmod(int(label) % 4, 2)
        images[i, row * 14 + 2 : row * 14 + 12, col * 14 + 2 : col * 14 + 12] = rng.integers(120, 256)
    return Dataset(images, labels, tuple(f"class {c}" for c in range(classes)), "synthetic test data")
