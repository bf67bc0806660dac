"""Inspect a `.keras` archive before Keras sees it.

A `.keras` file is a zip archive. Keras inflates what it names, so a few megabytes on
disk can claim gigabytes of JSON or weights, or many members that Keras extracts to
disk. `read_model_archive` reads the file once, with a size limit, and accepts only the
members a model of ours has, each under the cap of what that member legitimately holds
(the largest network our settings build; the data record of
`data_record.MAX_RECORDED_IMAGES` images), all together under their sum, and with a
bounded compression ratio. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.io.safe_files import (
    OutputKind,
    check_output,
    looks_like_zip,
    parse_json_object,
    read_regular_file,
)
from siamese_gui.core.runtime.data_record import (
    DATA_MEMBER,
    DATA_SHA256_KEY,
    MAX_DATA_BYTES,
    inline_split_files,
    merge_data_record,
)
from siamese_gui.core.runtime.metadata_schema import check_metadata

CONFIG_MEMBER = "config.json"
KERAS_METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
# Our settings, threshold and the hashes of the members above, inside the same archive so
# that one rename replaces model and metadata together. The lists that grow with the
# training data (class names, the split's files) are in DATA_MEMBER (format 3); models
# of format 2 hold them in this member, up to its cap.
METADATA_MEMBER = "siamese_gui.json"
METADATA_FORMAT = 3
MAX_SIDECAR_BYTES = 1 * 2**20

KiB, MiB = 2**10, 2**20
# The largest model our settings allow (embedding size 1,024) has about 13.5 MiB of weights;
# the shipped one 1.1 MiB. Without its data lists the metadata is settings, figures and a
# loss history of at most 10,000 epochs (about 0.6 MiB).
MEMBER_LIMITS = {
    CONFIG_MEMBER: 1 * MiB,
    KERAS_METADATA_MEMBER: 64 * KiB,
    WEIGHTS_MEMBER: 24 * MiB,
    METADATA_MEMBER: 1 * MiB,
    DATA_MEMBER: MAX_DATA_BYTES,
}
REQUIRED_MEMBERS = (CONFIG_MEMBER, WEIGHTS_MEMBER)
MAX_TOTAL_BYTES = 26 * MiB + MAX_DATA_BYTES
# Stored members take their size plus headers; deflated ones less.
MAX_FILE_BYTES = MAX_TOTAL_BYTES + 6 * MiB
# JSON deflates about 10:1; past this a member is a bomb whatever its declared size.
MAX_RATIO = 100
_RATIO_FLOOR = 64 * KiB  # tiny members compress arbitrarily well and harm nothing
_MAX_DIRECTORY_BYTES = 16 * KiB


@dataclass(frozen=True)
class ModelArchive:
    """The vetted members of a `.keras` file.

    Attributes:
        path: the file.
        members: member name -> uncompressed bytes (only names in `MEMBER_LIMITS`).
        compression: member name -> its zip compression method.
        file_sha256: hex SHA-256 of the whole file as read.
    """

    path: Path
    members: dict
    compression: dict
    file_sha256: str = ""

    def sha256(self, name: str) -> str:
        """Return the hex SHA-256 of a member's uncompressed bytes."""
        return hashlib.sha256(self.members[name]).hexdigest()

    def keras_bytes(self) -> bytes:
        """Return a new archive holding only the members Keras reads."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in (KERAS_METADATA_MEMBER, CONFIG_MEMBER, WEIGHTS_MEMBER):
                if name in self.members:
                    archive.writestr(name, self.members[name])
        return buffer.getvalue()


def read_model_archive(path: str | os.PathLike) -> ModelArchive:
    """Read and vet a `.keras` archive.

    Raises:
        ModelFileError: naming the file, if it is not a regular file, too large, not a
            zip archive, holds a member that a model of ours does not have (or twice), a
            member over its cap, more than `MAX_TOTAL_BYTES` in all, a member that
            inflates more than `MAX_RATIO` times, or a corrupt member.
    """
    path = Path(path)
    data = read_regular_file(path, MAX_FILE_BYTES, ModelFileError, "model file")
    _check_directory(data, path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated (not a valid .keras archive: {exc})") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        for name in names:
            if name not in MEMBER_LIMITS:
                raise ModelFileError(
                    f"{path}: holds {name!r}, which a model file of ours never has (refused unread)"
                )
        if len(set(names)) != len(names):
            raise ModelFileError(f"{path}: holds a member twice (refused unread)")
        missing = [name for name in REQUIRED_MEMBERS if name not in names]
        if missing:
            raise ModelFileError(f"{path}: cannot load the model (no {missing[0]} inside the archive)")
        total = 0
        for info in infos:
            limit = MEMBER_LIMITS[info.filename]
            if info.file_size > limit:
                raise ModelFileError(
                    f"{path}: its {info.filename} would inflate to {_size(info.file_size)}, "
                    f"over the {_size(limit)} limit (refused unread)"
                )
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise ModelFileError(
                    f"{path}: its {info.filename} inflates {info.file_size // max(info.compress_size, 1)}"
                    f" times (at most {MAX_RATIO}); refused as a zip bomb"
                )
            if info.flag_bits & 0x1:
                raise ModelFileError(f"{path}: its {info.filename} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(
                    f"{path}: its {info.filename} uses zip compression method {info.compress_type}"
                    " (only stored and deflated members are read)"
                )
        if total > MAX_TOTAL_BYTES:
            raise ModelFileError(
                f"{path}: its members would inflate to {_size(total)}, over the "
                f"{_size(MAX_TOTAL_BYTES)} limit (refused unread)"
            )
        members = {}
        for info in infos:
            try:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
                raise ModelFileError(
                    f"{path}: corrupt or truncated (its {info.filename} cannot be read: {exc})"
                ) from None
            if len(content) != info.file_size:
                raise ModelFileError(f"{path}: corrupt (its {info.filename} is not the size it declares)")
            members[info.filename] = content
        compression = {info.filename: info.compress_type for info in infos}
    return ModelArchive(path, members, compression, hashlib.sha256(data).hexdigest())


def open_model_file(path: str | os.PathLike) -> ModelArchive:
    """Check a model path's suffix, then read and vet its archive (`read_model_archive`).

    Raises:
        ModelFileError: on a legacy HDF5 or other non-`.keras` name, or what
            `read_model_archive` refuses.
    """
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ModelFileError(
            f"{path}: legacy HDF5 models are not loaded; only .keras files load safely"
        )
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras model file")
    return read_model_archive(path)


# An existing file is replaced by a save only if it is a zip archive like a model file.
MODEL_OUTPUT = OutputKind("model file (.keras)", looks_like_zip)


def check_model_target(path: str | os.PathLike, inputs=()) -> Path:
    """Refuse a path to save a model to, before any training (see `safe_files.check_output`).

    Raises:
        ModelFileError: on another suffix than .keras, a name too long for the folder, a
            missing or unwritable folder, or something there other than a model file.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: model files must end in .keras")
    return check_output(path, MODEL_OUTPUT, ModelFileError, inputs)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the path of a legacy model's sidecar: the same name with `.json`."""
    return Path(path).with_suffix(".json")


