"""One background worker for model work: a task supersedes the previous one of its kind.

Every use of a model (embedding, comparing, evaluating, decoding images) runs on this
one thread, one task at a time, so a model is never used by two threads at once. A new
task cancels the unfinished task of the same key; a cancelled task's result is never
delivered, so a panel cannot show numbers of a model or image it no longer holds.
"""

from __future__ import annotations

import queue
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from siamese_gui.core.errors import Cancelled, SiameseError

# Runs a callback where its owner wants it (the GUI passes one that posts to its
# event loop); the default calls it at once on the worker thread.
Deliver = Callable[[Callable[[], None]], None]


@dataclass(eq=False)
class Task:
    """A unit of work on the worker thread.

    Attributes:
        key: tasks with the same key supersede each other.
        function: called as `function(should_stop)` on the worker thread.
        description: shown while it waits or runs.
    """

    key: str
    function: Callable[[Callable[[], bool]], Any]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    description: str = ""
    cancel_event: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()


class TaskExecutor:
    """A single worker thread running `Task`s in order.

    Args:
        deliver: how results reach their callbacks (see `Deliver`).
        on_busy: called (through `deliver`) with the description of the work in
            progress, or "" when idle.
    """

    def __init__(self, deliver: Deliver | None = None, on_busy: Callable[[str], None] | None = None):
        self._deliver = deliver or (lambda callback: callback())
        self._on_busy = on_busy
        self._queue: queue.Queue[Task | None] = queue.Queue()
        self._latest: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="siamese-gui tasks", daemon=True)
        self._thread.start()

    def submit(
        self,
        function: Callable[[Callable[[], bool]], Any],
        key: str = "task",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        description: str = "",
    ) -> Task:
        """Queue `function(should_stop)`; cancel the unfinished task with the same key.

        Returns:
            The task (its `finished` event is set once it ran or was skipped).
        """
        task = Task(key, function, on_done, on_error, description)
        with self._lock:
            if self._closed:
                raise RuntimeError("the task executor is closed")
            previous = self._latest.get(key)
            if previous is not None:
                previous.cancel()
            self._latest[key] = task
            self._pending += 1
        self._busy(description or "Working…")
        self._queue.put(task)
        return task

    def cancel(self, key: str) -> None:
        """Cancel the unfinished task with `key`, if any."""
        with self._lock:
            task = self._latest.get(key)
        if task is not None:
            task.cancel()

    def busy(self) -> bool:
        """Whether any task waits or runs."""
        with self._lock:
            return self._pending > 0

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued task has finished (for scripts and tests)."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        return done.wait(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel everything, then wait for the worker thread to end."""
        with self._lock:
            self._closed = True
            for task in self._latest.values():
                task.cancel()
        self._queue.put(None)
        self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _busy(self, text: str) -> None:
        if self._on_busy is not None:
            on_busy = self._on_busy
            self._deliver(lambda: on_busy(text))

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if isinstance(task, _Marker):
                task.done.set()
                continue
            self._execute(task)
            with self._lock:
                self._pending -= 1
                if self._latest.get(task.key) is task:
                    del self._latest[task.key]
                waiting = [t.description for t in self._latest.values() if not t.cancelled]
            self._busy(next((d for d in waiting if d), "Working…" if waiting else ""))

    def _execute(self, task: Task) -> None:
        try:
            if task.cancelled:
                return
            try:
                result = task.function(task.cancel_event.is_set)
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - every failure reaches on_error
                if not isinstance(exc, SiameseError):
                    traceback.print_exc()
                if not task.cancelled and task.on_error is not None:
                    self._deliver(_checked(task, task.on_error, exc))
                return
            if not task.cancelled and task.on_done is not None:
                self._deliver(_checked(task, task.on_done, result))
        finally:
            task.finished.set()


def _checked(task: Task, callback: Callable[[Any], None], value: Any) -> Callable[[], None]:
    # Checked again where it is delivered: the task may have been superseded while
    # its result travelled to the owner's thread.
    def run() -> None:
        if not task.cancelled:
            callback(value)

    return run


@dataclass
class _Marker:
    done: threading.Event
