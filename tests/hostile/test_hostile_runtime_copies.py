"""Runtime copies are used only when they provably come from the vetted model.

A planted or fuzzed `.tflite` with a card recomputed from the public `.keras`, an unsealed
or foreign cache entry, an oversized copy and racing saves: each falls back to TensorFlow
with Keras' own distances, and says so once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from siamese_gui.core.runtime import copies
from siamese_gui.core.runtime.copies import card_path, file_sha256, runtime_copy_path

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ai_edge_litert") is None, reason="LiteRT (ai-edge-litert) is not installed"
)


def _embedding(seed: int, width: int = 8):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(width)(x), name="embedding")


def _save(path, seed: int):
    from siamese_gui.core.model.networks import build_pair_model
    from siamese_gui.core.runtime.store import save_model

    save_model(build_pair_model(_embedding(seed)), path, {"threshold": 0.5})
    return path


def _images(count: int = 64) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.random((count, 28, 28)) * 255).astype(np.uint8)


def _load(path, **kwargs):
    from siamese_gui.core.runtime.loading import load_model_handle

    return load_model_handle(path, **kwargs)


def _assert_keras_results(handle, path):
    reference = _load(path, runtime="tensorflow", cache=False)
    images = _images()
    np.testing.assert_allclose(handle.embed(images), reference.embed(images), atol=1e-4)


def _forge_card(copy_path, model_path):
    """What an attacker can write: every card field recomputed from the public files."""
    card = json.loads(card_path(copy_path).read_text()) if card_path(copy_path).exists() else {
        "kind": copies.CARD_KIND, "version": copies.CARD_VERSION, "format": "tflite",
    }
    card["file"] = copy_path.name
    card["file_sha256"] = file_sha256(copy_path)
    card["model_sha256"] = copies.model_key(model_path)
    card_path(copy_path).write_text(json.dumps(card))


def test_a_saved_model_records_its_copy_and_runs_it(tmp_path):
    path = _save(tmp_path / "a.keras", seed=1)
    recorded = copies.read_metadata(path)[copies.COPY_FIELD]
    assert recorded == file_sha256(runtime_copy_path(path))
    handle = _load(path)
    assert handle.engine.startswith("LiteRT") and handle.warnings == []
    _assert_keras_results(handle, path)


def test_another_networks_copy_planted_beside_a_model_is_refused(tmp_path):
    victim = _save(tmp_path / "victim.keras", seed=1)
    (tmp_path / "other").mkdir()
    other = _save(tmp_path / "other" / "o.keras", seed=2)
    shutil.copyfile(runtime_copy_path(other), runtime_copy_path(victim))
    _forge_card(runtime_copy_path(victim), victim)

    handle = _load(victim)
    assert handle.engine == "TensorFlow"
    assert len(handle.warnings) == 1 and "victim.tflite is not the runtime copy victim.keras records" in handle.warnings[0]
    _assert_keras_results(handle, victim)


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_copies_with_recomputed_cards_are_refused(tmp_path, seed):
    path = _save(tmp_path / "m.keras", seed=1)
    copy = runtime_copy_path(path)
    data = bytearray(copy.read_bytes())
    rng = np.random.default_rng(seed)
    for offset in rng.integers(len(data) // 2, len(data), size=4):
        data[offset] ^= 0xFF
    copy.write_bytes(bytes(data))
    _forge_card(copy, path)

    handle = _load(path)
    assert handle.engine == "TensorFlow"
    _assert_keras_results(handle, path)


def test_a_copy_beside_a_model_that_records_none_is_not_used(tmp_path):
    from siamese_gui.core.runtime.store import update_metadata

    path = _save(tmp_path / "m.keras", seed=1)
    update_metadata(path, **{copies.COPY_FIELD: None})
    handle = _load(path, cache=False)
    assert handle.engine == "TensorFlow"
    assert "records no runtime copy" in handle.warnings[0]


def test_an_unsealed_cache_entry_is_refused_and_the_apps_own_is_used(tmp_path, monkeypatch):
    from siamese_gui.core.runtime.export import export_embedding
    from siamese_gui.core.runtime.store import update_metadata

    monkeypatch.setenv(copies.CACHE_ENV, str(tmp_path / "cache"))
    path = _save(tmp_path / "m.keras", seed=1)
    os.remove(runtime_copy_path(path))
    os.remove(card_path(runtime_copy_path(path)))
    update_metadata(path, **{copies.COPY_FIELD: None})
    key = copies.model_key(path)
    planted = copies.cached_copy_path(key)
    planted.parent.mkdir(parents=True)
    export_embedding(_embedding(seed=3), planted, "tflite", copies.read_metadata(path), path)
    _forge_card(planted, path)

    first = _load(path)
    assert first.engine == "TensorFlow"
    assert any("carries no valid seal" in warning for warning in first.warnings)
    _assert_keras_results(first, path)
    # The TensorFlow load replaced it with a sealed copy of the network it loaded.
    second = _load(path)
    assert second.engine.startswith("LiteRT") and second.warnings == []
    _assert_keras_results(second, path)


def test_a_seal_key_others_can_read_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert copies.seal_key(create=True) is not None
    key_file = copies.config_dir() / "cache-seal.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key_file.chmod(0o644)
    assert copies.seal_key() is None
    key_file.unlink()
    os.symlink(tmp_path / "elsewhere", key_file)
    assert copies.seal_key(create=True) is None


def test_an_oversized_copy_is_refused_without_hashing_it(tmp_path):
    path = _save(tmp_path / "m.keras", seed=1)
    copy = runtime_copy_path(path)
    with open(copy, "r+b") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GiB that costs nothing on disk
    start = time.perf_counter()
    handle = _load(path, cache=False)
    assert time.perf_counter() - start < 30  # hashing 2 GiB alone takes longer on a slow disk
    assert handle.engine == "TensorFlow"


def test_a_fifo_in_place_of_the_copy_does_not_hang(tmp_path):
    path = _save(tmp_path / "m.keras", seed=1)
    copy = runtime_copy_path(path)
    copy.unlink()
    os.mkfifo(copy)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("handle", _load(path, cache=False)), daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "loading hung on a FIFO"
    assert result["handle"].engine == "TensorFlow"


def test_racing_saves_never_pair_one_network_with_another_models_copy(tmp_path):
    path = tmp_path / "m.keras"
    errors = []

    def saver(seed):
        try:
            for _ in range(3):
                _save(path, seed)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    handle = _load(path, cache=False)
    _assert_keras_results(handle, path)
