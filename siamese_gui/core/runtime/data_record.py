"""The data record of a model file: the lists in its metadata that grow with its data.

A model records its class names and, when it trained on a folder, each image's relative
path and SHA-256 (its split record, `core.data.splits`): megabytes for a folder of
100,000 images. Those lists live in their own archive member, `siamese_gui_data.bin`, so
that `siamese_gui.json` stays small, in a form whose counts and sizes are checked before
a single string is built:

    b"SGDATA1\\n"      magic and version
    u32               length of the header (little-endian)
    header            UTF-8 JSON: {"sections": [[name, count, bytes], ...]}
    payload           the sections, one after another, in the header's order

A section of strings (class names, paths) is UTF-8 with a NUL byte after each string
(no file or folder name holds NUL, so nothing is escaped); a section of digests holds
32 bytes per SHA-256. `siamese_gui.json` records the member's SHA-256 as `data_sha256`.

`split_data_record` takes the lists out of a model's metadata and encodes them;
`merge_data_record` checks and decodes a member and puts them back, so whatever reads a
model's metadata (`archive.model_metadata`) sees one dict, as models saved before this
member (lists inside `siamese_gui.json`) also give.
"""

from __future__ import annotations

import hashlib
import json
import struct

from siamese_gui.core.data.splits import Role, recorded_files
from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.io.safe_files import parse_json_object

DATA_MEMBER = "siamese_gui_data.bin"
DATA_SHA256_KEY = "data_sha256"
MAGIC = b"SGDATA1\n"
_PREFIX = len(MAGIC) + 4

# What a model file records at most: twice the 100,000 images a folder may have, each
# with its SHA-256 (32 bytes) and, on average, 128 bytes for its relative path
# ("class/file.png"), the NULs and its share of the class names. A record over these
# bounds is saved without its file list (`split_data_record`), so every saved model
# opens again; a member over them is refused unread (`archive.MEMBER_LIMITS`).
MAX_RECORDED_IMAGES = 200_000
BYTES_PER_IMAGE = 32 + 128
MAX_HEADER_BYTES = 4 * 2**10
MAX_DATA_BYTES = _PREFIX + MAX_HEADER_BYTES + MAX_RECORDED_IMAGES * BYTES_PER_IMAGE

_DIGEST = 32
_CLASS_SECTIONS = ("class_names", "split.seen_classes", "split.unseen_classes")
# Section name -> "strings" or "digests".
SECTIONS = dict.fromkeys(_CLASS_SECTIONS, "strings")
for _role in Role:
    SECTIONS[f"split.files.{_role.value}.paths"] = "strings"
    SECTIONS[f"split.files.{_role.value}.sha256"] = "digests"


# --- writing --------------------------------------------------------------------------


def split_data_record(metadata: dict) -> tuple[dict, bytes]:
    """Take the lists that grow with the data out of `metadata` and encode them.

    A split record of more than `MAX_RECORDED_IMAGES` images, or one that does not fit
    `MAX_DATA_BYTES`, is kept without its file list; its `files_omitted` says why, and
    `splits.held_out_images` then knows nothing of the training files.

    Returns:
        (`metadata` without those lists and with the member's SHA-256 as
        `data_sha256`, the member's bytes).

    Raises:
        ValueError: if a list holds something other than strings (or SHA-256 in hex),
            or the class names alone exceed `MAX_DATA_BYTES`.
    """
    info = dict(metadata)
    split = dict(info["split"]) if isinstance(info.get("split"), dict) else None
    sections = []
    if isinstance(info.get("class_names"), (list, tuple)):
        sections.append(("class_names", _encode_strings(info.pop("class_names"), "class_names")))
    if split is not None:
        for key in ("seen_classes", "unseen_classes"):
            if isinstance(split.get(key), (list, tuple)):
                sections.append((f"split.{key}", _encode_strings(split.pop(key), key)))
    files = _file_sections(split.pop("files", None)) if split is not None else []
    data = _encode(sections + files)
    if files:
        count = sum(encoded[0] for name, encoded in files if name.endswith(".sha256"))
        if count > MAX_RECORDED_IMAGES or len(data) > MAX_DATA_BYTES:
            split["files_omitted"] = (
                f"{count:,} images, more than a model file records ({MAX_RECORDED_IMAGES:,})"
                if count > MAX_RECORDED_IMAGES
                else f"the paths of its {count:,} images take {len(data):,} bytes, more than "
                f"a model file records ({MAX_DATA_BYTES:,})"
            )
            data = _encode(sections)
    if len(data) > MAX_DATA_BYTES:
        raise ValueError(f"its class names take {len(data):,} bytes, more than a model file "
                         f"records ({MAX_DATA_BYTES:,})")
    if split is not None:
        info["split"] = split
    info[DATA_SHA256_KEY] = hashlib.sha256(data).hexdigest()
    return info, data


