"""Exports and the TensorFlow-free path: parity with Keras, fallback, and `compare` without TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO_ROOT, cli_env

from siamese_gui.core.data.datasets import find_fashion_mnist, load_fashion_mnist, load_samples
from siamese_gui.core.data.pairs import standard_pairs
from siamese_gui.core.evaluation.metrics import pair_distances
from siamese_gui.core.io.locations import default_model_path
from siamese_gui.core.runtime import copies as runtimes
from siamese_gui.core.runtime.copies import card_path, file_sha256, read_card, runtime_copy_path

needs_litert = pytest.mark.skipif(
    importlib.util.find_spec("ai_edge_litert") is None, reason="LiteRT (ai-edge-litert) is not installed"
)
needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnxruntime", "tf2onnx")),
    reason="ONNX export needs tf2onnx and onnxruntime (pip install 'siamese-gui[onnx]')",
)
FASHION_MNIST = find_fashion_mnist()
PARITY_IMAGES = 1000
SAMPLE = REPO_ROOT / "resources" / "samples"


def _sample(index: int):
    return sorted(SAMPLE.glob("*/*.png"))[index]


def _copy_model(src, folder, runtime_copy=False):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / src.name
    for path in (src, src.with_suffix(".json")) + ((runtime_copy_path(src), card_path(runtime_copy_path(src)))
                                                   if runtime_copy else ()):
        if path.exists():  # models keep their metadata inside; older ones had a .json beside
            shutil.copyfile(path, folder / path.name)
    return target


@pytest.fixture(scope="module")
def parity_images():
    """1,000 Fashion-MNIST test images (the bundled samples, repeated, where it is not installed)."""
    if FASHION_MNIST is not None:
        return load_fashion_mnist(FASHION_MNIST).test.subset(np.arange(PARITY_IMAGES))
    samples = load_samples()
    return samples.subset(np.resize(np.arange(len(samples)), PARITY_IMAGES))


@pytest.fixture(scope="module")
def shipped_keras():
    from siamese_gui.core.runtime.loading import load_model_handle

    return load_model_handle(default_model_path(), runtime="tensorflow", cache=False)


def _assert_parity(reference, embedder, images, threshold):
    from siamese_gui.core.model.embedding import embed_in_batches

    expected = reference.embed(images.images)
    actual = embed_in_batches(embedder, images.images)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= 1e-4
    pairs = standard_pairs(images.labels)
    d_expected, d_actual = pair_distances(expected, pairs), pair_distances(actual, pairs)
    assert np.max(np.abs(d_actual - d_expected)) <= 1e-5
    np.testing.assert_array_equal(d_actual < threshold, d_expected < threshold)


# --- the shipped model's exports -----------------------------------------------------


@needs_litert
def test_shipped_runtime_copy_belongs_to_the_shipped_model_and_matches_keras(shipped_keras, parity_images):
    model = default_model_path()
    card = read_card(runtime_copy_path(model))
    assert card["model_sha256"] == runtimes.model_key(model)
    assert card["threshold"] == pytest.approx(shipped_keras.threshold.value)
    assert (card["threshold_origin"], card["threshold_detail"]) == ("model", shipped_keras.threshold.detail)
    assert card["output"]["shape"] == [None, 64]
    embedder = runtimes.runtime_embedder(runtime_copy_path(model))
    _assert_parity(shipped_keras, embedder, parity_images, shipped_keras.threshold.value)


@needs_onnx
def test_onnx_export_of_the_shipped_model_matches_keras(shipped_keras, parity_images, tmp_path, cli):
    out = tmp_path / "shipped.onnx"
    done = cli("export", str(default_model_path()), "--format", "onnx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    card = json.loads(card_path(out).read_text())
    assert card["format"] == "onnx" and card["model_sha256"] == runtimes.model_key(default_model_path())
    assert card["file_sha256"] == file_sha256(out)
    _assert_parity(shipped_keras, runtimes.runtime_embedder(out), parity_images, card["threshold"])


# --- saving writes a runtime copy; loading prefers it, and falls back -------------------


@needs_litert
def test_save_writes_a_runtime_copy_that_loading_uses(saved_model, trained):
    from siamese_gui.core.runtime.loading import load_model_handle

    copy = runtime_copy_path(saved_model)
    assert read_card(copy)["model_sha256"] == runtimes.model_key(saved_model)
    fast = load_model_handle(saved_model)
    slow = load_model_handle(saved_model, runtime="tensorflow", cache=False)
    assert fast.engine.startswith("LiteRT") and slow.engine == "TensorFlow"
    assert not fast.keras_loaded
    images = trained[1].images
    assert np.max(np.abs(fast.embed(images) - slow.embed(images))) <= 1e-5
    a, b = images[0], images[-1]
    assert fast.distance(a, b) == pytest.approx(slow.distance(a, b), abs=1e-5)
    assert fast.threshold == slow.threshold and fast.class_names == slow.class_names
    # Saving needs Keras: the fast handle loads it on first access.
    assert fast.keras_model is not None and fast.keras_embedding.name == "embedding"


@needs_litert
def test_every_card_carries_a_threshold_number_and_its_origin(saved_model, tmp_path):
    """A model without a threshold exports the fallback, saying so (a card holding
    `"threshold": null` broke the README's `d < card["threshold"]`); a new threshold
    saved into a model reaches the card of its runtime copy."""
    from siamese_gui.core.evaluation.threshold import FALLBACK_THRESHOLD, Threshold, ThresholdOrigin
    from siamese_gui.core.runtime.export import export_embedding
    from siamese_gui.core.runtime.store import load_model, read_metadata, store_threshold, update_sidecar

    model = _copy_model(saved_model, tmp_path / "model", runtime_copy=True)
    update_sidecar(model, threshold=None)
    out = export_embedding(load_model(model).embedding, tmp_path / "none.tflite", "tflite",
                           read_metadata(model), model)
    card = read_card(out)
    assert card["threshold"] == FALLBACK_THRESHOLD and card["threshold_origin"] == "fallback"
    assert card["threshold_detail"] == "the model file records no threshold"
    assert read_card(runtime_copy_path(model))["threshold_origin"] == "fallback"

    store_threshold(model, Threshold(0.7, ThresholdOrigin.USER, "typed in"))
    beside = read_card(runtime_copy_path(model))
    assert (beside["threshold"], beside["threshold_origin"], beside["threshold_detail"]) == (0.7, "user", "typed in")
    assert beside["model_sha256"] == runtimes.model_key(model)


def _break_file(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _mismatch_card(path):
    card_file = card_path(path)
    card = json.loads(card_file.read_text())
    card["model_sha256"] = "0" * 64
    card_file.write_text(json.dumps(card))


@needs_litert
@pytest.mark.parametrize(
    "damage",
    [
        lambda copy: copy.unlink(),
        _break_file,
        _mismatch_card,
        lambda copy: card_path(copy).write_text("{not json"),
    ],
    ids=["missing", "corrupt", "other-model", "bad-card"],
)
def test_a_missing_or_foreign_runtime_copy_falls_back_to_tensorflow(
    damage, saved_model, trained, tmp_path, monkeypatch
):
    from siamese_gui.core.runtime.loading import load_model_handle

    monkeypatch.setenv(runtimes.CACHE_ENV, str(tmp_path / "empty-cache"))
    model = _copy_model(saved_model, tmp_path / "m", runtime_copy=True)
    damage(runtime_copy_path(model))
    handle = load_model_handle(model, cache=False)
    assert handle.engine == "TensorFlow"
    reference = load_model_handle(saved_model, cache=False)
    assert reference.engine.startswith("LiteRT")
    a, b = trained[1].images[0], trained[1].images[-1]
    assert handle.distance(a, b) == pytest.approx(reference.distance(a, b), abs=1e-5)


def test_without_litert_the_tensorflow_path_is_used(saved_model, monkeypatch):
    from siamese_gui.core.runtime import loading
    from siamese_gui.core.runtime.loading import load_model_handle

    monkeypatch.setattr(loading, "runtime_installed", lambda fmt="tflite": False)
    assert load_model_handle(saved_model).engine == "TensorFlow"


@needs_litert
def test_a_model_without_a_copy_is_cached_by_its_hash(saved_model, tmp_path, monkeypatch):
    from siamese_gui.core.runtime.loading import load_model_handle

    monkeypatch.setenv(runtimes.CACHE_ENV, str(tmp_path / "cache"))
    model = _copy_model(saved_model, tmp_path / "m")
    assert load_model_handle(model).engine == "TensorFlow"
    cached = runtimes.cached_copy_path(runtimes.model_key(model))
    assert cached.is_file() and read_card(cached)["model_sha256"] == runtimes.model_key(model)
    assert load_model_handle(model).engine == f"LiteRT ({cached.name})"


# --- the command line ------------------------------------------------------------------


@needs_litert
def test_compare_answers_without_tensorflow_and_like_tensorflow(shipped_keras):
    a, b = str(_sample(0)), str(_sample(120))
    code = (
        "import json, sys\n"
        "from siamese_gui.cli.commands import main\n"
        f"status = main(['compare', {a!r}, {b!r}, '--json'])\n"
        "print(json.dumps({'status': status, 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    result_text, status_text = done.stdout.strip().rsplit("\n", 1)
    assert json.loads(status_text) == {"status": 0, "tensorflow": False}
    result = json.loads(result_text)
    assert result["engine"].startswith("LiteRT")
    from siamese_gui.core.io.images import load_image

    expected = shipped_keras.distance(load_image(a), load_image(b))
    assert result["distance"] == pytest.approx(expected, abs=1e-5)
    assert result["same"] == (expected < shipped_keras.threshold.value)


@pytest.mark.parametrize(
    "argv, words",
    [
        (lambda d, m: [str(d / "absent.keras"), "--format", "tflite", "--out", str(d / "x.tflite")],
         ["absent.keras", "not found"]),
        (lambda d, m: [str(m), "--format", "tflite", "--out", str(d / "x.onnx")], ["x.onnx", ".tflite"]),
        (lambda d, m: [str(m), "--format", "tflite", "--out", str(d / "no" / "x.tflite")], ["does not exist"]),
    ],
    ids=["missing-model", "wrong-suffix", "missing-folder"],
)
def test_export_bad_input_is_one_line(argv, words, saved_model, tmp_path, capsys):
    from siamese_gui.cli import commands as cli

    code = cli.main(["export", *argv(tmp_path, saved_model)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("siamese-gui: error: "), err
    for word in words:
        assert word in lines[0]
    assert not list(tmp_path.glob("*.tflite*")) and not list(tmp_path.glob(".*tmp*"))


APP_CHILD = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import siamese_gui.gui.app as app_module
from siamese_gui.gui.main_window import MainWindow

def watch():
    for window in QApplication.topLevelWidgets():
        if isinstance(window, MainWindow) and window.state.test_data is not None:
            if window.compare_panel.pane_a.image is None:
                window.compare_panel.random_pair(False)
            elif window.compare_panel.distance is not None and window.state.evaluation is not None:
                timer.stop()
                print(window.state.model.engine, window.compare_panel.verdict, "tensorflow" in sys.modules)
                window.close()

app_module.create_application()
timer = QTimer(); timer.timeout.connect(watch); timer.start(20)
sys.exit(app_module.run(None))
"""


@pytest.mark.gui
@needs_litert
def test_the_app_gives_verdicts_and_evaluates_without_tensorflow(tmp_path):
    pytest.importorskip("PySide6")
    env = {**cli_env(), "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", APP_CHILD], env=env, capture_output=True, text=True,
                          timeout=180, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    engine, copy, verdict, tensorflow_loaded = done.stdout.split()
    assert (engine, copy) == ("LiteRT", "(fashion_mnist.tflite)")
    assert verdict in ("Verdict.SAME", "Verdict.DIFFERENT") and tensorflow_loaded == "False"
