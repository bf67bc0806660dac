"""Turn any image file a user gives into the float32 array the model sees.

One pipeline for grey and colour (`ImageFormat`): EXIF orientation, alpha composited,
polarity (grey only), crop to content, letterbox and an area resize to the model's
height and width. Grey images come out (H, W), light on dark; colour ones (H, W, 3),
red-green-blue, as they are.

Nothing here imports TensorFlow: images are checked and decoded in bounded memory (see
`check_header`) before any model is loaded.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from siamese_gui.core.errors import ImageError
from siamese_gui.core.io.image_format import GREY_28, ImageFormat
from siamese_gui.core.io.image_headers import HeaderError, read_header
from siamese_gui.core.io.safe_files import read_regular_file

# The side of the grey 28 x 28 images Fashion-MNIST and the models saved before colour
# was possible see (`GREY_28`).
IMAGE_SIZE = GREY_28.height
# Channel difference over which a pixel counts as coloured, and the share of such pixels
# over which an image carries colour (JPEG noise on grey photos stays far below both).
COLOUR_CHROMA = 0.08
COLOUR_SHARE = 0.01
# Colour images are composited over white: drawings, icons and logos with transparency
# are drawn to be seen on a light page.
COLOUR_BACKGROUND = 1.0
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
    scale = _scale_of(raw)
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


def _to_unit_rgb(raw: np.ndarray) -> np.ndarray:
    """Convert a decoded image (gray, BGR or BGRA; any depth) to RGB float32 (H, W, 3) in
    [0, 1], transparency composited over `COLOUR_BACKGROUND`, in bands of rows."""
    if max(raw.shape[:2]) > 2 * _WORK_SIDE:
        # Three float planes of a 40 Mpx photo would take 480 MB: shrink the decoded
        # pixels first (the letterbox works at `_WORK_SIDE` anyway).
        scale = 2 * _WORK_SIDE / max(raw.shape[:2])
        size = (max(1, round(raw.shape[1] * scale)), max(1, round(raw.shape[0] * scale)))
        raw = cv2.resize(raw if raw.dtype.kind != "f" else np.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0),
                         size, interpolation=cv2.INTER_AREA)
    scale = _scale_of(raw)
    height, width = raw.shape[:2]
    channels = 1 if raw.ndim == 2 else raw.shape[2]
    rgb = np.empty((height, width, 3), np.float32)
    step = max(1, _BAND_BYTES // max(1, width * max(channels, 3) * 4))
    for top in range(0, height, step):
        band = _unit_band(raw[top : top + step], scale)
        out = rgb[top : top + step]
        if band.ndim == 2 or band.shape[2] == 1:
            out[...] = band.reshape(band.shape[0], width, 1)
            continue
        out[...] = band[:, :, 2::-1]  # OpenCV's BGR -> RGB
        if band.shape[2] == 4:
            alpha = np.clip(band[:, :, 3:4], 0.0, 1.0)
            out *= alpha
            out += COLOUR_BACKGROUND * (1.0 - alpha)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def _scale_of(raw: np.ndarray) -> float:
    if raw.dtype == np.uint8:
        return 255.0
    if raw.dtype == np.uint16:
        return 65535.0
    if raw.dtype.kind == "f":
        return 1.0
    raise ValueError(f"unsupported pixel type {raw.dtype}")


def has_colour(rgb: np.ndarray) -> bool:
    """Whether an RGB image (H, W, 3) in [0, 1] carries colour: more than `COLOUR_SHARE`
    of its pixels have channels at least `COLOUR_CHROMA` apart."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or not rgb.size:
        return False
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float(np.mean(chroma > COLOUR_CHROMA)) > COLOUR_SHARE


def _unit_band(band: np.ndarray, scale: float) -> np.ndarray:
    """A band of rows as float32 divided by `scale`; NaN and infinities made finite."""
    if band.dtype.kind == "f":
        # Float formats (PFM, HDR) can hold NaN and infinities; they must not reach the model.
        return np.nan_to_num(band.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return band.astype(np.float32) / np.float32(scale)


def _border(img: np.ndarray) -> np.ndarray:
    """The pixels along the four edges (N,) for grey, (N, 3) for colour."""
    return np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])


def _crop_box(mask: np.ndarray, img: np.ndarray) -> np.ndarray:
    if not mask.any():
        return img
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _crop_to_content(img: np.ndarray) -> np.ndarray:
    """Crop a dark-background image to the box around its foreground."""
    return _crop_box(img > max(0.1, float(np.median(_border(img))) + 0.1), img)


def _shrink(img: np.ndarray) -> np.ndarray:
    height, width = img.shape[:2]
    scale = _WORK_SIDE / max(height, width)
    if scale >= 1:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _letterbox(img: np.ndarray, aspect: float = 1.0, fill=0.0) -> np.ndarray:
    """Pad `img` with `fill` (centred) to the width / height ratio `aspect`."""
    height, width = img.shape[:2]
    out_h, out_w = max(height, int(round(width / aspect))), max(width, int(round(height * aspect)))
    if (out_h, out_w) == (height, width):
        return img
    square = np.empty((out_h, out_w, *img.shape[2:]), dtype=np.float32)
    square[...] = fill
    top, left = (out_h - height) // 2, (out_w - width) // 2
    square[top : top + height, left : left + width] = img
    return square


