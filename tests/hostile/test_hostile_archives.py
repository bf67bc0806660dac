"""Hostile model archives: zip bombs, foreign members and odd files are refused before
TensorFlow or Keras see them, in little memory, leaving nothing behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
import zlib

import pytest
from helpers import assert_user_error
from hostile_helpers import cli_limited, declare_size, one_error_line, write_zip

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.runtime import archive
from siamese_gui.core.runtime.archive import open_model_file, read_model_archive

MiB = 2**20


def _refused(path, *words):
    return assert_user_error(ModelFileError, lambda: open_model_file(path), path, *words)


def test_archive_module_does_not_import_tensorflow():
    code = "import sys, siamese_gui.core.runtime.archive, siamese_gui.core.io.images; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# --- the two red-team archives, through the CLI, under a limit TensorFlow cannot start in ---


def test_config_claiming_gigabytes_is_refused_before_tensorflow(model_members, sample_images, tmp_path):
    # 5 MB would inflate to 3.9 GiB: declared in the zip headers, never inflated here.
    members = dict(model_members)
    members["config.json"] = bytes(5 * MiB)
    path = write_zip(tmp_path / "bomb.keras", members, zipfile.ZIP_DEFLATED)
    declare_size(path, "config.json", int(3.9 * 2**30))
    temp = tmp_path / "tmp"
    temp.mkdir()
    start = time.monotonic()
    done, peak, tf = cli_limited("compare", *map(str, sample_images), "--model", str(path), tmpdir=temp)
    one_error_line(done, "bomb.keras", "config.json", "limit")
    assert time.monotonic() - start < 30
    assert tf is False and peak < 400
    assert os.listdir(temp) == []


def test_many_large_members_are_refused_before_tensorflow(sample_images, tmp_path):
    # 12 members of 250 MiB of zeros each, as Keras would extract to $TMPDIR; built with
    # small members whose declared sizes are then raised.
    members = [(f"assets/blob{i}.bin", bytes(1024)) for i in range(12)]
    path = write_zip(tmp_path / "many.keras", members, zipfile.ZIP_DEFLATED)
    for name, _ in members:
        declare_size(path, name, 250 * MiB)
    temp = tmp_path / "tmp"
    temp.mkdir()
    done, peak, tf = cli_limited("compare", *map(str, sample_images), "--model", str(path), "--json",
                                 tmpdir=temp)
    line = one_error_line(done, "many.keras")
    assert "12 members" in line
    assert tf is False and peak < 400
    assert os.listdir(temp) == []


# --- each cap, just past it -----------------------------------------------------------------


def test_weights_member_just_over_its_cap(model_members, tmp_path):
    limit = archive.MEMBER_LIMITS["model.weights.h5"]
    path = write_zip(tmp_path / "w.keras", {**model_members, "model.weights.h5": bytes(limit + 1)},
                     zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2 * MiB
    _refused(path, "model.weights.h5", "limit", "refused unread")


def test_config_member_just_over_its_cap(model_members, tmp_path):
    limit = archive.MEMBER_LIMITS["config.json"]
    path = write_zip(tmp_path / "c.keras", {**model_members, "config.json": b" " * (limit + 1)},
                     zipfile.ZIP_DEFLATED)
    _refused(path, "config.json", "limit")


def test_members_each_under_their_caps_but_over_the_total(model_members, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 2 * MiB)
    members = {**model_members, "model.weights.h5": os.urandom(MiB), "config.json": b" " * (MiB - 10)}
    path = write_zip(tmp_path / "t.keras", members, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(archive, "MAX_RATIO", 10**6)
    _refused(path, "members would inflate", "limit")


def test_member_with_a_bomb_ratio(model_members, tmp_path):
    path = write_zip(tmp_path / "r.keras", {**model_members, "model.weights.h5": bytes(4 * MiB)},
                     zipfile.ZIP_DEFLATED)
    _refused(path, "model.weights.h5", "zip bomb")


def test_member_larger_than_it_declares_is_refused(model_members, tmp_path):
    path = write_zip(tmp_path / "lie.keras", model_members, zipfile.ZIP_DEFLATED)
    declare_size(path, "config.json", 10)
    _refused(path)


@pytest.mark.parametrize(
    "name", ["assets/evil.bin", "../../outside.txt", "/etc/passwd", "config.json/", "variables.h5"]
)
def test_member_a_model_of_ours_never_has(model_members, tmp_path, name):
    members = {k: v for k, v in model_members.items() if k != "metadata.json"}
    path = write_zip(tmp_path / "extra.keras", {**members, name: b"x"})
    _refused(path, "never has")


def test_member_twice(model_members, tmp_path):
    items = [(k, v) for k, v in model_members.items() if k != "metadata.json"] + [("config.json", b"{}")]
    with pytest.warns(UserWarning):
        path = write_zip(tmp_path / "twice.keras", items)
    _refused(path, "twice")


def test_too_many_directory_entries(tmp_path):
    path = write_zip(tmp_path / "crowd.keras", [(f"config.json{i}", b"") for i in range(9)])
    _refused(path, "9 members")


def test_unknown_compression_method(model_members, tmp_path):
    path = write_zip(tmp_path / "bz.keras", model_members, zipfile.ZIP_BZIP2)
    _refused(path, "compression method")


def test_file_over_the_archive_cap_is_not_read(tmp_path):
    path = tmp_path / "sparse.keras"
    with open(path, "wb") as handle:
        handle.truncate(archive.MAX_FILE_BYTES + 1)  # sparse: nothing written
    start = time.monotonic()
    _refused(path, "limit")
    assert time.monotonic() - start < 1


def test_symlink_to_dev_zero_is_refused(tmp_path):
    path = tmp_path / "zero.keras"
    os.symlink("/dev/zero", path)
    _refused(path, "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.keras"
    os.mkfifo(path)
    start = time.monotonic()
    _refused(path, "not a regular file")
    assert time.monotonic() - start < 1


def test_a_vetted_archive_is_what_keras_gets(model_members, saved_model):
    vetted = read_model_archive(saved_model)
    assert vetted.members == model_members
    with zipfile.ZipFile(io.BytesIO(vetted.keras_bytes())) as keras_part:
        assert sorted(keras_part.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]


def test_the_shipped_model_passes_the_caps():
    from siamese_gui.core.io.locations import default_model_path

    vetted = open_model_file(default_model_path())
    total = sum(len(v) for v in vetted.members.values())
    assert total < archive.MAX_TOTAL_BYTES / 10
    assert zlib.crc32(vetted.members["model.weights.h5"]) == 0x49DB9C14  # the weights it shipped with


def test_the_largest_model_our_settings_build_fits_the_caps(tmp_path):
    from siamese_gui.core.model.config import LIMITS
    from siamese_gui.core.model.networks import (
        HISTOGRAM_BINS,
        LEARNED,
        build_embedding_network,
        build_pair_model,
        mirror_averaged_fused,
    )
    from siamese_gui.core.runtime.store import MAX_PARAMETERS, load_model, save_model

    largest = LIMITS["embedding_dim"][1]
    network = build_embedding_network("default", largest, name="network")
    model = build_pair_model(mirror_averaged_fused(network.get_layer(LEARNED), 0.5))
    assert model.count_params() < MAX_PARAMETERS
    path = save_model(model, tmp_path / "largest.keras", {"threshold": 0.5})
    assert load_model(path).embedding.outputs[0].shape[-1] == largest + 36 * HISTOGRAM_BINS
