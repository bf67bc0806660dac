"""Hostile data records: a siamese_gui_data.bin that is a bomb, over its cap, lies about
its counts or sizes, or does not belong to its metadata is refused with one line naming
the file, before TensorFlow starts and before anything in it is decoded."""

from __future__ import annotations

import hashlib
import json
import struct
import time
import zipfile

import pytest
from helpers import assert_user_error
from hostile_helpers import cli_limited, declare_size, one_error_line, write_zip

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.runtime import archive, data_record
from siamese_gui.core.runtime.archive import model_metadata, open_model_file

DATA = data_record.DATA_MEMBER
MiB = 2**20


def _metadata_of(path):
    return model_metadata(open_model_file(path))


def _refused(path, *words):
    return assert_user_error(ModelFileError, lambda: _metadata_of(path), path, *words)


def _with_data(members: dict, data: bytes, path, *, split=True, compression=zipfile.ZIP_DEFLATED, **fields):
    """A model whose siamese_gui.json records `data` as its data member (so the SHA-256
    check passes and the member itself is what is judged)."""
    info = json.loads(members["siamese_gui.json"])
    info[data_record.DATA_SHA256_KEY] = hashlib.sha256(data).hexdigest()
    if split:
        info["split"] = {"kind": "image_folder", "seed": 0}
    info.update(fields)
    items = [(k, v) for k, v in members.items() if k not in ("siamese_gui.json", DATA)]
    items += [("siamese_gui.json", json.dumps(info).encode())]
    with zipfile.ZipFile(path, "w") as zipped:
        for name, content in items:
            zipped.writestr(zipfile.ZipInfo(name), content)
        zipped.writestr(zipfile.ZipInfo(DATA), data, compress_type=compression)
    return path


def _record(sections, payload: bytes | None = None, header: bytes | None = None) -> bytes:
    """A data member with `sections` ([name, count, bytes]) in its header and `payload`."""
    header = header if header is not None else json.dumps({"sections": sections}).encode()
    return data_record.MAGIC + struct.pack("<I", len(header)) + header + (payload or b"")


def test_the_saved_model_has_a_data_record(model_members):
    assert DATA in model_members
    assert model_members[DATA].startswith(data_record.MAGIC)


# --- size and ratio: refused unread ------------------------------------------------------


def test_data_record_declared_over_its_cap_is_refused_unread(model_members, tmp_path):
    path = _with_data(model_members, _record([]), tmp_path / "big.keras")
    declare_size(path, DATA, archive.MEMBER_LIMITS[DATA] + 1)
    _refused(path, DATA, "limit", "refused unread")


def test_data_record_just_over_its_cap_is_refused_unread(model_members, tmp_path):
    data = _record([]) + bytes(archive.MEMBER_LIMITS[DATA] + 1 - len(_record([])))
    path = _with_data(model_members, data, tmp_path / "over.keras")
    assert path.stat().st_size < MiB  # zeros: deflated to almost nothing
    _refused(path, DATA, "limit", "refused unread")


def test_data_record_bomb_through_the_cli_before_tensorflow(model_members, sample_images, tmp_path):
    # 30 MiB of zeros, under the member's cap, deflated about 1000:1.
    data = _record([["class_names", 1, 30 * MiB]], bytes(30 * MiB - 1) + b"\0")
    path = _with_data(model_members, data, tmp_path / "bomb.keras", split=False)
    assert path.stat().st_size < 2 * MiB
    start = time.monotonic()
    done, peak, tf = cli_limited("compare", *map(str, sample_images), "--model", str(path))
    one_error_line(done, "bomb.keras", DATA, "zip bomb")
    assert time.monotonic() - start < 30
    assert tf is False and peak < 400


def test_data_record_claiming_gigabytes_through_the_cli(model_members, sample_images, tmp_path):
    path = _with_data(model_members, _record([]), tmp_path / "claim.keras")
    declare_size(path, DATA, int(3.9 * 2**30))
    done, peak, tf = cli_limited("evaluate", str(path), "--image-folder", str(tmp_path), "--json")
    one_error_line(done, "claim.keras", DATA, "limit")
    assert tf is False and peak < 400


# --- the member's form: checked before anything is decoded --------------------------------