def _fit(img: np.ndarray, image_format: ImageFormat, crop: bool, fill) -> np.ndarray:
    """Letterbox to the format's aspect, pad a margin, area-resize to its size."""
    img = _letterbox(_shrink(img), image_format.width / image_format.height, fill)
    if img.shape[:2] != (image_format.height, image_format.width):
        # Pad by a margin like Fashion-MNIST's before shrinking, then area-average.
        margin = int(round(img.shape[0] * 0.04)) if crop else 0
        if margin:
            img = _pad(img, margin, fill)
        img = cv2.resize(img, (image_format.width, image_format.height), interpolation=cv2.INTER_AREA)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _pad(img: np.ndarray, margin: int, fill) -> np.ndarray:
    out = np.empty((img.shape[0] + 2 * margin, img.shape[1] + 2 * margin, *img.shape[2:]), np.float32)
    out[...] = fill
    out[margin : margin + img.shape[0], margin : margin + img.shape[1]] = img
    return out


def prepare_image(
    raw: np.ndarray,
    invert: bool | None = None,
    crop: bool | None = None,
    image_format: ImageFormat = GREY_28,
) -> np.ndarray:
    """Turn a decoded image array into the model's float32 input in [0, 1].

    Args:
        raw: a decoded image (gray, BGR or BGRA; uint8, uint16 or float), as OpenCV
            decodes it.
        invert: grey only: True inverts, False keeps, None inverts when the border is
            light (Fashion-MNIST items are light on black; photos are usually dark on
            light). Colour images are never inverted.
        crop: crop to the object before letterboxing; None crops only images that are
            not already of the format's size.
        image_format: the model's input (size and channels).

    Returns:
        float32 (H, W), light object on a dark background, for a grey format;
        float32 (H, W, 3) RGB for a colour one.
    """
    if image_format.colour:
        return _prepare_colour(_to_unit_rgb(raw), crop, image_format)
    return _prepare_gray(_to_unit_gray(raw), invert, crop, image_format)


def _prepare_colour(img: np.ndarray, crop: bool | None, image_format: ImageFormat) -> np.ndarray:
    """`prepare_image` for colour after the RGB conversion: the background is the
    border's median colour; the object is cropped where it differs from it."""
    background = np.median(_border(img), axis=0).astype(np.float32)
    if crop is None:
        crop = img.shape[:2] != (image_format.height, image_format.width)
    if crop:
        img = _crop_box(np.abs(img - background).max(axis=2) > 0.1, img)
    return _fit(img, image_format, crop, background)


def _prepare_gray(
    img: np.ndarray, invert: bool | None, crop: bool | None, image_format: ImageFormat = GREY_28
) -> np.ndarray:
    """`prepare_image` after the gray conversion; `img` may be changed in place."""
    if float(img.max()) - float(img.min()) < BLANK_CONTRAST:
        # One flat tone holds no object: it is all background, whatever its shade or
        # aspect ratio (letterboxing would otherwise draw a rectangle of it).
        return np.zeros(image_format.image_shape, np.float32)
    if invert is None:
        invert = float(np.median(_border(img))) > 0.5
    if invert:
        if img.flags.writeable:
            np.subtract(1.0, img, out=img)
        else:
            img = 1.0 - img
    if crop is None:
        crop = img.shape != (image_format.height, image_format.width)
    if crop:
        img = _crop_to_content(img)
    return _fit(img, image_format, crop, 0.0)


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
    data: bytes,
    name: str = "image",
    invert: bool | None = None,
    crop: bool | None = None,
    image_format: ImageFormat = GREY_28,
) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, ...) into the model's input (see
    `prepare_image`), upright as its EXIF orientation says.

    The header is checked first (see `check_header`), so a small file that would
    decode to gigabytes is refused before OpenCV allocates anything.

    Raises:
        ImageError: if the bytes are empty, too large, or not a decodable image.
    """
    raw = _decode_raw(data, name)
    try:
        unit = _to_unit_rgb(raw) if image_format.colour else _to_unit_gray(raw)
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None
    del raw
    unit = _upright(unit, data)
    if image_format.colour:
        return _prepare_colour(unit, crop, image_format)
    return _prepare_gray(unit, invert, crop, image_format)


def decode_colour(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes as they are, upright: RGB float32 (H, W, 3) in [0, 1], for
    deciding whether a folder carries colour and what size its images are.

    Raises:
        ImageError: as `decode_image`.
    """
    raw = _decode_raw(data, name)
    try:
        return _upright(_to_unit_rgb(raw), data)
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None


def _upright(unit: np.ndarray, data: bytes) -> np.ndarray:
    rotate = _EXIF_ROTATIONS.get(exif_orientation(data))
    return unit if rotate is None else np.ascontiguousarray(rotate(unit))


def _decode_raw(data: bytes, name: str) -> np.ndarray:
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
    return raw


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """Read an image file's bytes, enforcing the size cap.

    Raises:
        ImageError: if the file is missing, unreadable, a folder, or too large.
    """
    return read_regular_file(path, MAX_FILE_BYTES, ImageError, "image file")


def load_image(
    path: str | os.PathLike,
    invert: bool | None = None,
    crop: bool | None = None,
    image_format: ImageFormat = GREY_28,
) -> np.ndarray:
    """Load an image file as the model's float32 input in [0, 1] (see `prepare_image`).

    Args:
        path: any image file OpenCV can decode.
        invert: see `prepare_image`; None detects polarity from the border (grey only).
        crop: see `prepare_image`.
        image_format: the model's input (size and channels).

    Raises:
        ImageError: naming the file and the reason it cannot be used.
    """
    return decode_image(read_image_bytes(path), str(path), invert=invert, crop=crop, image_format=image_format)
