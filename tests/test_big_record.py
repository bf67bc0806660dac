"""Models trained on large folders: the split record of 100,000 images is saved in the
model file's data record, loads again quickly and in little memory, and is what the
held-out rule reads; models saved with the record inside siamese_gui.json still load."""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from helpers import BIG_RECORD_IMAGES, big_folder_metadata, make_dataset  # noqa: E402

from siamese_gui.core.data.datasets import DataKind, Dataset  # noqa: E402
from siamese_gui.core.data.splits import (  # noqa: E402
    Role,
    folder_splits,
    held_out_images,
    recorded_files,
    recorded_hashes,
    recorded_splits,
)
from siamese_gui.core.errors import ModelFileError  # noqa: E402
from siamese_gui.core.model.networks import build_pair_model  # noqa: E402
from siamese_gui.core.runtime import archive, data_record  # noqa: E402
from siamese_gui.core.runtime.copies import read_metadata as read_metadata_without_keras  # noqa: E402
from siamese_gui.core.runtime.copies import runtime_installed  # noqa: E402
from siamese_gui.core.runtime.loading import load_model_handle  # noqa: E402
from siamese_gui.core.runtime.store import read_metadata, save_model, update_metadata  # noqa: E402

DATA = data_record.DATA_MEMBER


def _tiny_pair_model():
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    return build_pair_model(embedding)


def _folder_dataset(per_class=6, num_classes=3) -> Dataset:
    """A dataset as `load_image_folder` gives it: relative paths and SHA-256 of each image."""
    data = make_dataset(per_class, num_classes)
    files = tuple(f"{data.class_names[label]}/{i:03d}.png" for i, label in enumerate(data.labels))
    hashes = tuple(hashlib.sha256(image.tobytes()).hexdigest() for image in data.images)
    return Dataset(data.images, data.labels, data.class_names, "image folder /data/shapes",
                   kind=DataKind.IMAGE_FOLDER, files=files, hashes=hashes, root="/data/shapes")


def _without_digest(metadata):
    return {k: v for k, v in metadata.items() if k != data_record.DATA_SHA256_KEY}


# --- a record of 100,000 images ----------------------------------------------------------


def test_a_100k_record_is_saved_in_its_own_member_under_the_caps(big_record_model):
    path, _, _, metadata = big_record_model
    with zipfile.ZipFile(path) as zipped:
        sizes = {info.filename: info.file_size for info in zipped.infolist()}
        small = json.loads(zipped.read(archive.METADATA_MEMBER))
    assert DATA in sizes
    # The JSON keeps what does not grow with the data; the lists are in the data record.
    assert "class_names" not in small and "files" not in small["split"]
    assert "seen_classes" not in small["split"] and small["split"]["counts"]["train"] == 70_000
    for name, size in sizes.items():
        assert size <= archive.MEMBER_LIMITS[name], name
    # 100,000 images, half the images a model file may record, in under a quarter of its
    # budget; 10,000 epochs of history (0.55 MiB) with room to spare in the metadata's cap.
    assert sizes[DATA] < archive.MEMBER_LIMITS[DATA] / 4
    assert sizes[archive.METADATA_MEMBER] < 0.6 * archive.MEMBER_LIMITS[archive.METADATA_MEMBER]
    assert path.stat().st_size < archive.MAX_FILE_BYTES / 4


@pytest.mark.parametrize("runtime", ["tensorflow", "auto"])
def test_a_100k_record_loads_again_in_a_model_handle(big_record_model, runtime):
    path, _, trained_on, metadata = big_record_model
    handle = load_model_handle(path, runtime=runtime)
    if runtime == "auto" and runtime_installed():
        assert handle.engine.startswith("LiteRT")
    assert handle.metadata["split"] == metadata["split"]
    assert handle.class_names == tuple(metadata["class_names"])
    assert handle.training_classes == tuple(metadata["split"]["seen_classes"])
    train = recorded_hashes(handle.metadata["split"], Role.TRAIN)
    assert len(train) == 70_000 and train[:5] == trained_on
    assert sum(len(recorded_hashes(handle.metadata["split"], r)) for r in Role) == BIG_RECORD_IMAGES
    paths, hashes = recorded_files(handle.metadata["split"], Role.TEST)
    assert paths[-1] == f"class {(BIG_RECORD_IMAGES - 1) % 500:05d}/image_{BIG_RECORD_IMAGES - 1:07d}.png"
    assert len(paths) == len(hashes) == 15_000
    assert handle.distance(np.zeros((28, 28), np.float32), np.zeros((28, 28), np.float32)) == pytest.approx(0)


