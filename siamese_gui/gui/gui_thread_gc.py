"""Python's cyclic garbage collection, run from the GUI thread only."""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Collects Python's cyclic garbage on a GUI-thread timer while any window holds it.

    Left automatic, the collector runs in whichever thread allocates when a threshold is
    crossed, as often a worker as not. A cycle holding Qt objects collected there deletes
    them off their thread, which can crash the process (a segmentation fault while a
    worker saved a model). While held, automatic collection is off and the timer collects
    each generation when Python itself would have, by its thresholds.
    """

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.holders = 0
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def hold(self) -> None:
        """Take collection over from the interpreter (nested holds count)."""
        if self.holders == 0:
            gc.disable()
            self._timer.start()
        self.holders += 1

    def release(self) -> None:
        """Hand collection back to the interpreter once the last holder lets go; call it
        after the holder's threads are joined."""
        self.holders = max(self.holders - 1, 0)
        if self.holders == 0:
            self._timer.stop()
            gc.enable()

    def collect(self) -> None:
        """Collect the generations whose counts passed Python's thresholds."""
        young, middle, old = gc.get_count()
        if young > self._thresholds[0]:
            gc.collect(0)
            if middle > self._thresholds[1]:
                gc.collect(1)
                if old > self._thresholds[2]:
                    gc.collect(2)


def gui_thread_collector() -> GuiThreadCollector:
    """The application's collector (created on first use; call from the GUI thread)."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("no QApplication: the collector runs on its event loop")
    collector = app.findChild(GuiThreadCollector)
    return collector if collector is not None else GuiThreadCollector(app)
