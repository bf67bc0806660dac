"""Hostile images: decoded-size bombs under the pixel cap, header variants the pre-check
must read as OpenCV does, and blank images that would give a meaningless verdict."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import assert_user_error
from hostile_helpers import one_error_line, run_limited

from siamese_gui.core.errors import ImageError
from siamese_gui.core.io import images
from siamese_gui.core.io.image_headers import read_header
from siamese_gui.core.io.images import IMAGE_SIZE, decode_image, is_blank, load_image

RNG = np.random.default_rng(7)
COLOUR = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
GRAY = np.ascontiguousarray(COLOUR[..., 1])
RGBA = np.dstack([COLOUR, RNG.integers(0, 256, (37, 53), dtype=np.uint8)])


def _encode(ext, img, *params):
    ok, data = cv2.imencode(ext, img, list(params))
    assert ok
    return data.tobytes()


# --- hand-written header variants OpenCV reads but does not write ------------------------


def _bmp(header_size: int, img: np.ndarray = COLOUR, top_down: bool = False) -> bytes:
    """A 24-bit BMP with a DIB header of `header_size` bytes (12: BITMAPCOREHEADER)."""
    height, width = img.shape[:2]
    stride = (width * 3 + 3) // 4 * 4
    rows = img if top_down else img[::-1]
    pixels = b"".join(row.tobytes() + bytes(stride - width * 3) for row in rows)
    if header_size == 12:
        dib = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        dib = struct.pack("<IiiHHIIiiII", header_size, width, -height if top_down else height,
                          1, 24, 0, len(pixels), 2835, 2835, 0, 0)
        dib += bytes(header_size - len(dib))
    offset = 14 + len(dib)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + pixels


def _tiff(img: np.ndarray, endian: str = "<", big: bool = False) -> bytes:
    """An uncompressed 8-bit TIFF, classic or BigTIFF, in either byte order."""
    height, width = img.shape[:2]
    samples = 1 if img.ndim == 2 else img.shape[2]
    pixels = img.tobytes()
    tags = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 2 if samples == 3 else 1), (273, 4, 1, 0), (277, 3, 1, samples),
        (278, 4, 1, height), (279, 4, 1, len(pixels)),
    ]
    inline = 8 if big else 4
    head = 16 if big else 8
    ifd_size = (8 + 20 * len(tags) + 8) if big else (2 + 12 * len(tags) + 4)
    data_offset = head + ifd_size
    out = bytearray(b"II" if endian == "<" else b"MM")
    if big:
        out += struct.pack(endian + "HHHQ", 43, 8, 0, head) + struct.pack(endian + "Q", len(tags))
    else:
        out += struct.pack(endian + "HI", 42, head) + struct.pack(endian + "H", len(tags))
    for tag, kind, count, value in tags:
        if tag == 273:
            value = data_offset
        # A value sits left-justified in the entry's value field, in the file's byte order.
        field = struct.pack(endian + ("H" if kind == 3 else "I"), value)
        out += struct.pack(endian + ("HHQ" if big else "HHI"), tag, kind, count) + field + bytes(inline - len(field))
    out += bytes(8 if big else 4)
    assert len(out) == data_offset
    return bytes(out) + pixels


def _png(width, height, colour_type, depth, rows, extra=()):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
            + b"".join(chunk(k, d) for k, d in extra) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _jpeg_with_exif_before_sof(img):
    jpeg = _encode(".jpg", img)
    tiff = b"II" + struct.pack("<HIH", 42, 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 1, 0) + bytes(4)
    body = b"Exif\x00\x00" + tiff + bytes(2000)  # a long APP1, as cameras write
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _jpeg_with_fill_bytes(img):
    jpeg = _encode(".jpg", img)
    at = jpeg.find(b"\xff\xc0")
    return jpeg[:at] + b"\xff\xff\xff" + jpeg[at:]


def _negative_height(bmp: bytes) -> bytes:
    data = bytearray(bmp)
    (height,) = struct.unpack_from("<i", data, 22)
    struct.pack_into("<i", data, 22, -height)
    return bytes(data)


VARIANTS = {
    # BMP
    "bmp-info-40": lambda: _encode(".bmp", COLOUR),
    "bmp-v5-124-32bit": lambda: _encode(".bmp", RGBA),
    "bmp-8bit-palette": lambda: _encode(".bmp", GRAY),
    "bmp-core-12": lambda: _bmp(12),
    "bmp-os2-v2-64": lambda: _bmp(64),
    "bmp-v4-108": lambda: _bmp(108),
    "bmp-top-down": lambda: _bmp(40, top_down=True),
    "bmp-negative-height-flipped": lambda: _negative_height(_encode(".bmp", COLOUR)),
    # TIFF
    "tiff-little-endian": lambda: _encode(".tiff", COLOUR),
    "tiff-big-endian": lambda: _tiff(COLOUR, ">"),
    "tiff-big-endian-gray": lambda: _tiff(GRAY, ">"),
    "bigtiff-little-endian": lambda: _tiff(COLOUR, "<", big=True),
    "bigtiff-big-endian": lambda: _tiff(GRAY, ">", big=True),
    "tiff-float32": lambda: _encode(".tiff", COLOUR.astype(np.float32) / 255),
    "tiff-uint16-rgba": lambda: _encode(".tiff", RGBA.astype(np.uint16) * 257),
    # PNG
    "png-gray": lambda: _encode(".png", GRAY),
    "png-gray16": lambda: _encode(".png", GRAY.astype(np.uint16) * 257),
    "png-rgb": lambda: _encode(".png", COLOUR),
    "png-rgba16": lambda: _encode(".png", RGBA.astype(np.uint16) * 257),
    "png-palette": lambda: _png(4, 3, 3, 8, [bytes([0, 1, 2, 1])] * 3, [(b"PLTE", bytes(range(9)))]),
    "png-gray-alpha": lambda: _png(3, 2, 4, 8, [bytes([9, 255] * 3)] * 2),
    # JPEG
    "jpeg-baseline": lambda: _encode(".jpg", COLOUR),
    "jpeg-gray": lambda: _encode(".jpg", GRAY),
    "jpeg-progressive-sof2": lambda: _encode(".jpg", COLOUR, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "jpeg-exif-app1-before-sof": lambda: _jpeg_with_exif_before_sof(COLOUR),
    "jpeg-fill-bytes": lambda: _jpeg_with_fill_bytes(COLOUR),
    "jpeg-restart-markers": lambda: _encode(".jpg", COLOUR, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
    "jpeg-444": lambda: _encode(".jpg", COLOUR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
    # WebP
    "webp-vp8": lambda: _encode(".webp", COLOUR, cv2.IMWRITE_WEBP_QUALITY, 80),
    "webp-vp8l": lambda: _encode(".webp", COLOUR, cv2.IMWRITE_WEBP_QUALITY, 101),
    "webp-vp8x-alpha": lambda: _encode(".webp", RGBA, cv2.IMWRITE_WEBP_QUALITY, 80),
    # the other formats OpenCV reads here
    "gif": lambda: _encode(".gif", COLOUR),
    "pbm": lambda: _encode(".pbm", GRAY),
    "pgm16": lambda: _encode(".pgm", GRAY.astype(np.uint16) * 257),
    "ppm": lambda: _encode(".ppm", COLOUR),
    "pam-gray": lambda: _encode(".pam", GRAY),
    "pfm": lambda: _encode(".pfm", COLOUR.astype(np.float32) / 255),
    "hdr": lambda: _encode(".hdr", COLOUR.astype(np.float32) / 255),
    "sun-raster": lambda: _encode(".ras", COLOUR),
    "jpeg2000": lambda: _encode(".jp2", COLOUR),
    "avif": lambda: _encode(".avif", COLOUR),
}

SIGNATURES = {
    "webp-vp8": (12, b"VP8 "), "webp-vp8l": (12, b"VP8L"), "webp-vp8x-alpha": (12, b"VP8X"),
    "bmp-v5-124-32bit": (14, b"\x7c\x00\x00\x00"), "bmp-info-40": (14, b"\x28\x00\x00\x00"),
    "bmp-core-12": (14, b"\x0c\x00\x00\x00"), "tiff-big-endian": (0, b"MM\x00*"),
    "bigtiff-little-endian": (0, b"II+\x00"), "bigtiff-big-endian": (0, b"MM\x00+"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_header_precheck_agrees_with_opencv(name):
    data = VARIANTS[name]()
    if name in SIGNATURES:
        at, expected = SIGNATURES[name]
        assert data[at : at + len(expected)] == expected  # the variant is the one named
    if name == "jpeg-progressive-sof2":
        assert b"\xff\xc2" in data
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None, "OpenCV reads this variant"
    header = read_header(data)
    assert (header.width, header.height) == (decoded.shape[1], decoded.shape[0])
    assert header.channels >= (1 if decoded.ndim == 2 else decoded.shape[2])
    assert header.sample_bytes >= decoded.dtype.itemsize
    out = decode_image(data, name)
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32


def test_big_but_valid_sizes_in_core_bmp_are_not_misread():
    # 16-bit fields: a 40000-wide core BMP must not be read as 32-bit sizes (trillions).
    header = read_header(_bmp(12)[:14] + struct.pack("<IHHHH", 12, 40000, 1, 1, 24))
    assert (header.width, header.height) == (40000, 1)


# --- decoded-size bombs under the pixel cap ------------------------------------------------


def _tiff_header_only(width, height, samples, bits, sample_format):
    """A TIFF header declaring a large image, with a few bytes of strip data."""
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, bits), (259, 3, 1, 8),
            (262, 3, 1, 2), (273, 4, 1, 200), (277, 3, 1, samples), (278, 4, 1, 64),
            (279, 4, 1, 16), (339, 3, 1, sample_format)]
    out = b"II*\x00" + struct.pack("<IH", 8, len(tags))
    out += b"".join(struct.pack("<HHII", *t) for t in tags) + bytes(4)
    return out + bytes(200 - len(out)) + zlib.compress(bytes(64))


def test_float64_tiff_of_6300_squared_is_refused_from_its_header(tmp_path):
    path = tmp_path / "float.tiff"
    path.write_bytes(_tiff_header_only(6300, 6300, 4, 64, 3))
    start = time.monotonic()
    assert_user_error(ImageError, lambda: load_image(path), path, "MiB to decode", "limit")
    assert time.monotonic() - start < 1


def _rgba16_png(width, height) -> bytes:
    """A 16-bit RGBA PNG, mostly transparent zeros: a few hundred KB for hundreds of MB."""
    blank = b"\x00" + bytes(width * 8)
    drawn = bytearray(blank)
    drawn[1 + 8 * (width // 3) : 1 + 8 * (2 * (width // 3))] = b"\xff" * (8 * (width // 3))
    squeeze = zlib.compressobj(1)
    body = [squeeze.compress(bytes(drawn) if height // 3 < y < 2 * height // 3 else blank) for y in range(height)]
    body.append(squeeze.flush())
    return _png(width, height, 6, 16, [])[:33] + _png_chunk(b"IDAT", b"".join(body)) + _png_chunk(b"IEND", b"")


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


LOAD = "from siamese_gui.core.io.images import load_image\nout = load_image(sys.argv[1])\nprint(out.shape, out.max())\n"


def test_16_bit_rgba_png_converts_in_bounded_memory(tmp_path):
    path = tmp_path / "rgba16.png"
    path.write_bytes(_rgba16_png(5000, 5000))  # 190 MiB decoded from about 200 KB
    assert path.stat().st_size < 1_000_000
    done, peak, tf = run_limited(LOAD, 1024, str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(28, 28)" in done.stdout and tf is False
    assert peak < 190 + 95 + 150, peak  # the decoded image, one float plane, and slack


def test_40_megapixel_photo_stays_well_under_1_gb(tmp_path):
    page = np.full((5470, 7300, 3), 235, np.uint8)
    page[1000:4500, 2000:5000] = 40
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(".jpg", page, cv2.IMWRITE_JPEG_QUALITY, 80))
    del page
    done, peak, _ = run_limited(LOAD, 1024, str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert peak < 500, peak


def test_decoded_byte_cap_counts_channels_and_depth(tmp_path):
    header = read_header(_png(6000, 6000, 6, 16, []))
    assert header.decoded_bytes == 6000 * 6000 * 4 * 2
    # 36 Mpx, under the pixel cap; 4 float32 samples each are 549 MiB.
    path = tmp_path / "float32.tiff"
    path.write_bytes(_tiff_header_only(6000, 6000, 4, 32, 3))
    assert_user_error(ImageError, lambda: load_image(path), path, "4 x 32-bit", "MiB to decode")
    assert images.MAX_DECODED_BYTES < 2**30


# --- blank images have no object to compare ------------------------------------------------


@pytest.mark.parametrize(
    "img",
    [np.zeros((40, 30), np.uint8), np.full((40, 30), 255, np.uint8), np.full((40, 30, 3), 128, np.uint8),
     np.zeros((20, 20, 4), np.uint8)],
    ids=["black", "white", "gray", "transparent"],
)
def test_blank_images_are_detected(img):
    assert is_blank(decode_image(_encode(".png", img), "blank.png"))


def test_a_white_jpeg_with_compression_noise_is_blank():
    assert is_blank(decode_image(_encode(".jpg", np.full((64, 64, 3), 250, np.uint8)), "white.jpg"))


def test_images_with_an_object_are_not_blank(sample_images):
    for path in sample_images:
        assert not is_blank(load_image(path))
    drawing = np.full((60, 60), 255, np.uint8)
    drawing[20:40, 28:32] = 0
    assert not is_blank(decode_image(_encode(".png", drawing), "line.png"))


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_compare_of_blank_images_is_an_error_naming_the_file(tmp_path, capsys, as_json):
    from siamese_gui.cli import commands as cli

    black, white = tmp_path / "black.png", tmp_path / "white.png"
    black.write_bytes(_encode(".png", np.zeros((28, 28), np.uint8)))
    white.write_bytes(_encode(".png", np.full((28, 28), 255, np.uint8)))
    # The model is read first: its image format decides how the files are read.
    shipped = Path(__file__).resolve().parents[2] / "models" / "fashion_mnist.keras"
    code = cli.main(["compare", str(black), str(white), "--model", str(shipped),
                     *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert out == ""

    class Done:
        returncode, stderr = code, err

    line = one_error_line(Done, "black.png", "no object")
    assert "white.png" not in line
