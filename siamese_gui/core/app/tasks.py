"""One background worker for model work: a task supersedes the previous one of its kind.

Every use of a model (embedding, comparing, evaluating, decoding images) runs on this
one thread, one task at a time, so a model is never used by two threads at once. A new
task cancels the unfinished task of the same key; a cancelled task's result is never
delivered, so a panel cannot show numbers of a model or image it no longer holds.

Long work that nobody waits on (the panels' evaluations) is submitted as `background`:
each time it polls its `should_stop` (between embedding batches, never inside a model
call) the worker first runs the other tasks waiting by then, on this same thread. A
comparison asked for during an evaluation of thousands of images so takes a batch's
time, not the evaluation's, and the model still sees one thread, one call at a time.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
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
        background: whether other tasks run at its `should_stop` polls (see the module).
    """

    key: str
    function: Callable[[Callable[[], bool]], Any]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    description: str = ""
    background: bool = False
    cancel_event: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()


class TaskExecutor:
    """A single worker thread running `Task`s in order (background tasks last, and
    paused at their `should_stop` polls for the others; see the module).

    Args:
        deliver: how results reach their callbacks (see `Deliver`).
        on_busy: called (through `deliver`) with the description of the work in
            progress, or "" when idle.
    """

    def __init__(self, deliver: Deliver | None = None, on_busy: Callable[[str], None] | None = None):
        self._deliver = deliver or (lambda callback: callback())
        self._on_busy = on_busy
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._tasks: deque[Task] = deque()
        self._background: deque[Task] = deque()
        self._idle_waiters: list[threading.Event] = []
        self._latest: dict[str, Task] = {}
        self._pending = 0
        self._closed = False
        self._yielding = False  # a background task's poll is running the others
        self._thread = threading.Thread(target=self._run, name="siamese-gui tasks", daemon=True)
        self._thread.start()

    def submit(
        self,
        function: Callable[[Callable[[], bool]], Any],
        key: str = "task",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        description: str = "",
        background: bool = False,
    ) -> Task:
        """Queue `function(should_stop)`; cancel the unfinished task with the same key.

        Args:
            background: long work nobody waits on: it runs after the other tasks, and
                each of its `should_stop` polls first runs the tasks waiting by then.

        Returns:
            The task (its `finished` event is set once it ran or was skipped).
        """
        task = Task(key, function, on_done, on_error, description, background)
        with self._lock:
            if self._closed:
                raise RuntimeError("the task executor is closed")
            previous = self._latest.get(key)
            if previous is not None:
                previous.cancel()
            self._latest[key] = task
            self._pending += 1
            (self._background if background else self._tasks).append(task)
            self._wake.notify()
        self._busy(description or "Working…")
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
        """Block until no task waits or runs (for scripts and tests)."""
        done = threading.Event()
        with self._lock:
            if self._pending == 0:
                return True
            self._idle_waiters.append(done)
        return done.wait(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel everything, then wait for the worker thread to end."""
        with self._lock:
            self._closed = True
            for task in self._latest.values():
                task.cancel()
            self._wake.notify()
        self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _busy(self, text: str) -> None:
        if self._on_busy is not None:
            on_busy = self._on_busy
            self._deliver(lambda: on_busy(text))

    def _next(self, wait: bool) -> Task | None:
        """The next task to run (others before background ones); None when there is
        none (without `wait`) or the executor closed with nothing left."""
        with self._lock:
            while True:
                if self._tasks:
                    return self._tasks.popleft()
                if not wait:
                    return None
                if self._background:
                    return self._background.popleft()
                if self._closed:
                    return None
                self._wake.wait()

    def _run(self) -> None:
        while (task := self._next(wait=True)) is not None:
            self._finish(task)

    def _run_waiting(self) -> None:
        """Run the non-background tasks waiting now (from a background task's poll)."""
        if self._yielding or threading.current_thread() is not self._thread:
            return  # polled by a helper thread of the task, or from a task run here
        self._yielding = True
        try:
            while (task := self._next(wait=False)) is not None:
                self._finish(task)
        finally:
            self._yielding = False

    def _finish(self, task: Task) -> None:
        self._execute(task)
        with self._lock:
            self._pending -= 1
            if self._latest.get(task.key) is task:
                del self._latest[task.key]
            waiting = [t.description for t in self._latest.values() if not t.cancelled]
            idle = self._pending == 0
            waiters, self._idle_waiters = (self._idle_waiters, []) if idle else ([], self._idle_waiters)
        self._busy(next((d for d in waiting if d), "Working…" if waiting else ""))
        for done in waiters:
            done.set()

    def _execute(self, task: Task) -> None:
        def should_stop() -> bool:
            if task.background and not task.cancelled:
                self._run_waiting()
            return task.cancelled

        try:
            if task.cancelled:
                return
            try:
                result = task.function(should_stop if task.background else task.cancel_event.is_set)
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

