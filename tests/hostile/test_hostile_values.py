"""Hostile values: NaN and infinite distances, unbounded options, odd networks, control
characters in names, and errors nobody foresaw: each is one line, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hostile_helpers import one_error_line  # noqa: E402

from siamese_gui.cli import commands as cli  # noqa: E402
from siamese_gui.core.errors import ModelFileError  # noqa: E402
from siamese_gui.core.model.networks import EuclideanDistance, build_pair_model  # noqa: E402
from siamese_gui.core.runtime.store import load_model, save_model  # noqa: E402


class _Done:
    def __init__(self, code, err):
        self.returncode, self.stderr = code, err


def _run(capsys, *argv):
    """Run the CLI in this process; return (status, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _tiny(scale=None, nan=False):
    inputs = keras.Input((28, 28, 1))
    dense = keras.layers.Dense(3)
    embedding = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)), name="embedding")
    model = build_pair_model(embedding)
    kernel, bias = dense.get_weights()
    if nan:
        kernel[0, 0] = np.nan
    if scale is not None:
        kernel[:] = scale
    dense.set_weights([kernel, bias])
    return model


# --- NaN and infinity are never a verdict ---------------------------------------------


def test_nan_weights_are_refused_at_load(tmp_path):
    path = save_model(_tiny(nan=True), tmp_path / "nan.keras", {"threshold": 0.5})
    with pytest.raises(ModelFileError, match="NaN") as info:
        load_model(path)
    assert "nan.keras" in str(info.value)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_nan_weights_in_compare(tmp_path, sample_images, capsys, as_json):
    path = save_model(_tiny(nan=True), tmp_path / "nan.keras", {"threshold": 0.5})
    code, out, err = _run(capsys, "compare", *map(str, sample_images), "--model", str(path),
                          *(["--json"] if as_json else []))
    assert out == ""
    line = one_error_line(_Done(code, err), "nan.keras")
    if as_json:
        assert json.loads(line)["kind"] == "ModelFileError"


def test_distance_that_overflows_is_an_error_naming_the_model(tmp_path, sample_images, capsys):
    # Finite weights whose distances overflow float32 to infinity.
    path = save_model(_tiny(scale=3e38), tmp_path / "huge.keras", {"threshold": 0.5})
    code, out, err = _run(capsys, "compare", *map(str, sample_images), "--model", str(path), "--json")
    assert out == ""
    payload = json.loads(one_error_line(_Done(code, err), "huge.keras"))
    assert "non-finite" in payload["error"]


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "-inf", "1e400", "1e308", "1" + "0" * 400, "abc"])
@pytest.mark.parametrize("command", ["compare", "evaluate"])
def test_threshold_option_must_be_usable(value, command, capsys):
    argv = ["compare", "a.png", "b.png"] if command == "compare" else ["evaluate"]
    code, out, err = _run(capsys, *argv, f"--threshold={value}")
    assert code == 2 and out == ""
    assert "--threshold" in err and "Traceback" not in err


def test_compare_json_is_strict_json(saved_model, sample_images, capsys):
    code, out, err = _run(capsys, "compare", *map(str, sample_images), "--model", str(saved_model), "--json")
    assert code == 0, err
    result = json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in JSON output"))
    assert np.isfinite(result["distance"])


# --- every numeric option has a range, checked before TensorFlow starts -----------------

OUT_OF_RANGE = [
    (["--embedding-dim", "100000"], "--embedding-dim"),
    (["--embedding-dim", "0"], "--embedding-dim"),
    (["--epochs", str(10**12)], "--epochs"),
    (["--epochs", "10001"], "--epochs"),
    (["--batch-size", "100000"], "--batch-size"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--seed", str(10**400)], "--seed"),
    (["--lr", "1e400"], "--lr"),
    (["--lr", "11"], "--lr"),
    (["--margin", "nan"], "--margin"),
    (["--margin", "1000"], "--margin"),
    (["--validation-fraction", "0.95"], "--validation-fraction"),
]


@pytest.mark.parametrize("extra, words", OUT_OF_RANGE, ids=[" ".join(e)[:40] for e, _ in OUT_OF_RANGE])
def test_train_option_out_of_range_is_refused_before_tensorflow(extra, words, tmp_path, capsys, monkeypatch):
    def no_tensorflow():
        raise AssertionError("TensorFlow was started")

    monkeypatch.setattr(cli, "start_tensorflow", no_tensorflow)
    code, out, err = _run(capsys, "train", "--image-folder", str(tmp_path), "--out", str(tmp_path / "m.keras"), *extra)
    line = one_error_line(_Done(code, err), words, "between", code=2)
    assert "internal error" not in line and len(line) < 300
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["--embedding-dim", "1e9"], ["--epochs", "1.5"], ["--seed", "0x10"]])
def test_train_option_that_is_not_a_whole_number_is_a_usage_error(extra, tmp_path, capsys):
    code, out, err = _run(capsys, "train", "--out", str(tmp_path / "m.keras"), *extra)
    one_error_line(_Done(code, err), extra[0], "whole number", code=2)


def test_every_numeric_option_documents_its_range(capsys):
    from siamese_gui.core.model.config import LIMITS

    code, out, _ = _run(capsys, "train", "--help")
    text = " ".join(out.split())
    for low, high in LIMITS.values():
        for bound in (low, high):
            assert (f"{bound:,}" if isinstance(bound, int) else f"{bound:g}") in text