DIGEST = hashlib.sha256(b"x").digest()
FORGED = {
    "not-a-record": (b"PK\x03\x04 something else", "does not start"),
    "short": (data_record.MAGIC, "does not start"),
    "header-past-the-end": (data_record.MAGIC + struct.pack("<I", 4000) + b"{}", "header claims"),
    "header-too-large": (data_record.MAGIC + struct.pack("<I", 10**9), "header claims"),
    "header-nested-deep": (_record(None, header=b"[" * 2000 + b"]" * 2000), "nested"),
    "header-not-json": (_record(None, header=b"\xff\xfe"), "not a valid"),
    "no-sections": (_record(None, header=b'{"sections": 3}'), "no sections"),
    "unknown-section": (_record([["weights", 0, 0]]), "unknown section"),
    "negative-count": (_record([["class_names", -1, 0]]), "unknown section"),
    "bool-count": (_record([["class_names", True, 2]], b"a\0"), "unknown section"),
    "twice": (_record([["class_names", 1, 2], ["class_names", 1, 2]], b"a\0b\0"), "twice"),
    "a-billion-names": (_record([["class_names", 10**9, 10**9]]), "claims 1,000,000,000"),
    "more-images-than-recorded": (
        _record([[f"split.files.{r}.sha256", 90_000, 32 * 90_000] for r in ("train", "validation", "test")]),
        "270,000 images",
    ),
    "digests-of-the-wrong-size": (_record([["split.files.train.sha256", 2, 33]], bytes(33)), "digests"),
    "sections-short-of-the-size": (_record([["class_names", 1, 2]], b"a\0extra"), "add up"),
    "sections-past-the-size": (_record([["class_names", 1, 20]], b"a\0"), "add up"),
    "fewer-names-than-claimed": (_record([["class_names", 3, 4]], b"a\0b\0"), "3 entries"),
    "more-names-than-claimed": (_record([["class_names", 1, 4]], b"a\0b\0"), "1 entries"),
    "no-final-nul": (_record([["class_names", 1, 2]], b"ab"), "1 entries"),
    "bytes-but-no-names": (_record([["class_names", 0, 2]], b"a\0"), "no entries"),
    "paths-without-digests": (_record([["split.files.test.paths", 1, 2]], b"a\0"), "one path and one SHA-256"),
    "more-digests-than-paths": (
        _record([["split.files.test.paths", 1, 2], ["split.files.test.sha256", 2, 64]], b"a\0" + DIGEST * 2),
        "one path and one SHA-256",
    ),
}


@pytest.mark.parametrize("case", FORGED)
def test_forged_data_record_is_refused(model_members, tmp_path, case):
    data, words = FORGED[case]
    path = _with_data(model_members, data, tmp_path / "forged.keras")
    message = _refused(path, DATA, words)
    assert len(message) < 400


def test_a_data_record_of_a_split_the_metadata_lacks(model_members, tmp_path):
    data = _record([["split.unseen_classes", 1, 2]], b"a\0")
    path = _with_data(model_members, data, tmp_path / "nosplit.keras", split=False)
    _refused(path, DATA, "split")


def test_a_data_record_changed_after_the_save(model_members, tmp_path):
    changed = {**model_members, DATA: _record([["class_names", 2, 12]], b"other\0names\0")}
    path = write_zip(tmp_path / "changed.keras", changed)
    _refused(path, DATA, "SHA-256", "changed")


def test_metadata_naming_a_data_record_the_file_lacks(model_members, tmp_path):
    members = {k: v for k, v in model_members.items() if k != DATA}
    path = write_zip(tmp_path / "missing.keras", members)
    _refused(path, DATA, "does not hold")


def test_a_data_record_the_metadata_does_not_name(model_members, tmp_path):
    info = json.loads(model_members["siamese_gui.json"])
    info.pop(data_record.DATA_SHA256_KEY)
    path = write_zip(tmp_path / "unnamed.keras", {**model_members, "siamese_gui.json": json.dumps(info).encode()})
    _refused(path, DATA, "SHA-256")


# --- the record inside siamese_gui.json (models saved before the data member) --------------


@pytest.mark.parametrize(
    "files",
    [
        [["a.png", "0" * 64]],
        {"elsewhere": [["a.png", "0" * 64]]},
        {"train": [["a.png"]]},
        {"train": [["a.png", 3]]},
        {"train": "a.png"},
        {"train": {"paths": ["a.png", "b.png"], "sha256": ["0" * 64]}},
    ],
    ids=range(6),
)
def test_a_malformed_inline_record_is_refused(model_members, tmp_path, files):
    info = json.loads(model_members["siamese_gui.json"])
    info.pop(data_record.DATA_SHA256_KEY)
    info["split"] = {"kind": "image_folder", "files": files}
    members = {k: v for k, v in model_members.items() if k != DATA}
    path = write_zip(tmp_path / "old.keras", {**members, "siamese_gui.json": json.dumps(info).encode()})
    _refused(path, "split record")
