"""Read small files a user hands over without letting them exhaust memory or hang.

A path can name a symlink to `/dev/zero`, a FIFO nobody writes to, or a file that grows
while it is read. `read_regular_file` opens without blocking, checks the opened file (not
the name) is a regular file, and never reads more than its limit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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
    fd = _open_regular(path, limit, error, what, name)
    path = Path(path) if name is None else name
    try:
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


def _open_regular(path, limit: int, error=SiameseError, what: str = "file", name: str | None = None) -> int:
    """Open a file without blocking and return its descriptor, once it is known to be a
    regular file of at most `limit` bytes (see `read_regular_file` for the errors)."""
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
    except BaseException:
        os.close(fd)
        raise
    return fd


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
    """Return the hex SHA-256 of a regular file, read in 1 MiB blocks.

    Raises:
        OSError: if the file cannot be opened or is not a regular file (a FIFO would
            block forever, a device never end).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path}: not a regular file")
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- bounded .npz reading ----------------------------------------------------------------

# numpy's own .npz files store members uncompressed; `savez_compressed` of float32 data
# shrinks a few times at most. Far past this ratio a member is a bomb.
MAX_NPZ_RATIO = 100
_NPZ_RATIO_FLOOR = 64 * 2**10


def read_npz_arrays(
    path: str | os.PathLike,
    names: Iterable[str],
    file_limit: int,
    total_limit: int,
    error=SiameseError,
    what: str = "array file",
) -> dict:
    """Read the arrays of a `.npz` file without trusting it.

    The file must be regular and at most `file_limit` bytes; its zip directory is read
    first and the file refused, before anything is inflated, if it holds a member other
    than `NAME.npy` for a NAME in `names` (or one twice), members that would inflate past
    `total_limit` bytes in all, or a member compressed more than `MAX_NPZ_RATIO` times.
    Arrays are parsed with `allow_pickle=False` (object arrays are refused).

    Returns:
        name -> array, for the names present (the caller checks which it needs).

    Raises:
        error: naming the file and the problem.
    """
    allowed = {f"{name}.npy": name for name in names}
    fd = _open_regular(path, file_limit, error, what)
    with os.fdopen(fd, "rb") as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
            raise error(f"{path}: not a readable {what} (not a .npz archive: {_first_line(exc)})") from None
        with archive:
            infos = archive.infolist()
            seen = set()
            total = 0
            for info in infos:
                if info.filename not in allowed:
                    raise error(f"{path}: holds {info.filename!r}, which no {what} of ours has (refused unread)")
                if info.filename in seen:
                    raise error(f"{path}: not a readable {what} (holds {info.filename!r} twice)")
                seen.add(info.filename)
                total += info.file_size
                if total > total_limit:
                    raise error(f"{path}: its members would inflate past the {_size(total_limit)} limit "
                                "(refused unread)")
                ratio = info.file_size // max(info.compress_size, 1)
                if info.file_size > _NPZ_RATIO_FLOOR and ratio > MAX_NPZ_RATIO:
                    raise error(f"{path}: {info.filename} would inflate {ratio} times "
                                f"(more than {MAX_NPZ_RATIO}; refused unread)")
            arrays = {}
            for info in infos:
                try:
                    with archive.open(info) as member:
                        raw = member.read(info.file_size + 1)
                    if len(raw) != info.file_size:
                        raise ValueError("its size differs from the zip directory's")
                    arrays[allowed[info.filename]] = _npy_array(raw)
                except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error, zlib.error,
                        NotImplementedError, SyntaxError, TypeError, MemoryError) as exc:
                    raise error(f"{path}: not a readable {what} ({info.filename}: {_first_line(exc)})") from None
    return arrays


def _npy_array(raw: bytes):
    """Parse one `.npy` member from its bytes: the header must describe exactly the data
    that follows (numpy's own reader would allocate what a forged header claims first)."""
    import math

    import numpy as np

    buffer = io.BytesIO(raw)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError(f"npy format version {version} is not read")
    if dtype.hasobject:
        raise ValueError("an object array (pickled data) is never loaded")
    count = math.prod(shape)
    if dtype.itemsize == 0 or count * dtype.itemsize != len(raw) - buffer.tell():
        raise ValueError(f"its header claims {shape} of {dtype}, which is not the data that follows")
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=buffer.tell())
    return array.reshape(shape, order="F" if fortran else "C").copy()


# --- output files ---------------------------------------------------------------------------


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file look like text (no NUL byte, not an archive or PDF)."""
    return b"\x00" not in head and not head.startswith((b"PK\x03\x04", b"%PDF"))


def looks_like_zip(head: bytes) -> bool:
    """Whether the first bytes of a file are a zip archive's (`.keras`, `.npz`)."""
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def looks_like_pdf(head: bytes) -> bool:
    return head.startswith(b"%PDF-")


@dataclass(frozen=True)
class OutputKind:
    """What an output file is, so that an existing file is replaced only by its own kind.

    Attributes:
        what: the kind in words, for messages ("results CSV").
        recognise: whether the first 4 KiB of an existing, non-empty file are this kind.
    """

    what: str
    recognise: Callable[[bytes], bool] | None = None


