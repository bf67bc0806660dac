"""Turn any image file a user gives into the 28x28 float32 array the model sees.

Nothing here imports TensorFlow: images are checked and decoded in bounded memory (see
`check_header`) before any model is loaded.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from siamese_gui.core.errors import ImageError
from siamese_gui.core.io.image_headers import HeaderError, read_header
from siamese_gui.core.io.safe_files import read_regular_file

IMAGE_SIZE = 28
MAX_FILE_BYTES = 50 * 2**20
MAX_PIXELS = 40_000_000
# What the decoder may allocate: a 40 Mpx 8-bit colour photo needs 120 MB; a 16-bit RGBA
# one 320 MB. Conversion adds one float32 plane (4 bytes a pixel) and small bands.
MAX_DECODED_BYTES = 320 * 2**20
# Contrast (max - min) under which a prepared image holds no object.
BLANK_CONTRAST = 0.05
# Rows converted at a time, so no float copy of a whole colour image is ever made.
_BAND_BYTES = 8 * 2**20
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
    """Return (width, height) declared by an image header, or None if it cannot be read."""
    try:
        header = read_header(data)
    except HeaderError:
        return None
    return None if header is None else (header.width, header.height)


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
    """Convert a decoded image of any depth and channel count to gray float32 in [0, 1].

    The conversion runs in bands of rows into one float32 plane, so its memory is that
    plane plus a band, whatever the depth and channel count of `raw`.
    """
    if raw.dtype == np.uint8:
        scale = 255.0
    elif raw.dtype == np.uint16:
        scale = 65535.0
    elif raw.dtype.kind == "f":
        scale = 1.0
    else:
        raise ValueError(f"unsupported pixel type {raw.dtype}")
    height, width = raw.shape[:2]
    channels = 1 if raw.ndim == 2 else raw.shape[2]
    gray = np.empty((height, width), np.float32)
    step = max(1, _BAND_BYTES // max(1, width * channels * 4))
    light_sum, opaque_count = 0.0, 0
    for top in range(0, height, step):
        band = _unit_band(raw[top : top + step], scale)
        if band.ndim == 2:
            gray[top : top + step] = band
            continue
        if band.shape[2] == 1:
            gray[top : top + step] = band[:, :, 0]
            continue
        out = gray[top : top + step]
        out[...] = cv2.cvtColor(np.ascontiguousarray(band[:, :, :3]), cv2.COLOR_BGR2GRAY)
        if band.shape[2] == 4:
            opaque = band[:, :, 3] > 0.5
            light_sum += float(out[opaque].sum(dtype=np.float64))
            opaque_count += int(opaque.sum())
    if channels == 4:
        # Composite over the background that contrasts with the visible object, so a
        # dark drawing on transparency and a light one both stand out after polarity.
        object_is_light = opaque_count > 0 and light_sum / opaque_count > 0.5
        background = 0.0 if object_is_light else 1.0
        for top in range(0, height, step):
            alpha = _unit_band(raw[top : top + step, :, 3], scale)
            out = gray[top : top + step]
            out *= alpha
            out += background * (1.0 - alpha)
    np.clip(gray, 0.0, 1.0, out=gray)
    return gray


def _unit_band(band: np.ndarray, scale: float) -> np.ndarray:
    """A band of rows as float32 divided by `scale`; NaN and infinities made finite."""
    if band.dtype.kind == "f":
        # Float formats (PFM, HDR) can hold NaN and infinities; they must not reach the model.
        return np.nan_to_num(band.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return band.astype(np.float32) / np.float32(scale)


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
    return _prepare_gray(_to_unit_gray(raw), invert, crop)


def _prepare_gray(img: np.ndarray, invert: bool | None, crop: bool | None) -> np.ndarray:
    """`prepare_image` after the gray conversion; `img` may be changed in place."""
    if float(img.max()) - float(img.min()) < BLANK_CONTRAST:
        # One flat tone holds no object: it is all background, whatever its shade or
        # aspect ratio (letterboxing would otherwise draw a rectangle of it).
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    if invert is None:
        invert = float(np.median(_border(img))) > 0.5
    if invert:
        if img.flags.writeable:
            np.subtract(1.0, img, out=img)
        else:
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


def is_blank(image: np.ndarray) -> bool:
    """Whether a prepared image holds no object: it is one flat tone after preprocessing.

    An all-black and an all-white picture both become an all-black input, and any model
    measures them as nearly identical; such a verdict means nothing.

    Args:
        image: the model's input, as `load_image` or `prepare_image` return it.
    """
    image = np.asarray(image)
    return image.size == 0 or float(image.max()) - float(image.min()) < BLANK_CONTRAST


def check_header(data: bytes, name: str = "image"):
    """Refuse image bytes whose header declares more than the decoder may allocate.

    Returns:
        The `ImageHeader` read.

    Raises:
        ImageError: naming `name`, if the format is not one OpenCV reads here, the
            header is malformed, or it declares an empty image, more than `MAX_PIXELS`
            pixels or more than `MAX_DECODED_BYTES` decoded bytes.
    """
    try:
        header = read_header(data)
    except HeaderError as exc:
        raise ImageError(f"{name}: not a readable image ({exc})") from None
    if header is None:
        raise ImageError(f"{name}: not a readable image (unknown format or corrupt data)")
    width, height = header.width, header.height
    if width == 0 or height == 0:
        raise ImageError(f"{name}: the header declares an empty {width} x {height} image")
    if header.pixels > MAX_PIXELS:
        raise ImageError(f"{name}: {width} x {height} pixels is over the {MAX_PIXELS:,} pixel limit")
    if header.decoded_bytes > MAX_DECODED_BYTES:
        raise ImageError(
            f"{name}: {width} x {height} pixels of {header.channels} x {8 * header.sample_bytes}-bit "
            f"samples would take {header.decoded_bytes / 2**20:,.0f} MiB to decode, over the "
            f"{MAX_DECODED_BYTES // 2**20} MiB limit"
        )
    return header


def decode_image(
    data: bytes, name: str = "image", invert: bool | None = None, crop: bool | None = None
) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) into the model's 28x28 input.

    The header is checked first (see `check_header`), so a small file that would
    decode to gigabytes is refused before OpenCV allocates anything.

    Raises:
        ImageError: if the bytes are empty, too large, or not a decodable image.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(
            f"{name}: {len(data) / 2**20:.1f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit"
        )
    check_header(data, name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        raw = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"{name}: cannot decode the image ({exc.msg.strip() or exc})") from None
    if raw is None or raw.size == 0:
        raise ImageError(f"{name}: not a readable image (unknown format or corrupt data)")
    if raw.ndim == 3 and raw.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name}: unsupported channel count {raw.shape[2]}")
    try:
        gray = _to_unit_gray(raw)
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None
    del raw
    rotate = _EXIF_ROTATIONS.get(exif_orientation(data))
    if rotate is not None:
        gray = np.ascontiguousarray(rotate(gray))
    return _prepare_gray(gray, invert, crop)


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """Read an image file's bytes, enforcing the size cap.

    Raises:
        ImageError: if the file is missing, unreadable, a folder, or too large.
    """
    return read_regular_file(path, MAX_FILE_BYTES, ImageError, "image file")


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