def test_the_held_out_rule_reads_a_100k_record(big_record_model):
    path, _, trained_on, _ = big_record_model
    record = read_metadata_without_keras(path)["split"]
    data = make_dataset(per_class=2, num_classes=4)
    hashes = (*trained_on, *(hashlib.sha256(bytes([i])).hexdigest() for i in range(3)))
    folder = Dataset(data.images, data.labels, data.class_names, "image folder /elsewhere",
                     kind=DataKind.IMAGE_FOLDER, files=tuple(f"{i}.png" for i in range(8)), hashes=hashes)
    held = held_out_images(folder, record)
    assert held.known and held.overlap == 5
    assert held.data.hashes == hashes[5:]


def test_loading_a_100k_record_is_quick_and_small(big_record_model):
    path, _, _, metadata = big_record_model
    read_metadata_without_keras(path)  # warm the file cache
    start = time.perf_counter()
    info = read_metadata_without_keras(path)
    seconds = time.perf_counter() - start
    del info
    tracemalloc.start()  # apart: tracing makes every allocation several times slower
    info = read_metadata_without_keras(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert _without_digest(info) == {**_without_digest(info), **metadata}
    # About 0.1 s and 28 MiB: the file, its members, one string per path and hash. Loose
    # bounds, for a shared machine.
    assert seconds < 3, seconds
    assert peak < 64 * 2**20, peak / 2**20


def test_a_new_threshold_keeps_the_100k_record(big_record_model, tmp_path):
    path = tmp_path / "copy.keras"
    path.write_bytes(big_record_model[0].read_bytes())
    before = read_metadata(path)
    after = update_metadata(path, threshold=0.25)
    assert after["threshold"] == 0.25 and read_metadata(path) == after
    assert after["split"] == before["split"] and after["class_names"] == before["class_names"]


# --- the record of a real split ---------------------------------------------------------


def test_a_folder_split_record_is_the_same_after_a_save(tmp_path):
    data = _folder_dataset()
    splits = folder_splits(data, seed=3)
    record = splits.metadata()
    path = save_model(_tiny_pair_model(), tmp_path / "m.keras",
                      {"threshold": 0.5, "class_names": list(data.class_names), "split": record})
    loaded = read_metadata(path)["split"]
    assert loaded == record
    for role in Role:
        assert recorded_files(loaded, role) == (list(splits.dataset(role).files),
                                                list(splits.dataset(role).hashes))
    rebuilt = recorded_splits(data, loaded)
    assert set(rebuilt.train.hashes) == set(splits.train.hashes)
    assert set(rebuilt.validation.hashes) == set(splits.validation.hashes)
    held = held_out_images(data, loaded)
    assert held.overlap == len(splits.train) + len(splits.validation)
    assert set(held.data.hashes) == set(splits.test.hashes)


def test_a_record_without_files_or_split_round_trips(tmp_path):
    for metadata in (
        {"threshold": 0.5, "class_names": ["a", "b"], "split": {"kind": "fashion_mnist", "seed": 0,
                                                               "seen_classes": ["a", "b"],
                                                               "unseen_classes": []}},
        {"threshold": 0.5, "class_names": ["a", "b"], "split": None},
        {"threshold": 0.5},
    ):
        path = save_model(_tiny_pair_model(), tmp_path / "m.keras", metadata)
        info = read_metadata(path)
        assert {k: info[k] for k in metadata} == metadata
        assert held_out_images(_folder_dataset(), info.get("split")).known is False


# --- models saved before the data record -------------------------------------------------


def _format_2_model(folder, metadata):
    """A model as the app saved it before the data record: the split's files as
    [path, sha256] pairs inside siamese_gui.json."""
    path = save_model(_tiny_pair_model(), folder / "new.keras", {"threshold": 0.5})
    with zipfile.ZipFile(path) as zipped:
        members = {n: zipped.read(n) for n in zipped.namelist() if n not in (DATA, archive.METADATA_MEMBER)}
        stamped = json.loads(zipped.read(archive.METADATA_MEMBER))
    stamped.pop(data_record.DATA_SHA256_KEY)
    split = dict(metadata["split"])
    split["files"] = {role: [[p, h] for p, h in zip(entry["paths"], entry["sha256"])]
                      for role, entry in split["files"].items()}
    info = {**stamped, **metadata, "split": split, "format": 2}
    old = folder / "old.keras"
    archive.write_archive(old, {**members, archive.METADATA_MEMBER: json.dumps(info, indent=2).encode()})
    return old


def test_a_model_with_the_record_inside_its_json_still_loads(tmp_path):
    metadata = big_folder_metadata(4_000)
    old = _format_2_model(tmp_path, metadata)
    with zipfile.ZipFile(old) as zipped:
        assert zipped.namelist()[-1] == archive.METADATA_MEMBER and DATA not in zipped.namelist()
    info = read_metadata(old)
    assert info["split"] == metadata["split"] and info["class_names"] == metadata["class_names"]
    assert recorded_hashes(info["split"], Role.VALIDATION) == metadata["split"]["files"]["validation"]["sha256"]
    assert load_model_handle(old, runtime="tensorflow").metadata["split"] == metadata["split"]
    # Saving into it again moves the lists to the data record.
    update_metadata(old, threshold=0.3)
    with zipfile.ZipFile(old) as zipped:
        assert DATA in zipped.namelist()
        assert "files" not in json.loads(zipped.read(archive.METADATA_MEMBER))["split"]
    assert read_metadata(old)["split"] == metadata["split"]


# --- records past the bounds ------------------------------------------------------------


def test_a_record_of_more_images_than_a_model_records_is_saved_without_its_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data_record, "MAX_RECORDED_IMAGES", 100)
    metadata = big_folder_metadata(101, classes=5)
    path = save_model(_tiny_pair_model(), tmp_path / "m.keras", metadata)
    info = read_metadata(path)
    assert "files" not in info["split"] and "101 images" in info["split"]["files_omitted"]
    assert info["class_names"] == metadata["class_names"]
    assert held_out_images(_folder_dataset(), info["split"]).known is False
    assert metadata["split"]["files"]["train"]["paths"]  # the caller's metadata is left as it was


