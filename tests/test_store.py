"""Model files: atomic saves with the metadata inside, safe loads, refusal of unsafe or
broken files, and legacy models whose metadata is a sidecar."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from helpers import assert_user_error

from siamese_gui.core.errors import ModelFileError  # noqa: E402
from siamese_gui.core.evaluation.threshold import FALLBACK_THRESHOLD, ThresholdOrigin
from siamese_gui.core.model.graph import keras_embedder
from siamese_gui.core.model.networks import EuclideanDistance, build_pair_model  # noqa: E402
from siamese_gui.core.runtime import store  # noqa: E402
from siamese_gui.core.runtime.handle import ModelHandle
from siamese_gui.core.runtime.loading import load_model_handle
from siamese_gui.core.runtime.store import (
    file_sha256,
    load_model,
    read_metadata,
    read_sidecar,
    save_model,
    sidecar_path,
    update_sidecar,
)


def _copy_model(src, folder, name="copy.keras"):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(src, target)
    return target


def _legacy_model(src, folder, name="legacy.keras", sidecar=True, **changes):
    """The model of `src` in the format before metadata moved inside: Keras' members
    only, with a sidecar recording the SHA-256 of the whole file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    with zipfile.ZipFile(src) as archive:
        info = json.loads(archive.read(store.METADATA_MEMBER))
        members = {n: archive.read(n) for n in archive.namelist() if n != store.METADATA_MEMBER}
    with zipfile.ZipFile(target, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    if sidecar:
        for key in ("config_sha256", "weights_sha256"):
            info.pop(key)
        info.update(format=1, model_file=name, sha256=file_sha256(target), **changes)
        sidecar_path(target).write_text(json.dumps(info))
    return target


def _folder_state(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _refused(path, *words):
    return assert_user_error(ModelFileError, lambda: load_model(path), path, *words)


# --- round trip --------------------------------------------------------------------


def test_round_trip_gives_identical_distances(trained, saved_model):
    result, dataset, _, _ = trained
    loaded = load_model(saved_model)
    assert loaded.warnings == []
    comparator = load_model_handle(saved_model, runtime="tensorflow")
    from siamese_gui.core.model.graph import embed

    np.testing.assert_array_equal(comparator.embed(dataset.images), embed(result.embedding, dataset.images))
    x = dataset.images[:6].astype(np.float32)[..., None] / 255.0
    np.testing.assert_array_equal(
        np.asarray(loaded.model([x[:3], x[3:]], training=False)),
        np.asarray(result.model([x[:3], x[3:]], training=False)),
    )
    a, b = dataset.images[0] / 255.0, dataset.images[-1] / 255.0
    reference = ModelHandle(keras_embedder(result.embedding), {}, saved_model)
    assert comparator.distance(a, b) == reference.distance(a, b)
    assert comparator.distance(a, a) == pytest.approx(0.0, abs=1e-3)


def test_metadata_records_what_the_model_is(trained, saved_model):
    result, dataset, _, _ = trained
    info = read_sidecar(saved_model)
    with zipfile.ZipFile(saved_model) as archive:
        assert sorted(archive.namelist()) == sorted(
            ["config.json", "metadata.json", "model.weights.h5", "siamese_gui.json", "siamese_gui_data.bin"]
        )
        # The lists that grow with the data are in the data record, the rest in the JSON.
        small = json.loads(archive.read("siamese_gui.json"))
        assert "class_names" not in small
        assert info == {**small, "class_names": list(dataset.class_names)}
        assert info["data_sha256"] == hashlib.sha256(archive.read("siamese_gui_data.bin")).hexdigest()
        assert info["weights_sha256"] == hashlib.sha256(archive.read("model.weights.h5")).hexdigest()
        assert info["config_sha256"] == hashlib.sha256(archive.read("config.json")).hexdigest()
    assert not sidecar_path(saved_model).exists()
    assert info["format"] == store.METADATA_FORMAT
    assert info["threshold"] == pytest.approx(result.threshold)
    assert info["config"] == result.config.as_dict()
    assert info["class_names"] == list(dataset.class_names)
    assert info["data_source"] == "synthetic shapes"
    assert info["model_file"] == saved_model.name
    assert {"tensorflow", "keras", "siamese_gui"} <= set(info["versions"])
    assert info["metrics"]["validation"]["auc"] == pytest.approx(result.validation.auc)
    handle = load_model_handle(saved_model)
    assert handle.threshold.value == pytest.approx(result.threshold)
    assert handle.threshold.origin is ThresholdOrigin.MODEL
    assert handle.class_names == dataset.class_names


def test_update_sidecar_changes_the_threshold(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    update_sidecar(path, threshold=0.123)
    assert load_model_handle(path).threshold.value == pytest.approx(0.123)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.keras"]


def test_legacy_model_loads_and_an_update_moves_its_metadata_inside(saved_model, tmp_path):
    path = _legacy_model(saved_model, tmp_path, threshold=0.3)
    assert load_model_handle(path).threshold.value == pytest.approx(0.3)
    update_sidecar(path, threshold=0.4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy.keras"]
    with zipfile.ZipFile(path) as archive:
        assert "siamese_gui.json" in archive.namelist()
    assert load_model_handle(path).threshold.value == pytest.approx(0.4)


def test_threshold_falls_back_and_says_so_when_sidecar_has_none(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    update_sidecar(path, threshold=None)
    threshold = load_model_handle(path).threshold
    assert threshold.value == FALLBACK_THRESHOLD
    assert threshold.origin is ThresholdOrigin.FALLBACK


# --- refusing bad files ------------------------------------------------------------


def _lambda_model(sentinel):
    """A Siamese model whose embedding holds a Lambda that creates `sentinel` when run."""
    target = str(sentinel)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: (__import__("pathlib").Path(target).touch(), t)[1], name="evil")(inputs)
    x = keras.layers.Flatten()(x)
    embedding = keras.Model(inputs, keras.layers.Dense(4)(x), name="embedding")
    return build_pair_model(embedding)


def test_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    sentinel = tmp_path / "pwned"
    model = _lambda_model(sentinel)
    path = tmp_path / "evil.keras"
    model.save(path)
    (tmp_path / "evil.json").write_text(json.dumps({"threshold": 0.5, "sha256": file_sha256(path)}))
    sentinel.unlink()  # building the model ran the code once; start clean

    _refused(path, "lambda")
    assert not sentinel.exists()

    # The file really carries code that runs on an unsafe load.
    keras.saving.load_model(path, compile=False, safe_mode=False)
    assert sentinel.exists()


def test_lambda_refused_even_with_a_matching_sidecar(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.keras"
    save_model(_lambda_model(sentinel), path, {"threshold": 0.5})
    sentinel.unlink()
    _refused(path, "lambda")
    assert not sentinel.exists()


@pytest.mark.parametrize("name", ["model.h5", "model.hdf5", "MODEL.H5"])
def test_h5_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    _refused(path, "HDF5")


def test_wrong_suffix_and_missing_file(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"x")
    _refused(tmp_path / "model.pkl", ".keras")
    _refused(tmp_path / "absent.keras", "not found")
    (tmp_path / "dir.keras").mkdir()
    _refused(tmp_path / "dir.keras")


def test_random_bytes_are_refused(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    path.write_bytes(os.urandom(4096))
    _refused(path, "corrupt")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file_is_refused(saved_model, tmp_path, keep):
    path = _copy_model(saved_model, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _refused(path)


def test_corrupt_zip_member_is_refused(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 100, start + min(info.compress_size, 4000), 7):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    assert zipfile.is_zipfile(path)
    _refused(path)


def test_zip_that_is_not_a_model_is_refused(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    _refused(path, "readme.txt", "never has")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    _refused(path, "no model.weights.h5")


def test_legacy_model_without_sidecar_is_refused(saved_model, tmp_path):
    path = _legacy_model(saved_model, tmp_path, sidecar=False)
    _refused(path, "sidecar", "missing")


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", "\udcff"])
def test_invalid_sidecar_is_refused(saved_model, tmp_path, content):
    path = _legacy_model(saved_model, tmp_path)
    sidecar_path(path).write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelFileError, match="sidecar"):
        load_model(path)


def test_legacy_sha256_mismatch_is_refused(saved_model, tmp_path):
    path = _legacy_model(saved_model, tmp_path)
    info = json.loads(sidecar_path(path).read_text())
    info["sha256"] = "0" * 64
    sidecar_path(path).write_text(json.dumps(info))
    _refused(path, "SHA-256", "refused")


def _pair_model(shape, two_inputs=True):
    inputs = keras.Input(shape)
    embedding = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)), name="embedding")
    a, b = keras.Input(shape), keras.Input(shape)
    if not two_inputs:
        return keras.Model(a, embedding(a))
    return keras.Model([a, b], EuclideanDistance()([embedding(a), embedding(b)]))


@pytest.mark.parametrize(
    "model_factory",
    [
        lambda: _pair_model((28, 28, 2)),
        lambda: _pair_model((4, 4, 1)),
        lambda: _pair_model((28, 28, 1), two_inputs=False),
    ],
    ids=["two-channels", "4x4", "one-input"],
)
def test_wrong_input_shape_is_refused(tmp_path, model_factory):
    path = tmp_path / "other.keras"
    save_model(model_factory(), path, {"threshold": 0.5})
    _refused(path, "not two images of one shape")


@pytest.mark.parametrize("shape", [(32, 32, 1), (28, 28, 3), (40, 24, 3)], ids=["32x32", "colour", "40x24"])
def test_other_image_formats_load_with_their_format(tmp_path, shape):
    """A model's input size and channels are its own: saved into its metadata, read back."""
    from siamese_gui.core.io.image_format import ImageFormat, format_of

    path = tmp_path / "other.keras"
    save_model(_pair_model(shape), path, {"threshold": 0.5})
    assert format_of(read_metadata(path)) == ImageFormat(*shape)
    loaded = load_model(path)
    assert format_of(loaded.info) == ImageFormat(*shape)


# --- saving --------------------------------------------------------------------------
# --- saving --------------------------------------------------------------------------


@pytest.fixture
def existing(saved_model, tmp_path):
    """A folder holding a model and its sidecar, and their bytes."""
    folder = tmp_path / "models"
    path = _copy_model(saved_model, folder, "mine.keras")
    return path, _folder_state(folder)


def _tiny_pair_model():
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="embedding")
    return build_pair_model(embedding)


def test_save_failing_midway_leaves_the_previous_file_intact(existing, monkeypatch):
    path, before = existing

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"PK\x03\x04 half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(ModelFileError, match="No space left") as info:
        save_model(_tiny_pair_model(), path, {"threshold": 0.1})
    assert str(path) in str(info.value)
    assert _folder_state(path.parent) == before


def test_save_interrupted_by_an_unexpected_error_leaves_no_trace(existing, monkeypatch):
    path, before = existing

    def interrupted(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(_tiny_pair_model(), path, {"threshold": 0.1})
    assert _folder_state(path.parent) == before


def test_failed_rename_leaves_the_model_as_it_was(existing, monkeypatch):
    path, before = existing

    def replace(src, dst, *args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ModelFileError, match="Input/output error"):
        save_model(_tiny_pair_model(), path, {"threshold": 0.1})
    assert _folder_state(path.parent) == before


def test_failed_rename_of_a_new_model_leaves_nothing(tmp_path, monkeypatch):
    def replace(src, dst, *args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ModelFileError):
        save_model(_tiny_pair_model(), tmp_path / "new.keras", {})
    assert list(tmp_path.iterdir()) == []


def test_successful_save_replaces_the_file_and_leaves_no_temp(existing):
    path, before = existing
    save_model(_tiny_pair_model(), path, {"threshold": 0.25})
    after = _folder_state(path.parent)
    # The model (metadata inside) and its runtime copy with its card (see core.export).
    assert sorted(after) == ["mine.keras", "mine.tflite", "mine.tflite.json"]
    assert after["mine.keras"] != before["mine.keras"]
    info = read_sidecar(path)
    assert info["threshold"] == 0.25 and load_model_handle(path).threshold.value == 0.25
    assert oct(path.stat().st_mode & 0o777) != "0o600"


def test_read_only_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            probe.unlink()
            monkeypatch.setattr(
                store.tempfile, "mkstemp",
                lambda *a, **k: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")),
            )
        with pytest.raises(ModelFileError, match="Permission denied") as info:
            save_model(_tiny_pair_model(), folder / "m.keras", {})
        assert "m.keras" in str(info.value)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_missing_folder_and_wrong_suffix(tmp_path):
    with pytest.raises(ModelFileError):
        save_model(_tiny_pair_model(), tmp_path / "nowhere" / "m.keras", {})
    with pytest.raises(ModelFileError, match=".keras"):
        save_model(_tiny_pair_model(), tmp_path / "m.h5", {})
    assert list(tmp_path.iterdir()) == []


def test_metadata_is_strict_json_whatever_the_training_recorded(tmp_path):
    metadata = {
        "threshold": np.float32(0.25),
        "training": {"history": {"val_loss": [0.5, float("nan"), float("inf")]}},
        "sha256": "0" * 64,  # a legacy sidecar's field: it describes another file
    }
    path = save_model(_tiny_pair_model(), tmp_path / "m.keras", metadata)
    with zipfile.ZipFile(path) as archive:
        text = archive.read("siamese_gui.json").decode()
    info = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in the metadata"))
    assert info["training"]["history"]["val_loss"] == [0.5, None, None]
    assert info["threshold"] == 0.25 and "sha256" not in info


@pytest.mark.parametrize("threshold", [float("nan"), -1.0, float("inf"), True])
def test_save_refuses_an_unusable_threshold(tmp_path, threshold):
    with pytest.raises(ModelFileError, match="threshold"):
        save_model(_tiny_pair_model(), tmp_path / "m.keras", {"threshold": threshold})
    assert list(tmp_path.iterdir()) == []


# --- the threshold as one object: value, origin, detail, and the figures at it ---------


def _validation_of(dataset, config):
    """The validation images `train` held out of `dataset` (its own stratified split)."""
    from siamese_gui.core.data.pairs import stratified_split

    _, held = stratified_split(dataset.labels, config.validation_fraction, config.seed)
    return dataset.subset(held)


def test_a_trained_model_records_its_threshold_with_origin_detail_and_pairs(saved_model, trained):
    result = trained[0]
    info = read_sidecar(saved_model)
    threshold = load_model_handle(saved_model).threshold
    assert info["threshold_origin"] == "model" and threshold.origin is ThresholdOrigin.MODEL
    assert threshold.detail == info["threshold_detail"] == f"max accuracy on {result.validation_pairs_description}"
    record = info["metrics"]["validation_pairs"]
    assert record["pairs"] == result.validation.pairs and record["seed"] == result.config.seed
    assert info["metrics"]["at_threshold"]["threshold"] == pytest.approx(result.threshold)
    assert info["metrics"]["at_threshold"]["measured_on"] == record["description"]


def test_a_hand_threshold_is_saved_with_its_origin_and_the_figures_at_it(saved_model, trained, tmp_path):
    from siamese_gui.core.app.model_files import store_threshold_in
    from siamese_gui.core.evaluation.metrics import metrics_at, pair_distances
    from siamese_gui.core.evaluation.threshold import Threshold
    from siamese_gui.core.evaluation.validation import validation_pairs

    result, dataset, _, _ = trained
    validation = _validation_of(dataset, result.config)
    path = _copy_model(saved_model, tmp_path)
    hand = Threshold(0.9, ThresholdOrigin.USER)
    store_threshold_in(load_model_handle(path), hand, validation)

    reopened = load_model_handle(path)
    assert reopened.threshold == hand
    assert reopened.threshold.describe() == "0.9000 (set by hand)"
    at = reopened.metadata["metrics"]["at_threshold"]
    # Measured on the very pairs training chose its threshold on, at 0.9.
    pairs = validation_pairs(validation.labels, result.config.seed)
    assert len(pairs) == result.validation.pairs
    expected = metrics_at(pair_distances(reopened.embed(validation.images), pairs), pairs.same, 0.9)
    assert at["threshold"] == 0.9
    assert [at[k] for k in ("true_accepts", "false_accepts", "true_rejects", "false_rejects")] == [
        expected.true_accepts, expected.false_accepts, expected.true_rejects, expected.false_rejects]
    assert at["measured_on"] == result.validation_pairs_description
    assert reopened.metadata["metrics"]["validation"] == read_sidecar(saved_model)["metrics"]["validation"]


def test_without_the_validation_pairs_the_old_figures_are_dropped_and_say_why(saved_model, tmp_path):
    from siamese_gui.core.app.model_files import store_threshold_in
    from siamese_gui.core.evaluation.threshold import Threshold

    path = _copy_model(saved_model, tmp_path)
    # Other images than the model's validation images are not its validation pairs.
    store_threshold_in(load_model_handle(path), Threshold(0.9, ThresholdOrigin.USER), None)
    metrics = load_model_handle(path).metadata["metrics"]
    assert metrics["at_threshold"] is None
    assert "dropped when 0.9000 (set by hand) was saved" in metrics["at_threshold_note"]


def test_a_fallback_threshold_saved_and_reopened_says_fallback(saved_model, tmp_path):
    from siamese_gui.core.app.model_files import save_with_threshold
    from siamese_gui.core.evaluation.threshold import fallback_threshold
    from siamese_gui.core.runtime.copies import card_path, runtime_copy_path

    source = _copy_model(saved_model, tmp_path / "source")
    update_sidecar(source, threshold=None)
    handle = load_model_handle(source)
    assert handle.threshold == fallback_threshold("the model file records no threshold")
    written, _ = save_with_threshold(handle, tmp_path / "saved.keras", handle.threshold)

    reopened = load_model_handle(written).threshold
    assert reopened.origin is ThresholdOrigin.FALLBACK and reopened.value == FALLBACK_THRESHOLD
    assert "stored with the model" not in reopened.describe()
    assert load_model_handle(written).metadata["metrics"]["at_threshold"] is None
    copy_card = card_path(runtime_copy_path(written))
    if copy_card.exists():
        card = json.loads(copy_card.read_text())
        assert card["threshold"] == FALLBACK_THRESHOLD and card["threshold_origin"] == "fallback"


@pytest.mark.parametrize(
    "changes, detail",
    [
        ({"threshold": 0.3, "threshold_detail": "max accuracy on 2,000 validation pairs"},
         "max accuracy on 2,000 validation pairs"),
        ({"threshold": 0.3, "threshold_detail": ""}, "how it was chosen is not recorded"),
        ("best", "max accuracy on {pairs:,} validation pairs"),
    ],
    ids=["with-detail", "no-detail", "no-detail-best-threshold"],
)
def test_old_model_files_with_a_bare_threshold_read_as_stored_with_the_model(saved_model, tmp_path,
                                                                              changes, detail):
    info = read_sidecar(saved_model)
    validation = info["metrics"]["validation"]
    if changes == "best":
        changes = {"threshold": validation["best_threshold"], "threshold_detail": ""}
    path = _legacy_model(saved_model, tmp_path, threshold_origin=None, **changes)
    threshold = load_model_handle(path).threshold
    assert threshold.value == pytest.approx(changes["threshold"])
    assert threshold.origin is ThresholdOrigin.MODEL
    assert threshold.detail == detail.format(pairs=validation["pairs"])


def test_an_unknown_threshold_origin_is_refused(saved_model, tmp_path):
    path = _copy_model(saved_model, tmp_path)
    with pytest.raises(ModelFileError, match="unknown threshold origin 'guessed'"):
        update_sidecar(path, threshold_origin="guessed")
    bad = _legacy_model(saved_model, tmp_path, name="bad.keras", threshold_origin="guessed")
    assert_user_error(ModelFileError, lambda: load_model_handle(bad), bad, "unknown threshold origin")
