"""The history of training runs, kept across launches in one bounded JSON file.

Every run the app or `siamese-gui train` makes is recorded: its settings, data, seen and
unseen classes, headline figures, model file, time and status. The file lives in
`$XDG_DATA_HOME/siamese-gui/runs.json` (`~/.local/share/siamese-gui/runs.json` without
it), holds at most `MAX_RUNS` runs and `MAX_BYTES` bytes (the oldest go first), is read
with the bounded reader and written all at once. A read-change-write holds a lock file,
so two processes adding runs at the same time both keep theirs.
"""

from __future__ import annotations

import json
import math
import os
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from siamese_gui.core.errors import HistoryError
from siamese_gui.core.io.safe_files import parse_json_object, read_regular_file, write_atomically

MAX_RUNS = 100
MAX_BYTES = 4 * 1024 * 1024
FORMAT_VERSION = 1
STATUSES = ("completed", "stopped", "failed")
FIGURES = ("threshold", "accuracy", "far", "frr", "auc", "eer", "validation_pairs", "test_pairs")
# A class list or message longer than this is not kept whole: the file stays small.
MAX_CLASSES = 1000
MAX_TEXT = 2000

_process_lock = threading.Lock()


def history_path() -> Path:
    """Where the run history is kept: `$XDG_DATA_HOME/siamese-gui/runs.json`."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "siamese-gui" / "runs.json"


@dataclass(frozen=True)
class RunRecord:
    """One training run as the history keeps it.

    Attributes:
        id: a unique id.
        time: when the run ended, ISO 8601 in UTC.
        status: "completed", "stopped" or "failed".
        config: the run's settings (`TrainingConfig.as_dict()`).
        data: the data it trained on, in words (a folder, "Fashion-MNIST train", ...).
        seen_classes: the classes it trained on.
        unseen_classes: classes held out of training.
        figures: headline figures (`FIGURES`; None where undefined): on the run's test pairs
            (`test_pairs` of them; of the unseen classes where it held some out), or on its
            validation pairs where it had no test images.
        seconds: how long it ran.
        message: why it ended, for display.
        model: the saved model file, or None when it was never saved.
        origin: "app" or "cli".
    """

    id: str
    time: str
    status: str
    config: dict
    data: str = ""
    seen_classes: tuple[str, ...] = ()
    unseen_classes: tuple[str, ...] = ()
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""
    model: str | None = None
    origin: str = "app"

    @property
    def model_path(self) -> Path | None:
        return Path(self.model) if self.model else None

    @property
    def when(self) -> datetime:
        """`time` as an aware datetime (the local time zone is the reader's choice)."""
        return datetime.fromisoformat(self.time)

    def as_dict(self) -> dict:
        values = asdict(self)
        values["seen_classes"] = list(self.seen_classes)
        values["unseen_classes"] = list(self.unseen_classes)
        return values

    @classmethod
    def from_dict(cls, values) -> "RunRecord":
        """Check and build a record from the file's JSON.

        Raises:
            ValueError: naming the first field that is missing or wrong.
        """
        if not isinstance(values, dict):
            raise ValueError("not an object")
        for name in ("id", "time", "status"):
            if not isinstance(values.get(name), str) or not values[name]:
                raise ValueError(f"no {name}")
        if values["status"] not in STATUSES:
            raise ValueError(f"unknown status {values['status'][:40]!r}")
        try:
            datetime.fromisoformat(values["time"])
        except ValueError:
            raise ValueError("time is not an ISO 8601 date") from None
        if not isinstance(values.get("config"), dict):
            raise ValueError("no config")
        texts = {name: values.get(name, default) for name, default in (("data", ""), ("message", ""),
                                                                        ("origin", "app"))}
        for name, text in texts.items():
            if not isinstance(text, str):
                raise ValueError(f"{name} is not text")
        classes = {}
        for name in ("seen_classes", "unseen_classes"):
            names = values.get(name, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{name} is not a list of names")
            classes[name] = tuple(names)
        figures = values.get("figures", {})
        if not isinstance(figures, dict) or not all(_is_figure(v) for v in figures.values()):
            raise ValueError("figures are not numbers")
        seconds = values.get("seconds", 0.0)
        if not _is_figure(seconds) or seconds is None:
            raise ValueError("seconds is not a number")
        model = values.get("model")
        if model is not None and (not isinstance(model, str) or not model):
            raise ValueError("model is not a file name")
        return cls(values["id"], values["time"], values["status"], values["config"], texts["data"],
                   classes["seen_classes"], classes["unseen_classes"],
                   {k: v for k, v in figures.items() if k in FIGURES}, float(seconds), texts["message"],
                   model, texts["origin"])


def _is_figure(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and math.isfinite(value))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _number(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def record_from_run(run, model_path: str | os.PathLike | None = None, origin: str = "app") -> RunRecord:
    """The record of a finished run (a `core.app.training_run.TrainingRun`).

    Args:
        run: the run.
        model_path: where its model was saved (None: not saved yet).
        origin: "app" or "cli".
    """
    result = run.result
    figures = {}
    if result.threshold is not None:
        figures["threshold"] = _number(result.threshold)
    m, v = result.at_threshold, result.validation
    tested = getattr(run, "figures", None)
    if tested is not None:
        # The Result's own headline figures: its test pairs (unseen classes first).
        part = tested.main
        at, report = part.evaluation.at(tested.threshold.value), part.evaluation.report
        figures.update(accuracy=_number(at.accuracy), far=_number(at.far), frr=_number(at.frr),
                       auc=_number(report.auc), eer=_number(report.eer),
                       test_pairs=len(part.evaluation.pairs))
    elif m is not None:
        figures.update(accuracy=_number(m.accuracy), far=_number(m.far), frr=_number(m.frr))
    if v is not None:
        if tested is None:
            figures.update(auc=_number(v.auc), eer=_number(v.eer))
        figures["validation_pairs"] = int(v.pairs)
    unseen = tuple(run.data.unseen)
    seen = tuple(name for name in run.data.class_names if name not in unseen)
    return RunRecord(
        id=uuid.uuid4().hex, time=_now(), status=result.status, config=dict(result.config.as_dict()),
        data=_short(run.data.source.training_pool.source), seen_classes=seen[:MAX_CLASSES],
        unseen_classes=unseen[:MAX_CLASSES], figures=figures, seconds=float(result.seconds),
        message=_short(result.message), model=str(model_path) if model_path is not None else None, origin=origin,
    )


def failed_record(config, data: str, message: str, origin: str = "app") -> RunRecord:
    """The record of a run that ended with an error before it had a result."""
    return RunRecord(id=uuid.uuid4().hex, time=_now(), status="failed", config=dict(config.as_dict()),
                     data=_short(data), message=_short(message), origin=origin)


def _short(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class RunHistory:
    """The run history file.

    Args:
        path: the file (`history_path()` when None).
        limit: the most runs kept; the oldest are dropped first.
        max_bytes: the largest file read or written; the oldest runs are dropped to fit.
    """

    def __init__(self, path: str | os.PathLike | None = None, limit: int = MAX_RUNS, max_bytes: int = MAX_BYTES):
        self.path = Path(path) if path is not None else history_path()
        self.limit = limit
        self.max_bytes = max_bytes

    def load(self) -> tuple[list[RunRecord], list[str]]:
        """The runs, newest first, and one notice per entry (or file) that was skipped.

        A missing file is an empty history; an unreadable or invalid one is too, with a
        notice (it is moved aside, not overwritten, at the next change).
        """
        records, notices, _ = self._read()
        return list(reversed(records)), notices

    def add(self, record: RunRecord) -> list[str]:
        """Record a run; returns the notices of the read before it (see `load`).

        Raises:
            HistoryError: if the file cannot be written.
        """
        with self._locked():
            records, notices, corrupt = self._read()
            records = [r for r in records if r.id != record.id] + [record]
            self._write(records, corrupt)
        return notices

    def remove(self, run_ids) -> None:
        """Delete runs by id (their model files stay).

        Raises:
            HistoryError: if the file cannot be written.
        """
        ids = set(run_ids)
        with self._locked():
            records, _, corrupt = self._read()
            self._write([r for r in records if r.id not in ids], corrupt)

    def set_model(self, run_id: str, model_path: str | os.PathLike) -> RunRecord | None:
        """Note where a run's model was saved; returns the updated record (None if gone).

        Raises:
            HistoryError: if the file cannot be written.
        """
        from dataclasses import replace

        with self._locked():
            records, _, corrupt = self._read()
            updated = None
            for i, r in enumerate(records):
                if r.id == run_id:
                    updated = records[i] = replace(r, model=str(model_path))
            if updated is not None:
                self._write(records, corrupt)
        return updated

    # The file ------------------------------------------------------------------------

    def _read(self) -> tuple[list[RunRecord], list[str], bool]:
        """(records oldest first, notices, whether the file is unusable as a whole)."""
        name = str(self.path)
        try:
            data = read_regular_file(self.path, self.max_bytes, HistoryError, "run history")
        except HistoryError as exc:
            if not self.path.exists() and not self.path.is_symlink():
                return [], [], False
            return [], [f"{exc}; starting a new history"], True
        try:
            document = parse_json_object(data, name, HistoryError, "run history")
        except HistoryError as exc:
            return [], [f"{exc}; starting a new history"], True
        runs = document.get("runs")
        if not isinstance(runs, list):
            return [], [f"{name}: not a valid run history (no list of runs); starting a new history"], True
        records, notices = [], []
        for index, entry in enumerate(runs, start=1):
            try:
                records.append(RunRecord.from_dict(entry))
            except ValueError as exc:
                notices.append(f"{name}: run {index} skipped ({exc})")
        return records, notices, False

    def _write(self, records: list[RunRecord], corrupt: bool) -> None:
        records = records[-self.limit:] if self.limit > 0 else []
        while True:
            text = json.dumps({"version": FORMAT_VERSION, "runs": [r.as_dict() for r in records]}, indent=1,
                              allow_nan=False)
            if len(text.encode("utf-8")) <= self.max_bytes or not records:
                break
            records = records[1:]
        if corrupt and self.path.is_file():
            # Kept for the user to look at, never silently overwritten.
            try:
                os.replace(self.path, self.path.with_name(self.path.name + ".corrupt"))
            except OSError as exc:
                raise HistoryError(f"{self.path}: cannot move the invalid history aside ({exc.strerror})") from None
        write_atomically(self.path, lambda handle: handle.write(text.encode("utf-8")), HistoryError,
                         "the run history")

    @contextmanager
    def _locked(self):
        """Hold the history's lock (threads of this process, and other processes)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"{self.path.parent}: cannot create the folder ({exc.strerror or exc})") from None
        with _process_lock:
            try:
                import fcntl
            except ImportError:  # Windows: the process lock only
                yield
                return
            lock_path = self.path.with_name(self.path.name + ".lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise HistoryError(f"{lock_path}: cannot open the lock file ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)
