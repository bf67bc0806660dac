"""Background threads: one task thread for model and data work, one thread per training run.

Every use of a loaded model (embedding the evaluation images, comparing two images,
saving) runs on the single task thread, one task at a time, so a model is never used by
two threads at once. Training builds its own network on its own thread and hands it over
only after that thread is done with it. Workers talk to widgets only through signals.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from siamese_gui.core.errors import SiameseError

_threads: set[QThread] = set()


def active_threads() -> list[QThread]:
    """Return the threads started by this module that have not been joined yet."""
    return list(_threads)


def error_text(exc: BaseException) -> str:
    """Return the message to show for an exception from the core or from a library."""
    if isinstance(exc, SiameseError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PythonThread(QThread):
    """A QThread whose event loop runs inside one Python call.

    Without it, each queued slot call gets a fresh Python thread state, so thread-local
    data (TensorFlow's eager context among it) would not survive from one task to the
    next; TensorFlow crashes when it is imported in one task and used in another.
    """

    def run(self) -> None:
        self.exec()


class _TaskWorker(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)

    @Slot(int, object)
    def run(self, task_id: int, function: Callable[[], Any]) -> None:
        try:
            result = function()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if not isinstance(exc, SiameseError):
                traceback.print_exc()
            self.failed.emit(task_id, exc)
            return
        self.done.emit(task_id, result)


class TaskRunner(QObject):
    """Runs plain callables one after another on one background thread.

    Results come back on the GUI thread through the callbacks given to `submit`.

    Attributes:
        cancel: set on shutdown; long tasks poll it (for example through `embed`'s
            `should_stop`).
    """

    busyChanged = Signal(str)
    _request = Signal(int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.cancel = threading.Event()
        self._next_id = 0
        self._pending: dict[int, tuple[str, Callable | None, Callable | None]] = {}
        self._thread = PythonThread()
        self._thread.setObjectName("siamese-gui tasks")
        self._worker = _TaskWorker()
        self._worker.moveToThread(self._thread)
        self._request.connect(self._worker.run)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        _threads.add(self._thread)
        self._thread.start()

    def submit(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        description: str = "",
    ) -> int:
        """Queue `function` to run on the task thread.

        Args:
            function: runs on the task thread; it must not touch widgets.
            on_done: called on the GUI thread with the return value.
            on_error: called on the GUI thread with the exception.
            description: shown in the status bar while the task waits or runs.

        Returns:
            The task's id.
        """
        self._next_id += 1
        self._pending[self._next_id] = (description, on_done, on_error)
        self._emit_busy()
        self._request.emit(self._next_id, function)
        return self._next_id

    def is_busy(self) -> bool:
        """Whether any task is queued or running."""
        return bool(self._pending)

    def _emit_busy(self) -> None:
        descriptions = [d for d, _, _ in self._pending.values() if d]
        self.busyChanged.emit(descriptions[0] if descriptions else ("Working…" if self._pending else ""))

    def _finish(self, task_id: int):
        entry = self._pending.pop(task_id, None)
        self._emit_busy()
        return entry

    @Slot(int, object)
    def _on_done(self, task_id: int, result: Any) -> None:
        entry = self._finish(task_id)
        if entry is not None and entry[1] is not None:
            entry[1](result)

    @Slot(int, object)
    def _on_failed(self, task_id: int, exc: BaseException) -> None:
        entry = self._finish(task_id)
        if entry is not None and entry[2] is not None:
            entry[2](exc)

    def shutdown(self) -> None:
        """Ask running work to stop, end the thread and wait for it."""
        self.cancel.set()
        self._pending.clear()
        if self._thread in _threads:
            self._thread.quit()
            self._thread.wait()
            _threads.discard(self._thread)


@dataclass
class TrainingOutcome:
    """What the training thread hands back.

    Attributes:
        result: the core's `TrainingResult`.
        loaded: the trained model wrapped as a `LoadedModel` (None when it failed).
        class_names: class names of the training data.
    """

    result: Any
    loaded: Any
    class_names: tuple[str, ...]


class TrainingWorker(QObject):
    """Runs one `core.training.train` call; lives on its own thread."""

    batchDone = Signal(object)
    epochDone = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, config, dataset, stop_event: threading.Event):
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.stop_event = stop_event

    @Slot()
    def run(self) -> None:
        try:
            from siamese_gui.core.inference import handle_from_training
            from siamese_gui.core.store import result_metadata
            from siamese_gui.core.training import train

            result = train(
                self.config,
                self.dataset,
                on_batch=self.batchDone.emit,
                on_epoch=self.epochDone.emit,
                should_stop=self.stop_event.is_set,
            )
            loaded = None
            if result.usable:
                info = result_metadata(result, self.dataset.class_names)
                loaded = handle_from_training(result, info)
            self.finished.emit(TrainingOutcome(result, loaded, self.dataset.class_names))
        except Exception as exc:  # noqa: BLE001 - reported to the user as a dialog
            if not isinstance(exc, SiameseError):
                traceback.print_exc()
            self.failed.emit(error_text(exc))


class TrainingController(QObject):
    """Starts, stops and joins training runs; at most one runs at a time.

    Attributes:
        runs_started: how many runs this controller started.
        config: the settings of the latest run.
    """

    started = Signal()
    batchDone = Signal(object)
    epochDone = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._stop = threading.Event()
        self.runs_started = 0
        self.config = None

    def is_running(self) -> bool:
        """Whether a training thread exists that has not been joined."""
        return self._thread is not None

    def start(self, config, dataset) -> bool:
        """Start training on a new thread.

        Returns:
            False (and does nothing) when a run is already in progress.
        """
        if self.is_running():
            return False
        self._stop = threading.Event()
        thread = PythonThread()
        thread.setObjectName("siamese-gui training")
        worker = TrainingWorker(config, dataset, self._stop)
        worker.moveToThread(thread)
        # Queued, so the run happens inside the thread's event loop (see PythonThread).
        thread.started.connect(worker.run, Qt.ConnectionType.QueuedConnection)
        worker.batchDone.connect(self.batchDone)
        worker.epochDone.connect(self.epochDone)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        # Direct, so the thread ends even while the GUI thread is blocked in `wait`.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.failed.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self.config = config
        _threads.add(thread)
        self.runs_started += 1
        thread.start()
        self.started.emit()
        self.runningChanged.emit(True)
        return True

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the weights so far are kept."""
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @Slot(object)
    def _on_finished(self, outcome: TrainingOutcome) -> None:
        self.finished.emit(outcome)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._join()

    def _join(self) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.quit()
        thread.wait()
        _threads.discard(thread)
        self._thread = self._worker = None
        self.runningChanged.emit(False)

    def shutdown(self) -> None:
        """Stop a run in progress and wait for its thread to end."""
        self._stop.set()
        self._join()
