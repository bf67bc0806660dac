"""`siamese-gui train` adds its run to the history the app lists."""

from __future__ import annotations

import json

import pytest

from siamese_gui.cli import commands as cli
from siamese_gui.core.app.run_history import RunHistory


def test_a_cli_run_is_recorded_with_its_model(tmp_path, monkeypatch, image_folder_factory, capsys):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    folder = image_folder_factory(tmp_path / "data", per_class=4, num_classes=3)
    out = tmp_path / "new.keras"
    code = cli.main(["train", "--image-folder", str(folder), "--epochs", "1", "--batch-size", "4",
                     "--embedding-dim", "4", "--validation-fraction", "0.25", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    records, notices = RunHistory().load()
    assert notices == [] and len(records) == 1
    run = records[0]
    assert run.origin == "cli" and run.model == str(out.resolve()) and run.status == summary["status"]
    assert run.config["epochs"] == 1 and run.config["embedding_dim"] == 4
    assert run.data.endswith(str(folder)) and sorted(run.seen_classes) == sorted(p.name for p in folder.iterdir())
    assert run.figures.get("threshold") == (None if summary["threshold"] is None else pytest.approx(
        summary["threshold"]))
