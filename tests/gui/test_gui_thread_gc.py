"""Cyclic garbage is collected in the GUI thread while a window is open."""

from __future__ import annotations

import gc
import threading

from siamese_gui.gui.gui_thread_gc import gui_thread_collector


class _Cycle:
    """A reference cycle that records the thread its finaliser ran in."""

    def __init__(self, seen: list):
        self.me = self
        self.seen = seen

    def __del__(self):
        self.seen.append(threading.current_thread() is threading.main_thread())


def test_garbage_made_in_a_worker_is_collected_in_the_gui_thread(window, qtbot):
    collector = gui_thread_collector()
    assert collector.active and not gc.isenabled()
    seen: list = []
    # Three times the youngest generation's threshold: automatic collection would run
    # in the worker, in the middle of the loop.
    count = 3 * gc.get_threshold()[0]

    def work():
        for _ in range(count):
            _Cycle(seen)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen == []  # nothing was collected in the worker
    qtbot.waitUntil(lambda: len(seen) == count, timeout=5_000)
    assert all(seen)  # every cycle was collected in the GUI thread


def test_closing_the_last_window_hands_collection_back(window, qtbot):
    from siamese_gui.gui.main_window import MainWindow

    second = MainWindow(autoload=False)
    qtbot.addWidget(second)
    collector = gui_thread_collector()
    assert collector.holders >= 2
    second.close()
    assert collector.active and not gc.isenabled()  # the first window still holds it
    window.close()
    assert not collector.active and gc.isenabled()
