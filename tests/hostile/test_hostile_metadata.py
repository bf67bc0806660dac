"""Hostile metadata: sidecars and embedded metadata that are devices, pipes, huge, deeply
nested, hold unusable thresholds, or belong to another model."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from helpers import assert_user_error
from hostile_helpers import metadata_json, one_error_line, write_zip

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.runtime.archive import model_metadata, open_model_file, sidecar_path


def _metadata_of(path):
    return model_metadata(open_model_file(path))


def _refused(path, *words):
    return assert_user_error(ModelFileError, lambda: _metadata_of(path), path, *words)


def _legacy(members, folder, sidecar_text=None, name="old.keras"):
    """A model saved before the metadata moved inside; its sidecar holds `sidecar_text`
    (a matching one when None)."""
    keras_members = {k: v for k, v in members.items() if k != "siamese_gui.json"}
    path = write_zip(folder / name, keras_members)
    if sidecar_text is None:
        info = json.loads(members["siamese_gui.json"])
        info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        sidecar_text = json.dumps(info)
    if sidecar_text is not False:
        sidecar_path(path).write_text(sidecar_text)
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the sidecar of a legacy model is read with checks --------------------------------


def test_legacy_model_with_a_matching_sidecar_loads(model_members, tmp_path):
    path = _legacy(model_members, tmp_path)
    assert _metadata_of(path)["threshold"] == json.loads(model_members["siamese_gui.json"])["threshold"]


def test_sidecar_symlink_to_dev_zero(model_members, tmp_path):
    path = _legacy(model_members, tmp_path, sidecar_text=False)
    os.symlink("/dev/zero", sidecar_path(path))
    start = time.monotonic()
    message = _refused(path, "not a regular file")
    assert "old.json" in message and time.monotonic() - start < 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_sidecar_fifo_does_not_hang(model_members, tmp_path):
    path = _legacy(model_members, tmp_path, sidecar_text=False)
    os.mkfifo(sidecar_path(path))
    start = time.monotonic()
    _refused(path, "not a regular file")
    assert time.monotonic() - start < 1


def test_sidecar_over_its_cap(model_members, tmp_path):
    path = _legacy(model_members, tmp_path, sidecar_text=" " * (2**20 + 1))
    _refused(path, "limit")


def test_sidecar_nested_100000_deep(model_members, tmp_path):
    path = _legacy(model_members, tmp_path, sidecar_text="[" * 100_000 + "]" * 100_000)
    _refused(path, "nested")


def test_sidecar_of_another_model_is_refused(model_members, tmp_path):
    path = _legacy(model_members, tmp_path)
    info = json.loads(sidecar_path(path).read_text())
    info["sha256"] = hashlib.sha256(b"another model").hexdigest()
    sidecar_path(path).write_text(json.dumps(info))
    _refused(path, "SHA-256", "refused")


# --- unusable thresholds, in either place ------------------------------------------------

BAD_THRESHOLDS = ["NaN", "Infinity", "-Infinity", "-1", "1e308", "true", "\"0.5\"", "1" + "0" * 400, "[]"]


@pytest.mark.parametrize("value", BAD_THRESHOLDS, ids=range(len(BAD_THRESHOLDS)))
def test_embedded_threshold_must_be_usable(model_members, tmp_path, value):
    text = metadata_json(model_members, threshold="@").decode().replace('"@"', value)
    path = write_zip(tmp_path / "t.keras", {**model_members, "siamese_gui.json": text.encode()})
    message = _refused(path)
    assert "threshold" in message or "JSON" in message or "not a valid" in message


@pytest.mark.parametrize("value", BAD_THRESHOLDS, ids=range(len(BAD_THRESHOLDS)))
def test_sidecar_threshold_must_be_usable(model_members, tmp_path, value):
    path = _legacy(model_members, tmp_path, sidecar_text=False)
    text = json.dumps({"sha256": _sha(path), "threshold": "@"}).replace('"@"', value)
    sidecar_path(path).write_text(text)
    _refused(path)


@pytest.mark.parametrize("value", [0, 0.0, 0.25, 2])
def test_usable_thresholds_are_kept(model_members, tmp_path, value):
    text = metadata_json(model_members, threshold=value)
    path = write_zip(tmp_path / "t.keras", {**model_members, "siamese_gui.json": text})
    assert _metadata_of(path)["threshold"] == value


@pytest.mark.parametrize("value", [2.5, 9999])
def test_a_threshold_beyond_any_distance_of_unit_length_embeddings_is_refused(model_members, tmp_path, value):
    text = metadata_json(model_members, threshold=value)
    path = write_zip(tmp_path / "t.keras", {**model_members, "siamese_gui.json": text})
    message = _refused(path, "threshold", "the largest distance")
    assert f"{value:g}" in message


@pytest.mark.parametrize("value", [3, 10_000])
def test_the_tutorials_network_may_keep_a_large_threshold(model_members, tmp_path, value):
    """Its embeddings are not unit-length, so distances have no bound below THRESHOLD_MAX."""
    config = {**json.loads(model_members["siamese_gui.json"])["config"], "preset": "seed"}
    text = metadata_json(model_members, threshold=value, config=config)
    path = write_zip(tmp_path / "t.keras", {**model_members, "siamese_gui.json": text})
    assert _metadata_of(path)["threshold"] == value


# --- embedded metadata must belong to the model --------------------------------------


def test_metadata_nested_100000_deep(model_members, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    text = metadata_json(model_members, x="@").decode().replace('"@"', deep)
    path = write_zip(tmp_path / "deep.keras", {**model_members, "siamese_gui.json": text.encode()})
    _refused(path, "nested")


@pytest.mark.parametrize("member", ["model.weights.h5", "config.json"])
def test_metadata_of_another_model_is_refused(model_members, tmp_path, member):
    changed = dict(model_members)
    flipped = bytearray(changed[member])
    flipped[len(flipped) // 2] ^= 0xFF
    changed[member] = bytes(flipped)
    path = write_zip(tmp_path / "swapped.keras", changed)
    _refused(path, member, "does not match", "refused")


def test_metadata_without_hashes_is_refused(model_members, tmp_path):
    info = json.loads(model_members["siamese_gui.json"])
    del info["weights_sha256"]
    path = write_zip(tmp_path / "nohash.keras", {**model_members, "siamese_gui.json": json.dumps(info).encode()})
    _refused(path, "does not match")


def test_embedded_metadata_wins_over_a_stale_sidecar(model_members, tmp_path):
    path = write_zip(tmp_path / "m.keras", model_members)
    sidecar_path(path).write_text(json.dumps({"threshold": 1.75, "sha256": "0" * 64}))
    assert _metadata_of(path)["threshold"] == json.loads(model_members["siamese_gui.json"])["threshold"]


# --- what the command line prints for them -------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_cli_refuses_a_nan_threshold_in_one_line(model_members, sample_images, tmp_path, as_json, capsys):
    from siamese_gui.cli import commands as cli

    text = metadata_json(model_members, threshold="@").decode().replace('"@"', "NaN")
    path = write_zip(tmp_path / "nan.keras", {**model_members, "siamese_gui.json": text.encode()})
    code = cli.main(["compare", *map(str, sample_images), "--model", str(path), *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert out == ""

    class Done:
        returncode, stderr = code, err

    line = one_error_line(Done, "nan.keras")
    if as_json:
        assert json.loads(line)["kind"] == "ModelFileError"
