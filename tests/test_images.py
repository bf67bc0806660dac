"""Image loading: every bad file a typed ImageError, every good one the expected 28x28 array."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from helpers import assert_user_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese_gui.core.errors import ImageError
from siamese_gui.core.io import images
from siamese_gui.core.io.images import (
    IMAGE_SIZE,
    decode_image,
    exif_orientation,
    header_size,
    load_image,
    prepare_image,
)

# --- file builders -------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(width, height, rows, color_type=0, depth=8, extra_chunks=()):
    """A PNG written byte by byte: `rows` are the raw scanlines (without filter bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + b"".join(png_chunk(kind, data) for kind, data in extra_chunks)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def encode(ext: str, img: np.ndarray, params=()) -> bytes:
    ok, data = cv2.imencode(ext, img, list(params))
    assert ok
    return data.tobytes()


def exif_segment(orientation: int, byte_order: bytes = b"MM") -> bytes:
    """An APP1 Exif segment holding one IFD entry: Orientation (0x0112), SHORT."""
    e = ">" if byte_order == b"MM" else "<"
    tiff = byte_order + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1)
    tiff += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    tiff += struct.pack(e + "I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def with_exif(jpeg: bytes, orientation: int, byte_order: bytes = b"MM") -> bytes:
    """Insert an Exif segment after the JFIF APP0 segment of an OpenCV-encoded JPEG."""
    assert jpeg[:4] == b"\xff\xd8\xff\xe0"
    (app0_length,) = struct.unpack(">H", jpeg[4:6])
    cut = 4 + app0_length
    return jpeg[:cut] + exif_segment(orientation, byte_order) + jpeg[cut:]


def dark_square_image() -> np.ndarray:
    """28x28 uint8: a light square off-centre on black; no crop or resize applies."""
    img = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    img[4:12, 3:20] = 200
    img[14:24, 8:12] = 90
    return img


def asymmetric_image() -> np.ndarray:
    """28x28 uint8 with one bright block in the top-left corner (JPEG-friendly)."""
    img = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    img[0:8, 0:16] = 255
    return img


# --- bad files ---------------------------------------------------------------------


def _assert_image_error(path, *words):
    return assert_user_error(ImageError, lambda: load_image(path), path, *words)


def test_missing_file(tmp_path):
    _assert_image_error(tmp_path / "nope.png", "not found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _assert_image_error(path, "empty")


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "photo.png"
    folder.mkdir()
    _assert_image_error(folder, "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    _assert_image_error(fifo, "not a regular file")


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my shopping notes, not a picture\n" * 20)
    _assert_image_error(path, "not a readable image")


@pytest.mark.parametrize("keep", [0.1, 0.3, 0.6])
def test_truncated_jpeg(tmp_path, keep):
    rng = np.random.default_rng(1)
    jpeg = encode(".jpg", rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg[: int(len(jpeg) * keep)])
    _assert_image_error(path)


def test_png_header_claiming_100000_by_100000(tmp_path):
    data = handmade_png(100000, 100000, [bytes(10)])
    assert header_size(data) == (100000, 100000)
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    start = time.perf_counter()
    _assert_image_error(path, "100000 x 100000", "limit")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    "name, data",
    [
        ("bomb.pgm", b"P5\n100000 100000\n255\n" + bytes(64)),
        ("bomb.bmp", b"BM" + bytes(16) + struct.pack("<iiHH", 100000, 100000, 1, 8) + bytes(64)),
        ("bomb.gif", b"GIF89a" + struct.pack("<HH", 60000, 60000) + bytes(64)),
    ],
)
def test_other_formats_claiming_huge_sizes_are_refused_quickly(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    start = time.perf_counter()
    _assert_image_error(path)
    assert time.perf_counter() - start < 2


def test_file_over_the_size_cap(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(encode(".png", dark_square_image()))
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 64)
    _assert_image_error(path, "limit")
    with pytest.raises(ImageError, match="limit"):
        decode_image(path.read_bytes(), "big.png")


def test_zero_sized_header(tmp_path):
    path = tmp_path / "zero.png"
    path.write_bytes(handmade_png(0, 5, []))
    _assert_image_error(path, "empty")


def test_very_long_strip_is_handled_in_bounded_memory(tmp_path):
    # 1 x 100,000 pixels is far under the pixel cap, but squaring it naively needs 40 GB.
    strip = np.full((1, 100_000), 200, np.uint8)
    strip[0, :5] = strip[0, -5:] = 0  # dark ends: not one flat tone, and cropping keeps it whole
    path = tmp_path / "strip.png"
    path.write_bytes(encode(".png", strip))
    tracemalloc.start()
    try:
        out = load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32
    assert peak < 200 * 2**20
    # The strip survives as a faint horizontal line across the middle, black elsewhere.
    assert out[IMAGE_SIZE // 2 - 1 : IMAGE_SIZE // 2 + 1].max(axis=0)[2:-2].min() > 0
    assert out[: IMAGE_SIZE // 2 - 2].max() == 0 and out[IMAGE_SIZE // 2 + 2 :].max() == 0


# --- good files: golden values -------------------------------------------------------


def test_plain_gray_png_is_the_pixels_over_255(tmp_path):
    img = dark_square_image()
    path = tmp_path / "square.png"
    path.write_bytes(encode(".png", img))
    out = load_image(path)
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32
    np.testing.assert_allclose(out, img / 255.0, atol=1e-6)


def test_light_background_is_inverted_unless_switched_off(tmp_path):
    img = 255 - dark_square_image()
    path = tmp_path / "photo.png"
    path.write_bytes(encode(".png", img))
    np.testing.assert_allclose(load_image(path), 1.0 - img / 255.0, atol=1e-6)
    np.testing.assert_allclose(load_image(path, invert=False), img / 255.0, atol=1e-6)
    np.testing.assert_allclose(load_image(tmp_path / "photo.png", invert=True), 1.0 - img / 255.0, atol=1e-6)


def test_16_bit_png_is_scaled_by_65535(tmp_path):
    img8 = dark_square_image()
    img16 = img8.astype(np.uint16) * 257  # v * 257 / 65535 == v / 255 exactly
    path = tmp_path / "deep.png"
    path.write_bytes(encode(".png", img16))
    assert cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    np.testing.assert_allclose(load_image(path), img8 / 255.0, atol=1e-6)


def test_rgba_png_with_transparency_is_composited(tmp_path):
    # A light opaque object; the transparent pixels hold white colour that must not show.
    bgra = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4), np.uint8)
    bgra[..., :3] = 255
    bgra[6:20, 6:20, :3] = 180
    bgra[6:20, 6:20, 3] = 255
    path = tmp_path / "cutout.png"
    path.write_bytes(encode(".png", bgra))
    expected = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    expected[6:20, 6:20] = 180 / 255.0
    np.testing.assert_allclose(load_image(path), expected, atol=1e-5)


def test_rgba_dark_drawing_on_transparency_becomes_light_on_black(tmp_path):
    bgra = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4), np.uint8)  # transparent black
    bgra[5:23, 12:16] = (30, 30, 30, 255)  # an opaque dark stroke
    path = tmp_path / "stroke.png"
    path.write_bytes(encode(".png", bgra))
    expected = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    expected[5:23, 12:16] = 1 - 30 / 255.0
    np.testing.assert_allclose(load_image(path), expected, atol=1e-5)


def test_palette_png_written_by_hand(tmp_path):
    palette = bytes([0, 0, 0, 255, 255, 255, 128, 128, 128, 200, 40, 10])
    index = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    index[2:10, 2:26] = 1
    index[12:20, 2:26] = 2
    index[22:26, 4:24] = 3
    data = handmade_png(IMAGE_SIZE, IMAGE_SIZE, index, color_type=3, extra_chunks=[(b"PLTE", palette)])
    path = tmp_path / "palette.png"
    path.write_bytes(data)
    r, g, b = 200, 40, 10
    gray = np.array([0.0, 255.0, 128.0, 0.299 * r + 0.587 * g + 0.114 * b]) / 255.0
    np.testing.assert_allclose(load_image(path), gray[index], atol=1.5 / 255)


def test_palette_png_with_transparency_chunk(tmp_path):
    palette = bytes([255, 255, 255, 220, 220, 220])
    index = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    index[8:20, 8:20] = 1
    data = handmade_png(
        IMAGE_SIZE, IMAGE_SIZE, index, color_type=3,
        extra_chunks=[(b"PLTE", palette), (b"tRNS", bytes([0, 255]))],
    )
    path = tmp_path / "palette_alpha.png"
    path.write_bytes(data)
    expected = np.where(index == 1, 220 / 255.0, 0.0)
    np.testing.assert_allclose(load_image(path), expected, atol=1.5 / 255)


@pytest.mark.parametrize(
    "orientation, upright",
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored rotated; shown turned 90 degrees clockwise
        (8, lambda a: np.rot90(a, 1)),
        (2, lambda a: a[:, ::-1]),
    ],
)
@pytest.mark.parametrize("byte_order", [b"MM", b"II"])
def test_exif_orientation_is_applied(tmp_path, orientation, upright, byte_order):
    stored = asymmetric_image()
    plain = encode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = with_exif(plain, orientation, byte_order)
    assert exif_orientation(data) == orientation
    path = tmp_path / f"rotated_{orientation}.jpg"
    path.write_bytes(data)
    out = load_image(path, invert=False)
    decoded_plain = load_image_bytes_plain(plain)
    np.testing.assert_allclose(out, upright(decoded_plain), atol=1e-6)
    # Independently of the decoder: the bright block sits where the transform puts it.
    expected_mask = upright(stored) > 128
    assert (out > 0.5)[expected_mask].mean() > 0.95
    assert (out > 0.5)[~expected_mask].mean() < 0.05


