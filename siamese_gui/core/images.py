"""Turn any image file a user gives into the 28x28 float32 array the model sees."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from siamese_gui.core.errors import ImageError

IMAGE_SIZE = 28
MAX_FILE_BYTES = 50 * 2**20
MAX_PIXELS = 40_000_000
# Longest side kept before letterboxing: squaring a 1 x 1,000,000 strip (under the
# pixel cap) would otherwise ask for terabytes.
_WORK_SIDE = 1024
# OpenCV reads this when it is first imported; it refuses larger images itself too.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402  (must follow the environment setting above)

if "OPENCV_LOG_LEVEL" not in os.environ:
    # A corrupt file makes OpenCV log its own error line to stderr; the reason reaches
    # the user as an ImageError instead, so the CLI's error stays one line.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

# EXIF orientation code -> the transform that shows the stored pixels upright.
_EXIF_ROTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
}


def header_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) declared by a PNG, JPEG, GIF or BMP header, or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def exif_orientation(data: bytes) -> int:
    """Return the EXIF orientation (1-8) stored in a JPEG, or 1 when there is none."""
    if data[:2] != b"\xff\xd8":
        return 1
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10 : pos + 2 + length])
        if marker == 0xDA:  # start of scan: no more metadata
            return 1
        pos += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    endian = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            break
        tag, _, _, value = struct.unpack(endian + "HHIH", tiff[entry : entry + 10])
        if tag == 0x0112:
            return value if 1 <= value <= 8 else 1
    return 1


def _to_unit_gray(raw: np.ndarray) -> np.ndarray:
    """Convert a decoded image of any depth and channel count to gray float32 in [0, 1]."""
    if raw.dtype == np.uint8:
        scale = 255.0
    elif raw.dtype == np.uint16:
        scale = 65535.0
    elif raw.dtype.kind == "f":
        scale = 1.0
    else:
        raise ValueError(f"unsupported pixel type {raw.dtype}")
    if raw.dtype.kind == "f":
        # Float formats (PFM, HDR) can hold NaN and infinities; they must not reach the model.
        img = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    else:
        img = raw.astype(np.float32) / scale
    if img.ndim == 2:
        return np.clip(img, 0.0, 1.0)
    channels = img.shape[2]
    if channels == 1:
        return np.clip(img[:, :, 0], 0.0, 1.0)
    gray = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2GRAY)
    if channels == 4:
        alpha = img[:, :, 3]
        # Composite over the background that contrasts with the visible object, so a
        # dark drawing on transparency and a light one both stand out after polarity.
        opaque = alpha > 0.5
        object_is_light = opaque.any() and float(gray[opaque].mean()) > 0.5
        background = 0.0 if object_is_light else 1.0
        gray = gray * alpha + background * (1.0 - alpha)
    return np.clip(gray, 0.0, 1.0)


def _border(img: np.ndarray) -> np.ndarray:
    return np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])


def _crop_to_content(img: np.ndarray) -> np.ndarray:
    """Crop a dark-background image to the box around its foreground."""
    mask = img > max(0.1, float(np.median(_border(img))) + 0.1)
    if not mask.any():
        return img
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _shrink(img: np.ndarray) -> np.ndarray:
    height, width = img.shape
    scale = _WORK_SIDE / max(height, width)
    if scale >= 1:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _letterbox(img: np.ndarray) -> np.ndarray:
    height, width = img.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = img
    return square


def prepare_image(
    raw: np.ndarray, invert: bool | None = None, crop: bool | None = None
) -> np.ndarray:
    """Turn a decoded image array into the model's 28x28 float32 input in [0, 1].

    Args:
        raw: a decoded image (gray, BGR or BGRA; uint8, uint16 or float).
        invert: True inverts, False keeps, None inverts when the border is light
            (Fashion-MNIST items are light on black; photos are usually dark on light).
        crop: crop to the object before letterboxing; None crops only images that are
            not already 28x28.

    Returns:
        A float32 array (28, 28), light object on a dark background.
    """
    img = _to_unit_gray(raw)
    if invert is None:
        invert = float(np.median(_border(img))) > 0.5
    if invert:
        img = 1.0 - img
    if crop is None:
        crop = img.shape != (IMAGE_SIZE, IMAGE_SIZE)
    if crop:
        img = _crop_to_content(img)
    img = _letterbox(_shrink(img))
    if img.shape[0] != IMAGE_SIZE:
        # Pad by a margin like Fashion-MNIST's before shrinking, then area-average.
        margin = int(round(img.shape[0] * 0.04)) if crop else 0
        img = np.pad(img, margin)
        img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def decode_image(
    data: bytes, name: str = "image", invert: bool | None = None, crop: bool | None = None
) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) into the model's 28x28 input.

    Raises:
        ImageError: if the bytes are empty, too large, or not a decodable image.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(
            f"{name}: {len(data) / 2**20:.1f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit"
        )
    size = header_size(data)
    if size is not None:
        width, height = size
        if width * height > MAX_PIXELS:
            raise ImageError(
                f"{name}: {width} x {height} pixels is over the {MAX_PIXELS:,} pixel limit"
            )
        if width == 0 or height == 0:
            raise ImageError(f"{name}: the header declares an empty {width} x {height} image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        raw = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"{name}: cannot decode the image ({exc.msg.strip() or exc})") from None
    if raw is None or raw.size == 0:
        raise ImageError(f"{name}: not a readable image (unknown format or corrupt data)")
    if raw.ndim == 3 and raw.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name}: unsupported channel count {raw.shape[2]}")
    raw = _EXIF_ROTATIONS.get(exif_orientation(data), lambda a: a)(raw)
    try:
        return prepare_image(np.ascontiguousarray(raw), invert=invert, crop=crop)
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """Read an image file's bytes, enforcing the size cap.

    Raises:
        ImageError: if the file is missing, unreadable, a folder, or too large.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image file")
        if not path.is_file():
            # A pipe or device would block or never end.
            raise ImageError(f"{path}: not a regular file")
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path}: {size / 2**20:.1f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit"
            )
        # np.fromfile (not cv2.imread) so non-ASCII paths work on every platform.
        return np.fromfile(path, dtype=np.uint8).tobytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def load_image(
    path: str | os.PathLike, invert: bool | None = None, crop: bool | None = None
) -> np.ndarray:
    """Load an image file as the model's 28x28 float32 input in [0, 1].

    Args:
        path: any image file OpenCV can decode.
        invert: see `prepare_image`; None detects polarity from the border.
        crop: see `prepare_image`.

    Raises:
        ImageError: naming the file and the reason it cannot be used.
    """
    return decode_image(read_image_bytes(path), str(path), invert=invert, crop=crop)
