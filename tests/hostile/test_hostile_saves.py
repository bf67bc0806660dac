"""Saves that are killed, interrupted or raced: the model on disk is always the old one or
the new one, whole and consistent, and no temp file outlives the next save."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

keras = pytest.importorskip("keras")

from hostile_helpers import REPO_ROOT, folder_listing  # noqa: E402

from siamese_gui.core.model.networks import build_pair_model  # noqa: E402
from siamese_gui.core.runtime import store  # noqa: E402
from siamese_gui.core.runtime.store import load_model, read_metadata, save_model  # noqa: E402

# What a save writes beside the model: its LiteRT copy and that copy's card (core.export).
RUNTIME_COPY = ["m.tflite", "m.tflite.json"]


def _tiny(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    return build_pair_model(embedding)


def _threshold_on_disk(path):
    """The threshold of the model at `path`, after a full, checked load."""
    return load_model(path).info["threshold"]


# --- kill -9 in the middle of saving -------------------------------------------------------

SAVER = """
import sys
from siamese_gui.core.runtime.tensorflow import start_tensorflow
start_tensorflow()
import keras
from siamese_gui.core.model.networks import build_pair_model
from siamese_gui.core.runtime.store import save_model

def tiny(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    return build_pair_model(embedding)

models = [tiny(1), tiny(2)]
i = 0
while True:
    save_model(models[i % 2], sys.argv[1], {"threshold": 0.25 + 0.5 * (i % 2)})
    print("saved", i, flush=True)
    i += 1
"""


def test_kill_9_at_random_moments_of_saving_leaves_a_whole_model(tmp_path):
    path = tmp_path / "m.keras"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=REPO_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # Wait for a few saves, then kill at a moment that falls anywhere in one.
        for line in child.stdout:
            if line.startswith("saved 3"):
                break
        rng = random.Random()
        for _ in range(8):
            time.sleep(rng.uniform(0.0, 0.15))
            child.send_signal(signal.SIGSTOP)  # freeze it mid-save and look
            assert _threshold_on_disk(path) in (0.25, 0.75)
            child.send_signal(signal.SIGCONT)
        time.sleep(rng.uniform(0.0, 0.15))
    finally:
        child.kill()
        child.wait(timeout=30)
    assert _threshold_on_disk(path) in (0.25, 0.75)
    # Whatever the kill left (a temp file at most) goes with the next save to that name.
    save_model(_tiny(3), path, {"threshold": 0.5})
    assert folder_listing(tmp_path) == ["m.keras", *RUNTIME_COPY]
    assert _threshold_on_disk(path) == 0.5


class _Killed(BaseException):
    """Stands for the process ending at this point."""


@pytest.mark.parametrize("step", ["keras-save", "write-metadata", "fsync-file", "rename", "fsync-folder"])
def test_save_stopped_at_each_step_leaves_the_old_or_the_new_model(step, tmp_path, monkeypatch):
    path = save_model(_tiny(1), tmp_path / "m.keras", {"threshold": 0.25})
    real = {"save": keras.Model.save, "write": store.write_archive, "fsync": os.fsync, "replace": os.replace}
    calls = {"fsync": 0}

    def save(self, filepath, *args, **kwargs):
        real["save"](self, filepath, *args, **kwargs)
        if step == "keras-save":
            raise _Killed

    def write(*args, **kwargs):
        if step == "write-metadata":
            raise _Killed
        return real["write"](*args, **kwargs)

    def fsync(fd):
        real["fsync"](fd)
        calls["fsync"] += 1
        is_folder = os.path.isdir(f"/proc/self/fd/{fd}")
        if (step == "fsync-file" and not is_folder) or (step == "fsync-folder" and is_folder):
            raise _Killed

    def replace(src, dst):
        if step == "rename":
            raise _Killed
        return real["replace"](src, dst)

    monkeypatch.setattr(keras.Model, "save", save)
    monkeypatch.setattr(store, "write_archive", write)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        save_model(_tiny(2), path, {"threshold": 0.75})
    monkeypatch.undo()
    expected = 0.75 if step == "fsync-folder" else 0.25
    assert _threshold_on_disk(path) == expected


def test_a_save_fsyncs_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    save_model(_tiny(1), tmp_path / "m.keras", {"threshold": 0.25})
    assert any(name.endswith(".tmp.keras") for name in synced)
    assert str(tmp_path) in synced
    assert synced.index(str(tmp_path)) > max(i for i, n in enumerate(synced) if n.endswith(".tmp.keras"))


# --- leftovers of killed saves ---------------------------------------------------------------


def test_stale_temps_of_a_killed_save_are_removed_by_the_next_one(tmp_path):
    stale = [".m.k3j2h1x8.tmp.keras", ".m.a_b0c9d8.tmp.json", ".m.zzzzzzzz.bak.keras"]
    kept = [".other.k3j2h1x8.tmp.keras", "notes.txt", ".m.keras.swp", "m.old.keras"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    save_model(_tiny(1), tmp_path / "m.keras", {"threshold": 0.25})
    assert folder_listing(tmp_path) == sorted(kept + ["m.keras", *RUNTIME_COPY])


def test_a_legacy_sidecar_of_the_replaced_model_goes_with_it(tmp_path):
    import json

    path = tmp_path / "m.keras"
    (tmp_path / "m.json").write_text(json.dumps({"model_file": "m.keras", "sha256": "0" * 64}))
    (tmp_path / "other.json").write_text("{}")
    save_model(_tiny(1), path, {"threshold": 0.25})
    assert folder_listing(tmp_path) == sorted(["m.keras", "other.json", *RUNTIME_COPY])


# --- concurrent saves to one path -----------------------------------------------------------


def test_saves_to_one_folder_wait_for_the_lock(tmp_path):
    path = tmp_path / "m.keras"
    model = _tiny(1)
    done = threading.Event()

    def save():
        save_model(model, path, {"threshold": 0.25})
        done.set()

    with store._folder_lock(tmp_path):
        worker = threading.Thread(target=save)
        worker.start()
        assert not done.wait(1.0), "a save ran while another held the folder"
        assert not path.exists()
    worker.join(60)
    assert done.is_set() and _threshold_on_disk(path) == 0.25


def test_concurrent_saves_to_one_path_end_whole_and_consistent(tmp_path):
    path = tmp_path / "m.keras"
    models = {0.25: _tiny(1), 0.75: _tiny(2)}
    errors = []

    def save(threshold):
        try:
            for _ in range(3):
                save_model(models[threshold], path, {"threshold": threshold})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=save, args=(t,)) for t in models]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert errors == []
    loaded = load_model(path)
    assert loaded.info["threshold"] in models
    expected = models[loaded.info["threshold"]].get_weights()
    for got, want in zip(loaded.model.get_weights(), expected):
        assert (got == want).all()
    assert folder_listing(tmp_path) == ["m.keras", *RUNTIME_COPY]
    assert read_metadata(path)["threshold"] == loaded.info["threshold"]
