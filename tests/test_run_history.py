"""The run history store: round trip, bounds, corrupt files, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from types import SimpleNamespace

import pytest

from siamese_gui.core.app.run_history import (
    MAX_BYTES,
    RunHistory,
    RunRecord,
    failed_record,
    history_path,
    record_from_run,
)
from siamese_gui.core.model.config import TrainingConfig


def _record(n: int = 0, **changes) -> RunRecord:
    values = dict(id=f"run-{n}", time=f"2026-12-03T10:{n % 60:02d}:00+00:00", status="completed",
                  config=TrainingConfig(epochs=n + 1).as_dict(), data="/data/shapes", seen_classes=("a", "b"),
                  unseen_classes=("c",), figures={"accuracy": 0.9, "auc": 0.95, "threshold": 0.5},
                  seconds=12.5, message="completed", model=f"/models/m{n}.keras")
    values.update(changes)
    return RunRecord(**values)


def test_history_path_follows_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "siamese-gui" / "runs.json"


def test_round_trip_keeps_every_field_newest_first(tmp_path):
    history = RunHistory(tmp_path / "sub" / "runs.json")
    assert history.load() == ([], [])
    first, second = _record(1), _record(2, model=None, status="stopped", figures={"auc": None})
    history.add(first)
    history.add(second)
    records, notices = RunHistory(history.path).load()
    assert notices == []
    assert records == [second, first]
    assert TrainingConfig.from_dict(records[1].config) == TrainingConfig(epochs=2)
    assert records[0].model_path is None and records[1].model_path.name == "m1.keras"

    updated = history.set_model("run-2", tmp_path / "saved.keras")
    assert updated.model == str(tmp_path / "saved.keras")
    history.remove(["run-1"])
    records, _ = history.load()
    assert [r.id for r in records] == ["run-2"] and records[0].model == str(tmp_path / "saved.keras")


def test_records_from_a_run_and_a_failure():
    metrics = SimpleNamespace(accuracy=0.8, far=0.1, frr=float("nan"))
    validation = SimpleNamespace(auc=0.9, eer=0.2, pairs=40)
    result = SimpleNamespace(threshold=0.7, at_threshold=metrics, validation=validation, status="stopped",
                             config=TrainingConfig(epochs=3), seconds=4.0, message="stopped by the user")
    data = SimpleNamespace(unseen=("c",), class_names=("a", "b", "c"),
                           source=SimpleNamespace(training_pool=SimpleNamespace(source="/data/x")))
    record = record_from_run(SimpleNamespace(result=result, data=data), origin="cli")
    assert record.seen_classes == ("a", "b") and record.unseen_classes == ("c",)
    assert record.figures == {"threshold": 0.7, "accuracy": 0.8, "far": 0.1, "frr": None, "auc": 0.9,
                              "eer": 0.2, "validation_pairs": 40}
    assert record.status == "stopped" and record.origin == "cli" and record.model is None
    assert RunRecord.from_dict(json.loads(json.dumps(record.as_dict()))) == record
    failed = failed_record(TrainingConfig(), "/data/x", "out of memory")
    assert failed.status == "failed" and failed.figures == {} and failed.message == "out of memory"


def test_history_is_bounded_in_runs_and_bytes(tmp_path):
    history = RunHistory(tmp_path / "runs.json", limit=5)
    for n in range(8):
        history.add(_record(n))
    records, _ = history.load()
    assert [r.id for r in records] == [f"run-{n}" for n in range(7, 2, -1)]

    big = RunHistory(tmp_path / "big.json", limit=1000, max_bytes=64 * 1024)
    names = tuple(f"class {i:05d} with a long name" for i in range(200))
    for n in range(20):
        big.add(_record(n, seen_classes=names))
    assert big.path.stat().st_size <= 64 * 1024
    records, notices = big.load()
    assert notices == [] and records[0].id == "run-19" and 1 < len(records) < 20


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"runs": 3}', b"\xff\xfe", b"[" * 10000])
def test_a_corrupt_file_is_an_empty_history_with_a_notice_and_is_kept_aside(tmp_path, content):
    path = tmp_path / "runs.json"
    path.write_bytes(content)
    history = RunHistory(path)
    records, notices = history.load()
    assert records == [] and len(notices) == 1 and str(path) in notices[0]
    history.add(_record(1))
    assert (tmp_path / "runs.json.corrupt").read_bytes() == content
    assert [r.id for r in history.load()[0]] == ["run-1"]


def test_an_oversized_file_is_refused_unread(tmp_path):
    path = tmp_path / "runs.json"
    path.write_bytes(b" " * (MAX_BYTES + 1))
    records, notices = RunHistory(path).load()
    assert records == [] and "limit" in notices[0]
    records, notices = RunHistory(path, max_bytes=100).load()
    assert records == [] and "limit" in notices[0]


def test_invalid_entries_are_skipped_one_notice_each(tmp_path):
    path = tmp_path / "runs.json"
    good = _record(1).as_dict()
    entries = [good, "text", {**good, "id": ""}, {**good, "status": "exploded"}, {**good, "time": "yesterday"},
               {**good, "figures": {"auc": "high"}}, {**good, "seen_classes": "a,b"}, {**good, "model": 3},
               {**good, "config": None}, {**good, "id": "run-2"}]
    path.write_text(json.dumps({"version": 1, "runs": entries}))
    records, notices = RunHistory(path).load()
    assert [r.id for r in records] == ["run-2", "run-1"]
    assert len(notices) == 8 and all(n.startswith(f"{path}: run ") for n in notices)
    assert "unknown status" in notices[2] and "figures" in notices[4]


def test_writing_is_atomic_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    from siamese_gui.core.errors import HistoryError

    history = RunHistory(tmp_path / "runs.json")
    history.add(_record(1))
    before = history.path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)  # the temp file's flush to disk fails
    with pytest.raises(HistoryError, match="runs.json: cannot write the run history"):
        history.add(_record(2))
    assert history.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.json", "runs.json.lock"]


def test_concurrent_threads_each_keep_their_runs(tmp_path):
    history = RunHistory(tmp_path / "runs.json")

    def add(start):
        for n in range(start, start + 15):
            RunHistory(history.path).add(_record(n))

    threads = [threading.Thread(target=add, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records, notices = history.load()
    assert notices == [] and len(records) == 60


def _add_in_process(path: str, start: int) -> None:
    for n in range(start, start + 10):
        RunHistory(path).add(_record(n))


def test_concurrent_processes_each_keep_their_runs(tmp_path):
    path = str(tmp_path / "runs.json")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_in_process, args=(path, k * 100)) for k in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert all(w.exitcode == 0 for w in workers)
    records, notices = RunHistory(path).load()
    assert notices == [] and len(records) == 30