def check_metadata_values(metadata: dict, source: str) -> None:
    """Refuse metadata values that would mislead (see `metadata_schema.check_metadata`).

    Raises:
        ModelFileError: naming `source`.
    """
    check_metadata(metadata, source)


def model_metadata(archive: ModelArchive) -> dict:
    """Return a vetted archive's metadata, checked against its members.

    The metadata is the archive's `siamese_gui.json` with the lists of its data member
    put back (`data_record.merge_data_record`); a model saved before that member existed
    keeps them inside the metadata, one saved before the metadata moved inside uses its
    sidecar `.json`, which must record the SHA-256 of the whole file.

    Raises:
        ModelFileError: if the metadata is missing, not a JSON object, records hashes
            that do not match the model or its data member, or holds an invalid
            threshold, or the data member is not a valid data record.
    """
    path = archive.path
    if METADATA_MEMBER not in archive.members:
        info = _legacy_sidecar(archive)
    else:
        info = parse_json_object(
            archive.members[METADATA_MEMBER], f"{path}: its {METADATA_MEMBER}", ModelFileError, "metadata file"
        )
        for member, key in ((CONFIG_MEMBER, "config_sha256"), (WEIGHTS_MEMBER, "weights_sha256")):
            if info.get(key) != archive.sha256(member):
                raise ModelFileError(
                    f"{path}: its {member} does not match the SHA-256 its metadata records; "
                    "refused, the file was changed after it was saved"
                )
    info = inline_split_files(info, f"{path}: its metadata")
    if DATA_MEMBER in archive.members:
        if info.get(DATA_SHA256_KEY) != archive.sha256(DATA_MEMBER):
            raise ModelFileError(
                f"{path}: its {DATA_MEMBER} does not match the SHA-256 its metadata records; "
                "refused, the file was changed after it was saved"
            )
        info = merge_data_record(info, archive.members[DATA_MEMBER], f"{path}: its {DATA_MEMBER}")
    elif info.get(DATA_SHA256_KEY) is not None:
        raise ModelFileError(
            f"{path}: its metadata records a {DATA_MEMBER} the file does not hold; refused, "
            "the file was changed after it was saved"
        )
    check_metadata_values(info, str(path))
    return info