# --- networks that are not ours fail with a message, not a traceback ----------------------


def _flexible_branch():
    # The pair model takes 28x28 images; its embedding branch takes any size.
    inputs = keras.Input((None, None, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    embedding = keras.Model(inputs, keras.layers.Dense(3)(x), name="embedding")
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    return keras.Model([a, b], EuclideanDistance()([embedding(a), embedding(b)]))


def _two_output_branch():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    embedding = keras.Model(inputs, [keras.layers.Dense(3)(x), keras.layers.Dense(2)(x)], name="embedding")
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    return keras.Model([a, b], EuclideanDistance()([embedding(a)[0], embedding(b)[0]]))


def _huge_network():
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(7700)(keras.layers.Flatten()(inputs)), name="embedding")
    return build_pair_model(embedding)


@pytest.mark.parametrize(
    "factory, words",
    [(_flexible_branch, "embedding network expects"), (_two_output_branch, "outputs"),
     (_huge_network, "parameters")],
    ids=["branch-shape", "two-outputs", "too-many-parameters"],
)
def test_networks_that_are_not_ours(factory, words, tmp_path, sample_images, capsys):
    path = save_model(factory(), tmp_path / "odd.keras", {"threshold": 0.5})
    code, out, err = _run(capsys, "compare", *map(str, sample_images), "--model", str(path))
    assert out == ""
    one_error_line(_Done(code, err), "odd.keras", words)


def test_parameter_count_is_checked_before_any_weight_is_allocated(model_members, tmp_path):
    # A config asking for 3136 x 200,000,000 weights (2.5 TB): refused, nothing allocated.
    from hostile_helpers import metadata_json, write_zip

    config = json.loads(model_members["config.json"])

    def grow(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Dense":
                node["config"]["units"] = 200_000_000
            for value in node.values():
                grow(value)
        elif isinstance(node, list):
            for value in node:
                grow(value)

    grow(config)
    members = {**model_members, "config.json": json.dumps(config).encode()}
    members["siamese_gui.json"] = metadata_json(members)
    path = write_zip(tmp_path / "giant.keras", members)
    with pytest.raises(ModelFileError, match="parameters"):
        load_model(path)


# --- control characters in names never reach the terminal raw -------------------------


def test_control_characters_in_a_file_name_are_escaped(tmp_path, saved_model, capsys):
    name = "x\x1b[31mred\nsiamese-gui: fake line\x07.png"
    bad = tmp_path / name
    bad.write_bytes(b"not an image")
    code, out, err = _run(capsys, "compare", str(bad), str(bad), "--model", str(saved_model))
    line = one_error_line(_Done(code, err))
    assert "\x1b" not in err and "\x07" not in err
    assert "x\\x1b[31mred\\nsiamese-gui: fake line\\x07.png" in line


def test_undecodable_bytes_in_a_file_name_are_escaped(tmp_path, saved_model, capsys):
    import os

    bad = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(bad, "wb") as handle:
        handle.write(b"not an image")
    code, out, err = _run(capsys, "compare", os.fsdecode(bad), os.fsdecode(bad), "--model", str(saved_model))
    line = one_error_line(_Done(code, err))
    assert "caf\\udce9.png" in line
    err.encode("utf-8")  # printable on any UTF-8 terminal


def test_printable_escapes_only_what_is_not_printable():
    from siamese_gui.core.errors import printable

    assert printable("plain ünïcode / path") == "plain ünïcode / path"
    assert printable("a\nb\tc\x1b[0m\x7f\u202e") == "a\\nb\\tc\\x1b[0m\\x7f\\u202e"


def test_usage_errors_are_escaped(capsys):
    code, out, err = _run(capsys, "compare", "a.png", "b.png", "\x1b[31mextra\nsiamese-gui: fake")
    assert code == 2 and "\x1b" not in err and "\\x1b[31mextra\\nsiamese-gui: fake" in err
    assert "\nsiamese-gui: fake" not in err


# --- the last resort: an error nobody foresaw --------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_unexpected_exception_is_one_line(monkeypatch, capsys, as_json):
    def broken(args):
        raise RuntimeError("something\nunforeseen \x1b[2J")

    monkeypatch.setitem(cli.COMMANDS, "compare", broken)
    code, out, err = _run(capsys, "compare", "a.png", "b.png", *(["--json"] if as_json else []))
    line = one_error_line(_Done(code, err))
    if as_json:
        payload = json.loads(line)
        assert payload["kind"] == "InternalError"
        assert payload["error"].startswith("internal error: RuntimeError: something")
    else:
        assert line == "siamese-gui: error: internal error: RuntimeError: something"


def test_recursion_error_is_one_line(monkeypatch, capsys):
    def deep(args):
        return deep(args)

    monkeypatch.setitem(cli.COMMANDS, "compare", deep)
    code, out, err = _run(capsys, "compare", "a.png", "b.png")
    one_error_line(_Done(code, err), "internal error")


def test_an_error_while_building_the_parser_is_one_line(monkeypatch, capsys):
    def missing_models_folder():
        raise FileNotFoundError(2, "No such file or directory", "/nowhere/models")

    monkeypatch.setattr("siamese_gui.core.io.locations.default_model_path", missing_models_folder)
    code, out, err = _run(capsys, "compare", "a.png", "b.png")
    one_error_line(_Done(code, err), "/nowhere/models")
