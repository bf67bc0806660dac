"""Metadata fields of the wrong type or with impossible values: one line naming the file and
the field, from the reader and from every command, never an internal error."""

from __future__ import annotations

import json

import pytest
from helpers import assert_user_error
from hostile_helpers import metadata_json, one_error_line, write_zip

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.runtime.archive import model_metadata, open_model_file


def _with(members, folder, **fields):
    return write_zip(folder / "m.keras", {**members, "siamese_gui.json": metadata_json(members, **fields)})


def _config(members, **changes):
    return {**json.loads(members["siamese_gui.json"])["config"], **changes}


WRONG = {
    "config-as-text": (lambda m: {"config": "default"}, "config"),
    "config-list": (lambda m: {"config": [1, 2]}, "config"),
    "unknown-polarity": (lambda m: {"config": _config(m, polarity="sideways")}, "config"),
    "epochs-as-text": (lambda m: {"config": _config(m, epochs="ten")}, "config"),
    "split-text": (lambda m: {"split": "70/15/15"}, "split"),
    "training-list": (lambda m: {"training": [1]}, "training"),
    "seconds-text": (lambda m: {"training": {"seconds": "14 s"}}, "training.seconds"),
    "seconds-negative": (lambda m: {"training": {"seconds": -1}}, "training.seconds"),
    "status-number": (lambda m: {"training": {"status": 3}}, "training.status"),
    "history-list": (lambda m: {"training": {"history": [0.1]}}, "training.history"),
    "schedule-object": (lambda m: {"training": {"schedule": {"steps": 3}}}, "training.schedule"),
    "metrics-text": (lambda m: {"metrics": "good"}, "metrics"),
    "at-threshold-list": (lambda m: {"metrics": {"at_threshold": [1]}}, "metrics.at_threshold"),
    "detail-number": (lambda m: {"threshold_detail": 7}, "threshold_detail"),
    "data-source-object": (lambda m: {"data_source": {"a": 1}}, "data_source"),
    "versions-number": (lambda m: {"versions": {"keras": 3}}, "versions.keras"),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_a_wrongly_typed_field_is_refused_naming_it(model_members, tmp_path, case):
    fields, name = WRONG[case]
    path = _with(model_members, tmp_path, **fields(model_members))
    message = assert_user_error(ModelFileError, lambda: model_metadata(open_model_file(path)), path)
    assert f"'{name.split('.')[0] if name == 'config' else name}'" in message


@pytest.mark.parametrize("case", ["config-as-text", "seconds-text", "unknown-polarity"])
def test_commands_refuse_it_in_one_line(model_members, sample_images, tmp_path, case, capsys):
    from siamese_gui.cli import commands as cli

    fields, _ = WRONG[case]
    path = _with(model_members, tmp_path, **fields(model_members))
    code = cli.main(["compare", *map(str, sample_images), "--model", str(path)])
    out, err = capsys.readouterr()
    assert out == ""

    class Done:
        returncode, stderr = code, err

    line = one_error_line(Done, "m.keras", "metadata field")
    assert "internal error" not in line


def test_unknown_fields_are_left_alone(model_members, tmp_path):
    path = _with(model_members, tmp_path, written_by_a_newer_version={"x": [1]})
    assert model_metadata(open_model_file(path))["written_by_a_newer_version"] == {"x": [1]}