def load_image_bytes_plain(data: bytes) -> np.ndarray:
    return decode_image(data, "plain.jpg", invert=False)


def test_exif_orientation_defaults_to_one():
    plain = encode(".jpg", asymmetric_image())
    assert exif_orientation(plain) == 1
    assert exif_orientation(b"") == 1
    assert exif_orientation(b"\x89PNG\r\n\x1a\n") == 1
    assert exif_orientation(with_exif(plain, 9)) == 1  # out of range


def test_non_ascii_path(tmp_path):
    folder = tmp_path / "Ünïcødé 画像"
    folder.mkdir()
    path = folder / "bild_é.png"
    img = dark_square_image()
    path.write_bytes(encode(".png", img))
    np.testing.assert_allclose(load_image(path), img / 255.0, atol=1e-6)
    np.testing.assert_allclose(load_image(str(path)), img / 255.0, atol=1e-6)


def test_large_photo_is_cropped_letterboxed_and_resized(tmp_path):
    # A dark tall rectangle on a light page: inverted, cropped to the object, squared.
    page = np.full((600, 400), 240, np.uint8)
    page[100:500, 150:250] = 20
    path = tmp_path / "page.jpg"
    path.write_bytes(encode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 95]))
    out = load_image(path)
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE)
    assert out[:, IMAGE_SIZE // 2].mean() > 0.7  # the object runs down the middle
    assert out[:, :3].max() < 0.1 and out[:, -3:].max() < 0.1  # letterbox bars are black
    mask = out > 0.5
    rows, cols = mask.any(axis=1).sum(), mask.any(axis=0).sum()
    assert rows >= IMAGE_SIZE - 4  # cropped to the object, which fills the height
    assert 3 <= rows / cols <= 5  # the 4:1 aspect ratio is kept


def test_prepare_image_accepts_float_and_colour():
    img = dark_square_image()
    bgr = np.repeat(img[..., None], 3, axis=2)
    np.testing.assert_allclose(prepare_image(bgr), img / 255.0, atol=1e-5)
    np.testing.assert_allclose(prepare_image(img.astype(np.float32) / 255.0), img / 255.0, atol=1e-6)
    with pytest.raises(ValueError):
        prepare_image(img.astype(np.int32))


# --- fuzzing: any bytes give a 28x28 array in [0, 1] or an ImageError ------------------


def _check_decode(data: bytes):
    try:
        out = decode_image(data, "fuzz")
    except ImageError as exc:
        assert str(exc).startswith("fuzz")
        return
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


SEEDS = [
    encode(".png", dark_square_image()),
    encode(".jpg", asymmetric_image()),
    with_exif(encode(".jpg", asymmetric_image()), 6),
    encode(".bmp", dark_square_image()),
    encode(".png", np.zeros((3, 40, 4), np.uint8)),
    handmade_png(4, 4, [bytes([1, 2, 3, 1])] * 4, color_type=3, extra_chunks=[(b"PLTE", bytes(12))]),
    b"P5\n4 4\n255\n" + bytes(range(16)),
    b"Pf\n2 2\n-1.0\n" + struct.pack("<4f", float("nan"), float("inf"), -1.0, 0.5),
    b"PF\n1 1\n-1.0\n" + struct.pack("<3f", float("nan"), 2.0, float("-inf")),
]


@st.composite
def mutated_images(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(max_size=8))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_fuzz_any_bytes(data):
    _check_decode(data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_fuzz_mutated_images(data):
    _check_decode(data)


@pytest.mark.parametrize("data", SEEDS, ids=range(len(SEEDS)))
def test_seed_images_decode_or_fail_cleanly(data):
    _check_decode(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_header_parsers(data):
    size = header_size(data)
    assert size is None or (len(size) == 2 and all(v >= 0 for v in size))
    assert 1 <= exif_orientation(b"\xff\xd8" + data) <= 8