def _file_sections(files) -> list:
    if not files:
        return []
    sections = []
    for role in Role:
        if role.value not in files:
            continue
        paths, hashes = recorded_files({"files": files}, role)
        if len(paths) != len(hashes):
            raise ValueError(f"the split record's {role.value} files have {len(paths)} paths "
                             f"and {len(hashes)} hashes")
        sections.append((f"split.files.{role.value}.paths", _encode_strings(paths, f"{role.value} paths")))
        sections.append((f"split.files.{role.value}.sha256", _encode_digests(hashes, role.value)))
    return sections


def _encode_strings(values, what: str) -> tuple[int, bytes]:
    values = list(values)
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"the {what} recorded are not all text")
    if not values:
        return 0, b""
    data = ("\0".join(values) + "\0").encode("utf-8", "surrogateescape")
    if data.count(b"\0") != len(values):
        raise ValueError(f"one of the {what} recorded holds a NUL character")
    return len(values), data


def _encode_digests(hashes: list, role: str) -> tuple[int, bytes]:
    if not all(isinstance(h, str) and len(h) == 2 * _DIGEST for h in hashes):
        raise ValueError(f"the split record's {role} hashes are not all SHA-256 in hex")
    try:
        digests = bytes.fromhex("".join(hashes))
    except ValueError:
        digests = b""
    if len(digests) != _DIGEST * len(hashes):  # fromhex also skips spaces
        raise ValueError(f"the split record's {role} hashes are not all SHA-256 in hex")
    return len(hashes), digests


def _encode(sections: list) -> bytes:
    header = json.dumps(
        {"sections": [[name, count, len(data)] for name, (count, data) in sections]},
        separators=(",", ":"),
    ).encode("utf-8")
    payload = b"".join(data for _, (_, data) in sections)
    return MAGIC + struct.pack("<I", len(header)) + header + payload


# --- reading --------------------------------------------------------------------------


def merge_data_record(info: dict, data: bytes, source: str) -> dict:
    """`info` with the lists of a data member put back (see the module docstring).

    Every count and size is checked against the header and the bounds above before
    anything is decoded, so a member costs at most its size plus one string per entry.

    Args:
        info: the model's metadata from `siamese_gui.json` (or a legacy sidecar).
        data: the member's bytes.
        source: names the member in messages ("PATH: its siamese_gui_data.bin").

    Raises:
        ModelFileError: naming `source`, if the member is not a data record within these
            bounds, or records a split that `info` lacks.
    """
    values = _decode(data, source)
    info = dict(info)
    split = info.get("split")
    if any(name.startswith("split.") for name in values):
        if not isinstance(split, dict):
            raise ModelFileError(f"{source}: records a data split its metadata does not have")
        split = info["split"] = dict(split)
    files = {}
    for name, value in values.items():
        if name == "class_names":
            info["class_names"] = value
        elif name in _CLASS_SECTIONS:
            split[name.split(".", 1)[1]] = value
        else:
            _, _, role, key = name.split(".")
            files.setdefault(role, {})[key] = value
    if files:
        split["files"] = {role.value: files[role.value] for role in Role if role.value in files}
    return info


def _bad(source: str, why: str) -> ModelFileError:
    return ModelFileError(f"{source}: not a valid data record ({why})")


