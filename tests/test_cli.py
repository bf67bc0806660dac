"""The command line: bad input is one line on stderr and exit 1, usage errors exit 2,
--json output (and errors) are JSON, and the happy paths print what they promise."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamese_gui.cli import commands as cli
from siamese_gui.core.io.locations import samples_dir


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _sample(index: int) -> Path:
    folders = sorted(p for p in samples_dir().iterdir() if p.is_dir())
    return sorted(folders[index].iterdir())[0]


def _copy_model(src: Path, folder: Path, name="m.keras") -> Path:
    target = folder / name
    shutil.copyfile(src, target)
    return target


def _without_metadata(path: Path) -> Path:
    """Strip the metadata member, as in a model saved before it existed, with no sidecar."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n != "siamese_gui.json"}
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


# --- bad files, each built in a temporary folder --------------------------------------

BAD_IMAGES = {
    "missing": lambda d: d / "missing.png",
    "empty": lambda d: _write(d / "empty.png", b""),
    "text": lambda d: _write(d / "notes.png", b"not an image at all\n" * 10),
    "truncated-jpeg": lambda d: _write(
        d / "cut.jpg",
        cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))[1]
        .tobytes()[:300],
    ),
    "huge-header": lambda d: _write(
        d / "bomb.png",
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)),
    ),
    "folder": lambda d: _mkdir(d / "folder.png"),
    "garbage-pfm": lambda d: _write(d / "bad.pfm", b"Pf\n2 2\n-1.0\nxx"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _lambda(folder: Path) -> Path:
    import keras

    from siamese_gui.core.model.networks import build_pair_model
    from siamese_gui.core.runtime.store import save_model

    target = str(folder / "pwned")
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: (__import__("pathlib").Path(target).touch(), t)[1])(inputs)
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)), name="embedding")
    path = folder / "evil.keras"
    save_model(build_pair_model(embedding), path, {"threshold": 0.5})
    Path(target).unlink()
    return path


BAD_MODELS = {
    "h5": lambda model, d: _write(d / "model.h5", b"\x89HDF\r\n\x1a\n" + bytes(64)),
    "corrupt": lambda model, d: _corrupt(_copy_model(model, d)),
    "truncated": lambda model, d: _truncate(_copy_model(model, d)),
    "no-metadata": lambda model, d: _without_metadata(_copy_model(model, d)),
    "missing": lambda model, d: d / "absent.keras",
    "lambda": lambda model, d: _lambda(d),
}