def _legacy_sidecar(archive: ModelArchive) -> dict:
    path = archive.path
    target = sidecar_path(path)
    if not target.exists() and not target.is_symlink():
        raise ModelFileError(
            f"{path}: holds no {METADATA_MEMBER} and its sidecar {target.name} is missing "
            "(save models with siamese-gui to create them)"
        )
    name = f"{path}: its sidecar {target.name}"
    data = read_regular_file(target, MAX_SIDECAR_BYTES, ModelFileError, "sidecar", name)
    info = parse_json_object(data, name, ModelFileError, "sidecar")
    if info.get("sha256") != archive.file_sha256:
        raise ModelFileError(
            f"{path}: does not match its sidecar {target.name} (SHA-256 differs); "
            "refused, the model or its metadata changed since they were saved"
        )
    return info


def _check_directory(data: bytes, path: Path) -> None:
    """Refuse archives whose central directory is large or zip64 before parsing it.

    `zipfile` builds one object per directory entry; a crafted directory of a million
    entries would cost far more memory than the file's size.
    """
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - (22 + 65535)))
    if end < 0 or end + 22 > len(data):
        raise ModelFileError(f"{path}: corrupt or truncated (not a valid .keras archive)")
    _, _, on_disk, entries, size, offset, _ = struct.unpack("<HHHHIIH", data[end + 4 : end + 22])
    if entries == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:
        raise ModelFileError(f"{path}: a zip64 archive; model files of ours are never one")
    if entries > len(MEMBER_LIMITS) or on_disk != entries:
        raise ModelFileError(
            f"{path}: holds {entries} members; a model file of ours has at most {len(MEMBER_LIMITS)}"
        )
    if size > _MAX_DIRECTORY_BYTES:
        raise ModelFileError(f"{path}: corrupt (its zip directory is {_size(size)})")


def write_archive(path: str | os.PathLike, members: dict, compression: dict | None = None) -> None:
    """Write `members` (name -> bytes) as a new zip archive at `path`, then fsync it.

    Args:
        path: the file to create or overwrite.
        members: member name -> bytes, written in this order.
        compression: member name -> zip method; stored when not given.
    """
    compression = compression or {}
    with open(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w") as archive:
            for name, content in members.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = compression.get(name, zipfile.ZIP_STORED)
                info.external_attr = 0o644 << 16
                archive.writestr(info, content)
        handle.flush()
        os.fsync(handle.fileno())


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n} bytes"
