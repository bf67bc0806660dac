"""Background threads: the session's worker for model and data work, one thread per
training run (the run itself is `core.app.training_run`'s).

Every use of a loaded model (embedding the evaluation images, comparing two images,
saving) runs on the session's single worker, one task at a time, so a model is never
used by two threads at once. Training builds its own network on its own thread and hands
it over only after that thread is done with it. Workers talk to widgets only through
signals.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from siamese_gui.core.errors import Cancelled, SiameseError

_threads: set[QThread] = set()
_sessions: set = set()


def active_threads() -> list:
    """Return the threads started by the GUI (training threads and session workers)
    that have not been joined yet."""
    return list(_threads) + [thread for s in _sessions for thread in s.threads]


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


class QtDeliver(QObject):
    """Runs callables on the thread of this object (the GUI thread), in order.

    The session's worker calls it from its own thread; a queued signal carries each
    callable into the GUI event loop, so no widget is touched from a worker.
    """

    _post = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._post.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def __call__(self, callback: Callable[[], None]) -> None:
        self._post.emit(callback)

    @Slot(object)
    def _run(self, callback: Callable[[], None]) -> None:
        callback()


class TaskRunner(QObject):
    """The GUI's door to the session's single worker thread.

    Results come back on the GUI thread. A task submitted with the `key` of an
    unfinished one supersedes it: the older one is cancelled and its result dropped.

    Attributes:
        session: the headless session whose worker runs the tasks.
    """

    busyChanged = Signal(str)
    errorRaised = Signal(str)

    def __init__(self, deliver: QtDeliver, parent: QObject | None = None):
        super().__init__(parent)
        from siamese_gui.core.app.session import Session

        self.session = Session(deliver, self.busyChanged.emit)
        _sessions.add(self.session)

    def submit(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        description: str = "",
        key: str | None = None,
        cancellable: bool = False,
    ):
        """Run `function` on the worker thread.

        Args:
            function: runs on the worker; it must not touch widgets. With
                `cancellable`, it is called with a `should_stop` callable.
            on_done: called on the GUI thread with the return value.
            on_error: called on the GUI thread with the exception.
            description: shown in the status bar while the task waits or runs.
            key: tasks sharing a key supersede each other (None: a key of its own).

        Returns:
            The `core.tasks.Task`.
        """
        work = function if cancellable else (lambda should_stop: function())
        key = key if key is not None else f"task-{id(work)}"
        return self.session.submit(work, key, on_done, on_error, description)

    def cancel(self, key: str) -> None:
        """Cancel the unfinished task with `key`; its result is never delivered."""
        self.session.cancel(key)

    def report_error(self, exc: BaseException) -> None:
        self.errorRaised.emit(error_text(exc))

    def is_busy(self) -> bool:
        """Whether any task is queued or running."""
        return self.session.busy()

    def shutdown(self) -> None:
        """Cancel the work in progress, end the worker thread and wait for it."""
        self.session.close()
        _sessions.discard(self.session)


class TrainingWorker(QObject):
    """Runs one `core.app.training_run` run; lives on its own thread."""

    batchDone = Signal(object)
    epochDone = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        config,
        source,
        stop_event: threading.Event,
        unseen: tuple[str, ...] = (),
        cancel_event: threading.Event | None = None,
        sample=None,
    ):
        super().__init__()
        from siamese_gui.core.app.session import DataSource

        self.config = config
        self.source = source if isinstance(source, DataSource) else DataSource(dataset=source)
        self.sample = sample
        self.unseen = unseen
        self.stop_event = stop_event
        self.cancel_event = cancel_event or threading.Event()

    @Slot()
    def run(self) -> None:
        try:
            from siamese_gui.core.app.training_run import prepare_training, run_training

            data = prepare_training(self.source, self.config, self.sample, self.unseen)
            run = run_training(
                self.config,
                data,
                on_batch=self.batchDone.emit,
                on_epoch=self.epochDone.emit,
                should_stop=self.stop_event.is_set,
                should_cancel=self.cancel_event.is_set,
            )
            self.finished.emit(run)
        except Cancelled:
            # The app is closing and nobody waits for a result: just end the thread.
            QThread.currentThread().quit()
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
        self._cancel = threading.Event()
        self.runs_started = 0
        self.config = None

    def is_running(self) -> bool:
        """Whether a training thread exists that has not been joined."""
        return self._thread is not None

    def start(self, config, dataset, unseen: tuple[str, ...] = (), sample=None) -> bool:
        """Start training on a new thread (see `core.app.training_run`): `dataset` (a
        `DataSource`) narrowed by `sample`, `unseen` classes held out of training.

        Returns:
            False (and does nothing) when a run is already in progress.
        """
        if self.is_running():
            return False
        self._stop = threading.Event()
        self._cancel = threading.Event()
        thread = PythonThread()
        thread.setObjectName("siamese-gui training")
        worker = TrainingWorker(config, dataset, self._stop, cancel_event=self._cancel, unseen=unseen,
                                sample=sample)
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
        self.runningChanged.emit(True)
        return True

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the weights so far are kept."""
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @Slot(object)
    def _on_finished(self, run) -> None:
        self.finished.emit(run)

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
        """Abandon a run in progress and wait for its thread (at most the current batch)."""
        self._stop.set()
        self._cancel.set()
        self._join()