def _run(capsys, *argv):
    """Run the CLI in this process; return (exit status, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *words):
    assert code == 1
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("siamese-gui: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def _assert_json_error(code, err, *words):
    assert code == 1
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    payload = json.loads(lines[0])
    assert set(payload) == {"error", "kind"} and payload["kind"] != "usage"
    for word in words:
        assert word in payload["error"]
    return payload


# --- compare -----------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_compare_bad_image(case, as_json, saved_model, tmp_path, capsys):
    bad = BAD_IMAGES[case](tmp_path)
    argv = ["compare", str(_sample(0)), str(bad), "--model", str(saved_model)]
    code, out, err = _run(capsys, *argv, *(["--json"] if as_json else []))
    assert out == ""
    if as_json:
        payload = _assert_json_error(code, err, bad.name)
        assert payload["kind"] == "ImageError"
    else:
        _assert_one_line_error(code, err, bad.name)


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_compare_bad_model(case, as_json, saved_model, tmp_path, capsys):
    bad = BAD_MODELS[case](saved_model, tmp_path)
    argv = ["compare", str(_sample(0)), str(_sample(1)), "--model", str(bad)]
    code, out, err = _run(capsys, *argv, *(["--json"] if as_json else []))
    assert out == ""
    if as_json:
        assert _assert_json_error(code, err, bad.name)["kind"] == "ModelFileError"
    else:
        _assert_one_line_error(code, err, bad.name)
    assert not (tmp_path / "pwned").exists()


def test_compare_wrong_shape_model(tmp_path, capsys):
    import keras

    from siamese_gui.core.model.networks import EuclideanDistance
    from siamese_gui.core.runtime.store import save_model

    inputs = keras.Input((32, 32, 2))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    a, b = keras.Input((32, 32, 2)), keras.Input((32, 32, 2))
    path = tmp_path / "big.keras"
    save_model(keras.Model([a, b], EuclideanDistance()([embedding(a), embedding(b)])), path, {})
    code, _, err = _run(capsys, "compare", str(_sample(0)), str(_sample(1)), "--model", str(path))
    _assert_one_line_error(code, err, "big.keras", "grey or colour")


def test_compare_reads_the_images_at_the_models_size(tmp_path, capsys):
    """A 32 x 32 grey model (not the shipped 28 x 28) is given its own size."""
    import keras

    from siamese_gui.core.model.networks import EuclideanDistance
    from siamese_gui.core.runtime.store import save_model

    inputs = keras.Input((32, 32, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    a, b = keras.Input((32, 32, 1)), keras.Input((32, 32, 1))
    path = tmp_path / "big.keras"
    save_model(keras.Model([a, b], EuclideanDistance()([embedding(a), embedding(b)])), path, {"threshold": 0.5})
    code, out, err = _run(capsys, "compare", str(_sample(0)), str(_sample(1)), "--model", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["distance"] >= 0


def test_compare_in_process(saved_model, capsys):
    code, out, err = _run(
        capsys, "compare", str(_sample(0)), str(_sample(0)), "--model", str(saved_model), "--json"
    )
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["distance"] == pytest.approx(0.0, abs=1e-3)
    assert result["same"] is (result["distance"] < result["threshold"])
    code, out, _ = _run(
        capsys, "compare", str(_sample(0)), str(_sample(1)), "--model", str(saved_model), "--threshold", "0"
    )
    assert code == 0 and out.split()[4] == "different" and out.startswith("distance ")


# --- evaluate and train ------------------------------------------------------------


@pytest.mark.parametrize(
    "make_folder, words",
    [
        (lambda d: _mkdir(d / "empty"), ["empty", "2 class"]),
        (lambda d: d / "missing", ["missing", "not a folder"]),
    ],
)
def test_evaluate_bad_image_folder(make_folder, words, saved_model, tmp_path, capsys):
    folder = make_folder(tmp_path)
    code, out, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder))
    _assert_one_line_error(code, err, *words)


def test_evaluate_one_class_folder(saved_model, tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "one", per_class=3, num_classes=1)
    code, _, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder), "--json")
    assert "found 1" in _assert_json_error(code, err)["error"]


def test_evaluate_bad_idx_folder(saved_model, tmp_path, capsys):
    from siamese_gui.core.data.datasets import FASHION_MNIST_FILES

    for names in FASHION_MNIST_FILES.values():
        for name in names:
            (tmp_path / name).write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(12)))
    code, _, err = _run(capsys, "evaluate", str(saved_model), "--data", str(tmp_path))
    _assert_one_line_error(code, err, "train-images-idx3-ubyte.gz", "expected 28x28")


def test_evaluate_in_process(saved_model, tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "data", per_class=3, num_classes=3)
    code, out, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder), "--json")
    assert code == 0, err
    result = json.loads(out)
    test = result["test"]
    assert test["pairs"] == 18 and (test["same_pairs"], test["different_pairs"]) == (9, 9)
    assert 0 <= test["accuracy"] <= 1 and 0 <= test["auc"] <= 1 and 0 <= test["eer"] <= 1
    # 9 pairs of a kind are too few for an interval: said, not invented.
    assert test["far_ci95"] is None and test["frr_ci95"] is None
    from siamese_gui.core.runtime.store import read_metadata

    stored = read_metadata(saved_model)["threshold"]
    assert result["threshold"]["value"] == pytest.approx(stored)
    assert result["threshold"]["origin"] == "model"
    assert set(test["breakdown"]["frr_per_class"]) == {"bar", "column", "ring"}


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--out", "model.h5"], ["model.h5", ".keras"]),
        (["--out", "nowhere/model.keras"], ["nowhere", "does not exist"]),
    ],
)
def test_train_bad_settings(extra, words, tmp_path, image_folder_factory, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = image_folder_factory(tmp_path / "data", per_class=3, num_classes=2)
    argv = ["train", "--image-folder", str(folder), "--out", "model.keras", *extra]
    code, _, err = _run(capsys, *argv)
    _assert_one_line_error(code, err, *words)
    assert not list(tmp_path.glob("*.keras")) and not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--epochs", "-1"], ["--epochs", "between 0 and 10,000"]),
        (["--histogram-share", "1"], ["--histogram-share", "between 0 and 0.95"]),
        (["--epochs", str(10**12)], ["--epochs", "between"]),
        (["--lr", "inf"], ["--lr", "between"]),
        (["--batch-size", "2"], ["--batch-size", "between 4"]),
        (["--embedding-dim", "1e9"], ["--embedding-dim", "whole number"]),
        (["--embedding-dim", "100000"], ["--embedding-dim", "between 1 and 1,024"]),
    ],
)
def test_train_out_of_range_settings_are_usage_errors(extra, words, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--out", str(tmp_path / "m.keras"), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and all(w in err for w in words), err
    assert not list(tmp_path.iterdir())


def test_train_with_bad_data(tmp_path, capsys):
    code, _, err = _run(capsys, "train", "--data", str(tmp_path), "--out", str(tmp_path / "m.keras"))
    _assert_one_line_error(code, err, "not a Fashion-MNIST folder")


def test_train_failure_saves_nothing_and_keeps_the_old_model(
    saved_model, tmp_path, dataset_factory, capsys, monkeypatch
):
    from siamese_gui.core.data import datasets
    from siamese_gui.core.data.datasets import Dataset

    data = dataset_factory()
    images = data.images.astype(np.float32)
    images[:, 5, 5] = np.nan  # forces a non-finite loss
    monkeypatch.setattr(
        datasets, "load_image_folder", lambda *a, **k: Dataset(images, data.labels, data.class_names, "bad")
    )
    out_path = _copy_model(saved_model, tmp_path, "keep.keras")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = ["train", "--image-folder", str(tmp_path), "--out", str(out_path), "--epochs", "1",
            "--batch-size", "8", "--embedding-dim", "4"]
    code, _, err = _run(capsys, *argv)
    _assert_one_line_error(code, err, "nothing was saved", "loss")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --- usage errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "only_one.png"],
        ["frobnicate"],
        ["train", "--epochs", "many", "--out", "m.keras"],
        ["train"],
        ["evaluate", "--data", "a", "--image-folder", "b"],
        ["compare", "a.png", "b.png", "--invert", "--no-invert"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "error:" in err and "--help" in err
    assert "Traceback" not in err

    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--json"])
    assert info.value.code == 2
    _, err = capsys.readouterr()
    payload = json.loads(err.strip())
    assert payload["kind"] == "usage" and payload["error"]


# --- real processes: what a user's terminal sees ------------------------------------------


def _one_line(done):
    lines = done.stderr.strip("\n").splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_process_bad_image_and_bad_model(cli, saved_model, tmp_path):
    done = cli("compare", str(tmp_path / "nope.png"), str(_sample(0)), "--model", str(saved_model))
    assert done.returncode == 1 and done.stdout == ""
    assert "nope.png" in _one_line(done)

    broken = _corrupt(_copy_model(saved_model, tmp_path))
    done = cli("compare", str(_sample(0)), str(_sample(1)), "--model", str(broken), "--json")
    assert done.returncode == 1 and done.stdout == ""
    assert json.loads(_one_line(done))["kind"] == "ModelFileError"


def test_process_corrupt_png_prints_no_library_noise(cli, tmp_path):
    data = bytearray(cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))[1])
    data[60] ^= 0xFF  # inside the compressed pixels: libpng complains on its own
    bad = _write(tmp_path / "badcrc.png", bytes(data))
    done = cli("compare", str(bad), str(_sample(0)), "--model", str(tmp_path / "unused.keras"))
    assert done.returncode == 1
    assert "badcrc.png" in _one_line(done)


def test_process_usage_error(cli):
    done = cli("compare", "--json")
    assert done.returncode == 2
    assert json.loads(_one_line(done))["kind"] == "usage"


def test_process_compare_json_prints_a_distance(cli, saved_model):
    done = cli("compare", str(_sample(0)), str(_sample(7)), "--model", str(saved_model), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)
    assert isinstance(result["distance"], float) and result["distance"] >= 0
    assert isinstance(result["same"], bool) and "threshold" in result


def test_process_train_then_evaluate(cli, tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "data", per_class=4, num_classes=3)
    out = tmp_path / "new.keras"
    done = cli(
        "train", "--image-folder", str(folder), "--epochs", "1", "--batch-size", "4",
        "--embedding-dim", "4", "--validation-fraction", "0.25", "--out", str(out), "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "completed" and summary["model"] == str(out)
    # One model file (metadata inside) and its LiteRT copy with its card.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "new.keras", "new.tflite", "new.tflite.json"]

    done = cli("evaluate", str(out), "--image-folder", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # Its own folder is split as when it trained: only the test images are scored.
    from siamese_gui.core.runtime.store import read_metadata

    recorded = read_metadata(out)["split"]
    assert 0 < result["test"]["pairs"] <= 2 * recorded["counts"]["test"]
    assert any("the folder this model trained on" in note for note in result["notes"])
    # A copy of the folder without one image is still its own folder, found by content:
    # scored on the images its record leaves out of training and validation.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    next(copy.rglob("*.png")).unlink()
    done = cli("evaluate", str(out), "--image-folder", str(copy), "--json")
    assert done.returncode == 0, done.stderr
    copied = json.loads(done.stdout)
    assert any(f"{copy} is the folder this model trained on" in note for note in copied["notes"])
    assert 0 < copied["test"]["pairs"] <= 2 * recorded["counts"]["test"]
    if summary["threshold"] is None:  # too few validation pairs to choose one: said, not invented
        assert result["threshold"]["origin"] == "fallback"
    else:
        assert result["threshold"]["value"] == pytest.approx(summary["threshold"])


def test_a_model_with_the_record_of_100k_images_opens_in_the_cli(big_record_model, cli, capsys, tmp_path):
    path, folder, trained_on, _ = big_record_model
    # A fresh `siamese-gui`, as a user runs it.
    done = cli("compare", str(_sample(0)), str(_sample(1)), "--model", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["threshold"] == 0.5
    # evaluate reads the record: the folder's images the record counts among its training
    # images (found by SHA-256 among 100,000) are left out, the others scored.
    code, out, err = _run(capsys, "evaluate", str(path), "--image-folder", str(folder), "--json")
    assert code == 0, err
    result = json.loads(out)
    left_out = f"the {len(trained_on)} images its record puts in training or validation are left out"
    assert any(left_out in note for note in result["notes"]), result["notes"]
    assert result["test"]["pairs"] > 0 and result["threshold"]["value"] == 0.5
    report = tmp_path / "report.html"
    code, out, err = _run(capsys, "report", str(path), "--image-folder", str(folder), "--out", str(report),
                          "--json")
    assert code == 0, err
    assert "70,000" in report.read_text(encoding="utf-8")  # the split's counts, from its record


def test_evaluate_scores_an_open_set_folder_like_train_did(tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "data", per_class=12, num_classes=4)
    out = tmp_path / "open.keras"
    code, trained, err = _run(capsys, "train", "--image-folder", str(folder), "--split", "classes",
                              "--held-out", "0,3", "--steps", "5", "--batch-size", "8",
                              "--embedding-dim", "4", "--out", str(out), "--json")
    assert code == 0, err
    trained = json.loads(trained)
    code, out_text, err = _run(capsys, "evaluate", str(out), "--image-folder", str(folder),
                               "--baselines", "--json")
    assert code == 0, err
    result = json.loads(out_text)
    # Held-out classes and seen classes side by side, on the very pairs train scored.
    for key in ("test_unseen_classes", "test_seen_classes"):
        assert result[key]["pairs"] == trained[key]["pairs"]
        assert result[key]["auc"] == pytest.approx(trained[key]["auc"])
    # Baselines on the same pairs, thresholds from the model's validation images.
    assert set(result["baselines"]) == {"pixels", "pca", "hog"}
    assert all(0.0 <= row["auc"] <= 1.0 for row in result["baselines"].values())
    # Another folder holds none of the model's validation images: the baselines that need
    # no fitting are ranked on the same pairs (AUC, EER), without thresholds, and it says so.
    other = image_folder_factory(tmp_path / "other", per_class=6, num_classes=3, seed=5)
    code, out_text, err = _run(capsys, "evaluate", str(out), "--image-folder", str(other),
                               "--baselines", "--json")
    assert code == 0, err
    result = json.loads(out_text)
    assert set(result["baselines"]) == {"pixels", "hog"}
    assert all(set(row) == {"auc", "eer"} for row in result["baselines"].values())
    assert any("not the folder the model trained on" in note for note in result["notes"])
    code, out_text, err = _run(capsys, "evaluate", str(out), "--image-folder", str(other), "--baselines")
    assert code == 0, err
    assert "AUC and EER only" in err
    rows = out_text.split("training-free baselines", 1)[1].splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["pixels", "hog"]
    assert all(" AUC " in row and " EER " in row and "accuracy" not in row for row in rows)
    # A folder of only the classes it never saw (copied out of its own folder) is new data.
    import shutil

    unseen = tmp_path / "unseen"
    for name in trained_classes_held_out(out):
        shutil.copytree(folder / name, unseen / name)
    code, out_text, err = _run(capsys, "evaluate", str(out), "--image-folder", str(unseen),
                               "--baselines", "--json")
    assert code == 0, err
    result = json.loads(out_text)
    assert result["test"]["pairs"] == trained["test_unseen_classes"]["pairs"]
    assert result["test"]["auc"] == pytest.approx(trained["test_unseen_classes"]["auc"])
    assert set(result["baselines"]) == {"pixels", "hog"}


def trained_classes_held_out(model_path) -> list[str]:
    from siamese_gui.core.runtime.store import read_metadata

    return read_metadata(model_path)["split"]["unseen_classes"]
