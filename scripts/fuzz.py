"""Longer fuzzing runs of the image loader, the IDX reader, model archives and their
metadata than the test suite does.

The test suite runs a few hundred examples per target in seconds; this script keeps going
for as long as asked, with random bytes and with mutations of valid files (PNG, JPEG with
EXIF, BMP, palette PNG, PGM, PFM, gzipped IDX, `.keras` archives with embedded metadata,
legacy sidecars, search indexes). Each input must give a 28x28 float32 array in [0, 1] (images), a uint8
array (IDX), checked metadata with a usable threshold (archives, sidecars), an index whose
embeddings are finite and bounded and whose paths stay inside its folder, or the typed
error (`ImageError`, `DatasetError`, `ModelFileError`); anything else is a bug, printed
with the input that caused it. The archive targets never import TensorFlow: they test
what is refused before Keras sees a file.

Usage:
    python scripts/fuzz.py --seconds 600            # every target, ten minutes in all
    python scripts/fuzz.py --target idx --examples 20000
    python scripts/fuzz.py --target archives --seconds 120
    python scripts/fuzz.py --target indexes --seconds 120
    python scripts/fuzz.py --seconds 60 --seed 7    # reproducible run

Exit status 0 when no bug was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st  # noqa: E402

from siamese_gui.core.app.search import MAX_EMBEDDING_ABS, SearchIndex, stored_path_problem  # noqa: E402
from siamese_gui.core.data.datasets import parse_idx, read_idx_images, read_idx_labels  # noqa: E402
from siamese_gui.core.errors import DatasetError, ImageError, ModelFileError  # noqa: E402
from siamese_gui.core.io.images import IMAGE_SIZE, decode_image  # noqa: E402  (sets OpenCV limits first)
from siamese_gui.core.runtime.archive import model_metadata, open_model_file, sidecar_path  # noqa: E402


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, rows, color_type=0, extra=()):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(_chunk(k, d) for k, d in extra)
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _exif(jpeg: bytes, orientation: int) -> bytes:
    tiff = b"MM" + struct.pack(">HIH", 42, 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += b"\x00\x00\x00\x00"
    body = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment + jpeg[2:]


def image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    photo = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    enc = lambda ext, img: cv2.imencode(ext, img)[1].tobytes()  # noqa: E731
    return [
        enc(".png", gray), enc(".png", gray.astype(np.uint16) * 257), enc(".png", rgba),
        enc(".jpg", photo), _exif(enc(".jpg", photo), 6), enc(".bmp", photo), enc(".tiff", gray),
        enc(".webp", photo), enc(".pgm", gray),
        _png(4, 4, [bytes([0, 1, 2, 1])] * 4, 3, [(b"PLTE", bytes(range(9))), (b"tRNS", b"\x00")]),
        b"Pf\n2 2\n-1.0\n" + struct.pack("<4f", float("nan"), float("inf"), -1.0, 0.5),
    ]


def idx_seeds() -> list[bytes]:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    return [
        b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28) + images.tobytes(),
        b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([0, 9, 4]),
    ]


def _zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def _model_members(threshold=0.5) -> list:
    config = json.dumps({"class_name": "Functional", "config": {"name": "siamese", "layers": []}}).encode()
    weights = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4
    metadata = {
        "threshold": threshold, "format": 2, "class_names": ["a", "b"],
        "config_sha256": hashlib.sha256(config).hexdigest(),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    return [("metadata.json", b'{"keras_version": "3.15.1"}'), ("config.json", config),
            ("model.weights.h5", weights), ("siamese_gui.json", json.dumps(metadata).encode())]


def archive_seeds() -> list[bytes]:
    members = _model_members()
    return [
        _zip(members),
        _zip(members, zipfile.ZIP_DEFLATED),
        _zip(members[:3]),  # a legacy archive: its metadata would be a sidecar
        _zip(members + [("assets/extra.bin", bytes(64))]),
        _zip([(n, bytes(4096) if n == "model.weights.h5" else c) for n, c in members], zipfile.ZIP_DEFLATED),
    ]


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def index_seeds() -> list[bytes]:
    """Valid indexes (as `SearchIndex.save` writes them), one compressed, one empty."""
    rng = np.random.default_rng(0)
    fields = {
        "format": np.int64(1), "embeddings": rng.normal(size=(3, 4)).astype(np.float32),
        "paths": np.asarray(["a/1.png", "a/2.png", "b/1.png"]), "hashes": np.asarray(["ab" * 32] * 3),
        "classes": np.asarray(["a", "a", "b"]), "fingerprint": np.asarray("f" * 64),
        "root": np.asarray("/data/gallery"), "model_name": np.asarray("m.keras"),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **fields)
    empty = {**fields, "embeddings": np.zeros((0, 4), np.float32), "paths": np.asarray([], str),
             "hashes": np.asarray([], str), "classes": np.asarray([], str)}
    return [_npz(**fields), buffer.getvalue(), _npz(**empty)]


def sidecar_seeds() -> list[bytes]:
    return [
        json.dumps({"threshold": 0.5, "class_names": ["a"], "config": {"epochs": 3}}).encode(),
        b'{"threshold": NaN}', b'{"threshold": 1e308}', b'{"threshold": true}', b"[" * 70 + b"]" * 70,
        b'{"threshold": 0.25, "metrics": {"validation": {"auc": 0.9}}}',
    ]


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        if action == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(max_size=16))
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
    return bytes(data)


def check_image(data: bytes) -> None:
    try:
        out = decode_image(data, "fuzz")
    except ImageError:
        return
    assert out.shape == (IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32, out.shape
    assert np.all(np.isfinite(out)) and 0.0 <= out.min() and out.max() <= 1.0


def check_idx(data: bytes, compress: bool, folder: Path) -> None:
    for ndim in (1, 3):
        try:
            out = parse_idx(data, "fuzz", ndim)
        except DatasetError:
            pass
        else:
            assert out.ndim == ndim and out.dtype == np.uint8
    path = folder / "fuzz.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    for reader in (read_idx_images, read_idx_labels):
        try:
            reader(path)
        except DatasetError:
            pass


def _check_metadata(info) -> None:
    assert isinstance(info, dict)
    threshold = info.get("threshold")
    if threshold is not None:
        assert isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
        assert math.isfinite(threshold) and threshold >= 0


def check_archive(data: bytes, folder: Path) -> None:
    path = folder / "fuzz.keras"
    path.write_bytes(data)
    sidecar_path(path).unlink(missing_ok=True)
    try:
        _check_metadata(model_metadata(open_model_file(path)))
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)


def check_sidecar(data: bytes, folder: Path) -> None:
    path = folder / "legacy.keras"
    path.write_bytes(_zip(_model_members()[:3]))
    text = data
    if data.lstrip().startswith(b"{") and b'"sha256"' not in data:
        # Most mutations keep the hash of the archive, so parsing goes past it.
        digest = hashlib.sha256(path.read_bytes()).hexdigest().encode()
        text = b'{"sha256": "' + digest + b'", ' + data.lstrip()[1:]
    sidecar_path(path).write_bytes(text)
    try:
        _check_metadata(model_metadata(open_model_file(path)))
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)


def check_index(data: bytes, folder: Path) -> None:
    path = folder / "fuzz.npz"
    path.write_bytes(data)
    try:
        index = SearchIndex.load(path)
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
        return
    assert index.embeddings.dtype == np.float32 and index.embeddings.ndim == 2
    assert len(index.embeddings) == len(index.paths) == len(index.hashes) == len(index.classes)
    assert np.all(np.isfinite(index.embeddings)) and np.all(np.abs(index.embeddings) <= MAX_EMBEDDING_ABS)
    assert index.root.is_absolute()
    for stored in index.paths:
        assert not stored_path_problem(stored)
        assert ".." not in Path(stored).parts and not Path(stored).is_absolute()


def run(target: str, examples: int, deadline: float, folder: Path, seed: int | None) -> int:
    """Run one target's property in rounds until `examples` inputs or the deadline.

    Returns the number of examples tried. A counterexample propagates as the
    property's exception, after Hypothesis has shrunk it.
    """
    if target == "images":
        strategy = st.tuples(st.one_of(mutated(image_seeds()), st.binary(max_size=2048)))
        check = check_image
    elif target == "archives":
        strategy = st.tuples(st.one_of(mutated(archive_seeds()), st.binary(max_size=512)))
        check = lambda data: check_archive(data, folder)  # noqa: E731
    elif target == "indexes":
        strategy = st.tuples(st.one_of(mutated(index_seeds()), st.binary(max_size=512)))
        check = lambda data: check_index(data, folder)  # noqa: E731
    elif target == "sidecars":
        strategy = st.tuples(st.one_of(mutated(sidecar_seeds()), st.binary(max_size=256)))
        check = lambda data: check_sidecar(data, folder)  # noqa: E731
    else:
        strategy = st.tuples(st.one_of(mutated(idx_seeds()), st.binary(max_size=256)), st.booleans())
        check = lambda data, compress: check_idx(data, compress, folder)  # noqa: E731
    done, round_ = 0, 0
    while done < examples and time.monotonic() < deadline:
        batch = min(100, examples - done)

        @settings(max_examples=batch, deadline=None, database=None,
                  phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
        @given(strategy)
        def prop(args):
            check(*args)

        if seed is not None:
            prop = hypothesis_seed(seed * 100_003 + round_)(prop)
        prop()
        done += batch
        round_ += 1
    return done


TARGETS = ("images", "idx", "archives", "sidecars", "indexes")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget for all targets")
    parser.add_argument("--examples", type=int, default=1_000_000, help="examples per target at most")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    args = parser.parse_args(argv)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            share = args.seconds / len(targets)
            deadline = time.monotonic() + share
            start = time.monotonic()
            try:
                count = run(target, args.examples, deadline, Path(tmp), args.seed)
            except Exception as exc:  # noqa: BLE001 - report whatever the property found
                failures += 1
                print(f"{target}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            else:
                print(f"{target}: ok, {count} examples in {time.monotonic() - start:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