def test_a_record_whose_paths_exceed_the_budget_is_saved_without_its_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data_record, "MAX_DATA_BYTES", 20_000)
    path = save_model(_tiny_pair_model(), tmp_path / "m.keras", big_folder_metadata(400, classes=5))
    split = read_metadata(path)["split"]
    assert "files" not in split and "bytes" in split["files_omitted"]


def test_class_names_past_the_budget_are_refused_at_save(tmp_path, monkeypatch):
    monkeypatch.setattr(data_record, "MAX_DATA_BYTES", 1_000)
    with pytest.raises(ModelFileError, match="class names"):
        save_model(_tiny_pair_model(), tmp_path / "m.keras",
                   {"threshold": 0.5, "class_names": [f"class {i}" for i in range(500)]})
    assert list(tmp_path.iterdir()) == []


# --- the member's form -----------------------------------------------------------------


def test_names_of_any_kind_round_trip():
    names = ["a,b", 'quote"d', "new\nline", "[bracket]{brace}", "日本語", "\udcff-not-utf8", ""]
    metadata = {
        "class_names": names,
        "split": {"seen_classes": names[:3], "unseen_classes": names[3:],
                  "files": {"test": {"paths": [f"{n}/x.png" for n in names],
                                     "sha256": [hashlib.sha256(n.encode("utf-8", "surrogateescape")).hexdigest()
                                                for n in names]}}},
    }
    small, data = data_record.split_data_record(metadata)
    assert small == {"split": {}, "data_sha256": hashlib.sha256(data).hexdigest()}
    assert _without_digest(data_record.merge_data_record(small, data, "m: its data")) == metadata


@pytest.mark.parametrize(
    "metadata, words",
    [
        ({"class_names": ["a\0b"]}, "NUL"),
        ({"class_names": ["a", 3]}, "'class_names' must be a list of names"),
        ({"split": {"files": {"train": {"paths": ["a"], "sha256": ["0" * 63]}}}}, "SHA-256"),
        ({"split": {"files": {"train": {"paths": ["a"], "sha256": ["z" * 64]}}}}, "SHA-256"),
        ({"split": {"files": {"train": {"paths": ["a"], "sha256": ["0" * 62 + "  "]}}}}, "SHA-256"),
        ({"split": {"files": {"train": {"paths": ["a", "b"], "sha256": ["0" * 64]}}}}, "2 paths"),
    ],
)
def test_what_cannot_be_recorded_is_said_at_save(tmp_path, metadata, words):
    with pytest.raises(ModelFileError, match=words):
        save_model(_tiny_pair_model(), tmp_path / "m.keras", {"threshold": 0.5, **metadata})
    assert list(tmp_path.iterdir()) == []
