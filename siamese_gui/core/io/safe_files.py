"""Read small files a user hands over without letting them exhaust memory or hang.

A path can name a symlink to `/dev/zero`, a FIFO nobody writes to, or a file that grows
while it is read. `read_regular_file` opens without blocking, checks the opened file (not
the name) is a regular file, and never reads more than its limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from siamese_gui.core.errors import SiameseError

# Deeper JSON than this is not something we wrote; parsing it recursively would overflow.
MAX_JSON_DEPTH = 64


def read_regular_file(
    path: str | os.PathLike, limit: int, error=SiameseError, what: str = "file", name: str | None = None
) -> bytes:
    """Return the bytes of a regular file of at most `limit` bytes.

    Args:
        path: the file.
        limit: the most bytes accepted.
        error: the `SiameseError` subclass to raise.
        what: what the file is, for the message ("sidecar", "model file", ...).
        name: how messages name the file; `path` when None.

    Raises:
        error: naming the file, if it is missing, not a regular file (folder, device,
            FIFO, socket), larger than `limit`, or unreadable.
    """
    opened = Path(path)
    path = opened if name is None else name
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(opened, flags)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise error(f"{path}: permission denied") from None
    except OSError as exc:
        raise error(f"{path}: cannot open the {what} ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file (a device, pipe or socket is never read)")
        if info.st_size > limit:
            raise error(f"{path}: {_size(info.st_size)} is over the {_size(limit)} limit")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise error(f"{path}: grew past the {_size(limit)} limit while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def parse_json_object(data: bytes, name: str, error=SiameseError, what: str = "JSON file") -> dict:
    """Parse UTF-8 JSON that must be an object nested at most `MAX_JSON_DEPTH` deep.

    NaN and Infinity literals are refused: they are not JSON, and no value of ours is one.

    Raises:
        error: naming `name`, if the bytes are not such an object.
    """
    depth = _max_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise error(f"{name}: not a valid {what} (nested {depth} levels deep; at most {MAX_JSON_DEPTH})")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{name}: not a valid {what} ({_first_line(exc)})") from None
    if not isinstance(value, dict):
        raise error(f"{name}: not a valid {what} (expected a JSON object)")
    return value


def _no_constant(token: str):
    raise ValueError(f"{token} is not a JSON number")


def _max_depth(data: bytes) -> int:
    """Return the deepest nesting of [ and { outside strings (a cheap byte scan)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return f"{n} bytes"


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, write, error: type, what: str) -> Path:
    """Write a file all at once or not at all: `write(temp_path)`, then one rename.

    The temp file sits in the target folder and gets a normal file's permissions.

    Args:
        path: the file to write.
        write: called with the temp file's path; writes the content.
        error: the `SiameseError` subclass to raise.
        what: what the file is, for the message ("the report").

    Raises:
        error: if the folder is missing or the file cannot be written.
    """
    import tempfile

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise error(f"{path}: folder {folder} does not exist")
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=path.suffix)
        os.close(fd)
        write(Path(temp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; the result is a normal file
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        raise error(f"{path}: cannot write {what} ({exc.strerror or exc})") from None
    finally:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
    return path