_HEAD_BYTES = 4096
_TEMP_RANDOM = 8  # random hex characters in a temp file's name (the length `store` cleans up)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _temp_prefix(path: Path, folder: Path, suffix: str | None = None) -> tuple[str, str]:
    """The prefix and suffix of a temp file beside `path`, short enough for the folder."""
    suffix = ".tmp" + (path.suffix if suffix is None else suffix)[:16]
    room = max(1, _name_max(folder) - len(suffix) - _TEMP_RANDOM - 3)
    stem = os.fsencode(path.stem)[:room].decode("utf-8", "ignore") or "out"
    return f".{stem}.", suffix


def create_temp_beside(path: Path, folder: Path | None = None, suffix: str | None = None) -> tuple[int, Path]:
    """Create a new temp file beside `path` exclusively (O_CREAT | O_EXCL, random name,
    never through a symlink); return its open descriptor and path.

    The name is `.STEM.RANDOM.tmpSUFFIX` (`suffix`: `path`'s own when None), the stem cut short where the folder's name
    limit needs it. The file gets a normal new file's permissions.
    """
    path = Path(path)
    if folder is None:
        folder = path.parent if str(path.parent) else Path(".")
    prefix, suffix = _temp_prefix(path, folder, suffix)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    umask = os.umask(0)
    os.umask(umask)
    for _ in range(100):
        temp = folder / f"{prefix}{secrets.token_hex(_TEMP_RANDOM // 2)}{suffix}"
        try:
            return os.open(temp, flags, 0o666 & ~umask), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temp file name")


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_replaceable(path: Path, kind: OutputKind, error=SiameseError, inputs=()) -> None:
    """Refuse what stands at `path` unless it is missing or a regular file of `kind` that
    is none of `inputs` (call it again just before the rename that replaces it)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise error(f"{path}: cannot check the output path ({exc.strerror or exc})") from None
    if stat.S_ISLNK(info.st_mode):
        raise error(f"{path}: is a symbolic link; refusing to write through it (name a new file)")
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is a device, pipe or socket, not a regular file; refusing to replace it")
    for source in inputs:
        if source is None:
            continue
        try:
            if _same_file(info, os.stat(source)):
                raise error(f"{path}: is the input file {source}; refusing to overwrite it")
        except OSError:
            continue
    if kind.recognise is None or info.st_size == 0:
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        try:
            head = os.read(fd, _HEAD_BYTES)
        finally:
            os.close(fd)
    except OSError as exc:
        raise error(f"{path}: cannot check the existing file ({exc.strerror or exc})") from None
    if not kind.recognise(head):
        raise error(f"{path}: exists and is not a {kind.what}; refusing to replace it "
                    "(choose another name or remove it first)")


def check_output(
    path: str | os.PathLike,
    kind: OutputKind,
    error=SiameseError,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Path:
    """Refuse an output path before any long work starts.

    Checks that the file name fits the folder's limit, the folder exists and a temp file
    can be created in it (permissions, read-only disk), and that what stands at `path`
    is nothing or a regular file of `kind` that is none of `inputs`: never a symlink, a
    folder, a device node, a FIFO or a socket.

    Returns:
        `path` as a `Path`.

    Raises:
        error: one line naming the path and the problem.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise error(f"{path}: not a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise error(f"{path}: folder {folder} does not exist")
    limit = _name_max(folder)
    if len(os.fsencode(path.name)) > limit:
        raise error(f"{path}: file name too long ({len(os.fsencode(path.name))} bytes; at most {limit})")
    inputs = tuple(inputs)
    check_replaceable(path, kind, error, inputs)
    try:
        fd, temp = create_temp_beside(path, folder)
    except OSError as exc:
        raise error(f"{path}: cannot write in folder {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        os.unlink(temp)
    except OSError:
        pass
    return path


def write_atomically(
    path: str | os.PathLike,
    write: Callable,
    error=SiameseError,
    what: str = "the file",
    kind: OutputKind | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Path:
    """Write a file all at once or not at all: `write(handle)` into a temp file, then one rename.

    The one writer of every user-named output. The target is checked by `check_output`
    (again, just before the rename); the temp file is created exclusively with a random
    name beside the target and written through its open handle, so that nothing planted
    at a name, and no second run on the same target, is ever written through.

    Args:
        path: the file to write.
        write: called with the temp file's open binary handle; writes the content.
        error: the `SiameseError` subclass to raise.
        what: what the file is, for the message ("the report").
        kind: what an existing file at `path` must be to be replaced.
        inputs: files the output must not be (the command's inputs).

    Raises:
        error: if the target is refused or the file cannot be written.
    """
    kind = kind or OutputKind(what)
    inputs = tuple(inputs)
    path = check_output(path, kind, error, inputs)
    folder = path.parent if str(path.parent) else Path(".")
    temp = None
    try:
        fd, temp = create_temp_beside(path, folder)
        with os.fdopen(fd, "w+b") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            created = os.fstat(handle.fileno())
        try:
            now = os.lstat(temp)
        except OSError:
            now = None
        if now is None or not _same_file(now, created) or not stat.S_ISREG(now.st_mode):
            raise error(f"{path}: its temp file {temp.name} was replaced while being written")
        check_replaceable(path, kind, error, inputs)
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        raise error(f"{path}: cannot write {what} ({exc.strerror or exc})") from None
    finally:
        if temp is not None:
            try:
                if stat.S_ISREG(os.lstat(temp).st_mode):
                    os.unlink(temp)
            except OSError:
                pass
    return path