def _decode(data: bytes, source: str) -> dict:
    if len(data) < _PREFIX or not data.startswith(MAGIC):
        raise _bad(source, "it does not start as one")
    (header_bytes,) = struct.unpack_from("<I", data, len(MAGIC))
    if header_bytes > MAX_HEADER_BYTES or _PREFIX + header_bytes > len(data):
        raise _bad(source, f"its header claims {header_bytes:,} bytes")
    header = parse_json_object(data[_PREFIX : _PREFIX + header_bytes], source, ModelFileError,
                               "data record header")
    sections = header.get("sections")
    if not isinstance(sections, list) or len(sections) > len(SECTIONS):
        raise _bad(source, "its header lists no sections we know")
    layout, images = [], 0
    for section in sections:
        if (
            not isinstance(section, list)
            or len(section) != 3
            or section[0] not in SECTIONS
            or any(type(n) is not int or n < 0 for n in section[1:])
        ):
            raise _bad(source, f"its header lists an unknown section {str(section)[:80]!r}")
        name, count, size = section
        if any(name == seen for seen, _, _ in layout):
            raise _bad(source, f"it holds {name} twice")
        if count > MAX_RECORDED_IMAGES:
            raise _bad(source, f"{name} claims {count:,} entries, more than the {MAX_RECORDED_IMAGES:,} "
                       "a model file records")
        if SECTIONS[name] == "digests":
            images += count
            if size != _DIGEST * count:
                raise _bad(source, f"{name} claims {count:,} digests in {size:,} bytes")
        layout.append((name, count, size))
    if images > MAX_RECORDED_IMAGES:
        raise _bad(source, f"it records {images:,} images, more than the {MAX_RECORDED_IMAGES:,} a "
                   "model file records")
    counts = {name: count for name, count, _ in layout}
    for role in Role:
        paths, hashes = (counts.get(f"split.files.{role.value}.{key}") for key in ("paths", "sha256"))
        if paths != hashes:
            raise _bad(source, f"its {role.value} files do not have one path and one SHA-256 each")
    offset = _PREFIX + header_bytes
    if offset + sum(size for _, _, size in layout) != len(data):
        raise _bad(source, "its sections do not add up to its size")
    values = {}
    for name, count, size in layout:
        chunk = data[offset : offset + size]
        offset += size
        if SECTIONS[name] == "digests":
            # One hex string per digest, split in C (a space after every 32 bytes).
            values[name] = chunk.hex(" ", _DIGEST).split(" ") if count else []
        else:
            values[name] = _decode_strings(chunk, count, name, source)
    return values


def _decode_strings(chunk: bytes, count: int, name: str, source: str) -> list[str]:
    if count == 0:
        if chunk:
            raise _bad(source, f"{name} holds bytes but no entries")
        return []
    if not chunk.endswith(b"\0") or chunk.count(b"\0") != count:
        raise _bad(source, f"{name} does not hold the {count:,} entries it claims")
    # As written: names that are not UTF-8 (surrogate-escaped by Python) come back as they were.
    return chunk[:-1].decode("utf-8", "surrogateescape").split("\0")


def inline_split_files(info: dict, source: str) -> dict:
    """`info` whose split record lists its files inside the metadata (models saved
    before the data member: `[path, sha256]` pairs per role), in the record's form.

    Raises:
        ModelFileError: naming `source`, if those lists are not paths and SHA-256.
    """
    split = info.get("split")
    if not isinstance(split, dict) or not split.get("files"):
        return info
    files = split["files"]
    if not isinstance(files, dict) or not set(files) <= {role.value for role in Role}:
        raise ModelFileError(f"{source}: its split record's files are not listed by role")
    converted = {}
    for role, entries in files.items():
        if isinstance(entries, dict):
            paths, hashes = entries.get("paths"), entries.get("sha256")
        elif isinstance(entries, list) and all(isinstance(e, list) and len(e) == 2 for e in entries):
            paths, hashes = [e[0] for e in entries], [e[1] for e in entries]
        else:
            paths = hashes = None
        if (
            not isinstance(paths, list)
            or not isinstance(hashes, list)
            or len(paths) != len(hashes)
            or not all(isinstance(v, str) for v in paths + hashes)
        ):
            raise ModelFileError(
                f"{source}: its split record's {role} files are not paths with their SHA-256"
            )
        converted[role] = {"paths": paths, "sha256": hashes}
    return {**info, "split": {**split, "files": converted}}
