"""Datasets: the validating IDX reader, image-folder datasets, samples, the real data."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese_gui.core.data import datasets
from siamese_gui.core.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    find_fashion_mnist,
    load_fashion_mnist,
    load_image_folder,
    load_samples,
    parse_idx,
    read_idx_images,
    read_idx_labels,
)
from siamese_gui.core.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not all((FASHION_MNIST_DIR / n).is_file() for names in FASHION_MNIST_FILES.values() for n in names),
    reason=f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR}",
)


def idx_bytes(array: np.ndarray, magic: bytes | None = None) -> bytes:
    array = np.asarray(array, np.uint8)
    header = magic if magic is not None else bytes([0, 0, 8, array.ndim])
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


def fake_fashion_mnist(folder: Path, n_train=6, n_test=4, train_labels=None) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, labels in (("train", n_train, train_labels), ("test", n_test, None)):
        image_file, label_file = FASHION_MNIST_FILES[split]
        write_gz(folder / image_file, idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        labels = np.arange(n) % 10 if labels is None else labels
        write_gz(folder / label_file, idx_bytes(labels))
    return folder


# --- IDX reader --------------------------------------------------------------------


def test_reads_valid_images_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.array([0, 9, 3, 3, 1], np.uint8)
    out = read_idx_images(write_gz(tmp_path / "img.gz", idx_bytes(images)))
    np.testing.assert_array_equal(out, images)
    assert out.dtype == np.uint8 and out.shape == (5, 28, 28)
    got = read_idx_labels(write_gz(tmp_path / "lab.gz", idx_bytes(labels)))
    np.testing.assert_array_equal(got, labels)
    assert got.dtype == np.int64


def _expect(path, *words):
    with pytest.raises(DatasetError) as info:
        if "label" in path.name:
            read_idx_labels(path)
        else:
            read_idx_images(path)
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_missing_file(tmp_path):
    _expect(tmp_path / "images.gz", "not found")


def test_truncated_gz(tmp_path):
    data = gzip.compress(idx_bytes(np.ones((50, 28, 28))))
    path = tmp_path / "images.gz"
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "gzip")


def test_non_gzip_bytes(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(idx_bytes(np.ones((2, 28, 28))))  # right content, not compressed
    _expect(path, "gzip")


def test_gzip_of_nothing(tmp_path):
    _expect(write_gz(tmp_path / "images.gz", b""), "too short")


def test_wrong_magic(tmp_path):
    data = idx_bytes(np.ones((2, 28, 28)), magic=b"\x00\x00\x0d\x03")  # float IDX
    _expect(write_gz(tmp_path / "images.gz", data), "magic")
    data = idx_bytes(np.ones((2, 28, 28)), magic=b"\x01\x00\x08\x03")
    _expect(write_gz(tmp_path / "images2.gz", data), "magic")


def test_wrong_dimension_count(tmp_path):
    _expect(write_gz(tmp_path / "images.gz", idx_bytes(np.ones((2, 28 * 28)))), "dimensions")
    _expect(write_gz(tmp_path / "labels.gz", idx_bytes(np.ones((2, 1)))), "dimensions")


def test_wrong_image_size(tmp_path):
    _expect(write_gz(tmp_path / "images.gz", idx_bytes(np.ones((2, 27, 28)))), "27x28")


@pytest.mark.parametrize("delta", [-1, 1, -784])
def test_payload_length_mismatch(tmp_path, delta):
    data = idx_bytes(np.ones((3, 28, 28)))
    data = data[:delta] if delta < 0 else data + b"\x00" * delta
    _expect(write_gz(tmp_path / "images.gz", data), "payload")


def test_truncated_header(tmp_path):
    _expect(write_gz(tmp_path / "images.gz", b"\x00\x00\x08\x03\x00\x00\x00\x02"), "header")


def test_header_declaring_a_huge_array(tmp_path):
    data = b"\x00\x00\x08\x03" + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(10)
    _expect(write_gz(tmp_path / "images.gz", data), "payload")


def test_label_out_of_range(tmp_path):
    _expect(write_gz(tmp_path / "labels.gz", idx_bytes([1, 2, 10])), "label 10", "out of range")


def test_label_count_mismatch(tmp_path):
    folder = fake_fashion_mnist(tmp_path / "fm", n_train=6, train_labels=np.arange(5))
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(folder)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "5 labels for 6 images" in message


def test_a_bad_file_inside_a_fashion_mnist_folder_is_named(tmp_path):
    folder = fake_fashion_mnist(tmp_path / "fm")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not gzip")
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz"):
        load_fashion_mnist(folder)


def test_loads_a_fashion_mnist_folder(tmp_path):
    folder = fake_fashion_mnist(tmp_path / "fm", n_train=6, n_test=4)
    splits = load_fashion_mnist(folder)
    assert splits.train.images.shape == (6, 28, 28) and splits.test.images.shape == (4, 28, 28)
    assert splits.train.class_names == FASHION_MNIST_CLASSES
    np.testing.assert_array_equal(splits.test.labels, [0, 1, 2, 3])
    assert str(folder) in splits.train.source


def test_explicit_path_without_the_files_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="not a Fashion-MNIST folder"):
        load_fashion_mnist(tmp_path)


def test_environment_variable_comes_before_system_folders(tmp_path, monkeypatch):
    folder = fake_fashion_mnist(tmp_path / "fm")
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(folder))
    assert find_fashion_mnist() == folder
    assert datasets.fashion_mnist_candidates(tmp_path)[:2] == [tmp_path, folder]


def test_nothing_found_without_download_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "none1")
    monkeypatch.setattr(datasets, "KERAS_CACHE_DIR", tmp_path / "none2")
    with pytest.raises(DatasetError, match="not found") as info:
        load_fashion_mnist()
    assert "none1" in str(info.value) and "dataset-fashion-mnist" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([1, 3]))
def test_fuzz_parse_idx(data, ndim):
    try:
        out = parse_idx(data, "fuzz.idx", ndim)
    except DatasetError as exc:
        assert str(exc).startswith("fuzz.idx")
    else:
        assert out.ndim == ndim and out.dtype == np.uint8


@st.composite
def idx_like(draw):
    """Bytes near a valid IDX file: a plausible header with a random shape and payload."""
    ndim = draw(st.sampled_from([1, 3, 2, 4]))
    shape = draw(st.lists(st.sampled_from([0, 1, 2, 27, 28]), min_size=ndim, max_size=ndim))
    header = bytes([0, 0, draw(st.sampled_from([8, 8, 8, 9])), ndim]) + struct.pack(f">{ndim}I", *shape)
    size = int(np.prod(shape))
    payload = draw(st.binary(min_size=max(size - 2, 0), max_size=size + 2)) if size < 3000 else bytes(size)
    return header + payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(idx_like(), st.binary(max_size=100)), compress=st.booleans(), cut=st.integers(0, 50))
def test_fuzz_idx_files(tmp_path, data, compress, cut):
    raw = gzip.compress(data) if compress else data
    if cut:
        raw = raw[:-cut]
    for reader, name in ((read_idx_images, "images.gz"), (read_idx_labels, "labels.gz")):
        path = tmp_path / name
        path.write_bytes(raw)
        try:
            out = reader(path)
        except DatasetError as exc:
            assert str(path) in str(exc)
        else:
            assert out.ndim in (1, 3)


# --- image folders -------------------------------------------------------------------


def test_image_folder_loads_classes_in_order(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=3, num_classes=3)
    calls = []
    data = load_image_folder(root, progress=lambda done, total: calls.append((done, total)))
    assert data.class_names == ("bar", "column", "ring")
    assert data.images.shape == (9, 28, 28) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert data.skipped == ()
    assert calls[-1] == (9, 9) and len(calls) == 9
    assert str(root) in data.source


def test_image_folder_round_trips_pixel_values(tmp_path, image_folder_factory, dataset_factory):
    root = image_folder_factory(tmp_path / "data", per_class=2, num_classes=2)
    data = load_image_folder(root, invert=False)
    np.testing.assert_array_equal(data.images, dataset_factory(2, 2).images)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        load_image_folder(tmp_path / "missing")


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        load_image_folder(tmp_path / "file.png")


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="at least 2 class") as info:
        load_image_folder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_one_class_only(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=4, num_classes=1)
    with pytest.raises(DatasetError, match="found 1"):
        load_image_folder(root)


def test_classes_with_one_image_each(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=1, num_classes=3)
    with pytest.raises(DatasetError, match="no class has 2"):
        load_image_folder(root)


def test_one_class_with_one_image_is_fine_when_another_has_two(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=2, num_classes=2)
    for extra in sorted((root / "column").iterdir())[1:]:
        extra.unlink()
    data = load_image_folder(root)
    np.testing.assert_array_equal(np.bincount(data.labels), [2, 1])


def test_unreadable_files_are_skipped_and_listed(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=3, num_classes=2)
    (root / "bar" / "broken.png").write_text("not an image")
    (root / "bar" / "empty.jpg").write_bytes(b"")
    (root / "column" / "cut.png").write_bytes((root / "column" / "003.png").read_bytes()[:40])
    data = load_image_folder(root)
    assert len(data) == 6
    skipped = dict(data.skipped)
    assert set(skipped) == {str(root / "bar" / "broken.png"), str(root / "bar" / "empty.jpg"),
                            str(root / "column" / "cut.png")}
    assert "empty" in skipped[str(root / "bar" / "empty.jpg")]


def test_all_files_of_a_class_unreadable(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=3, num_classes=1)
    (root / "junk").mkdir()
    (root / "junk" / "a.png").write_text("no")
    (root / "junk" / "b.png").write_text("no")
    with pytest.raises(DatasetError, match="fewer than 2 classes"):
        load_image_folder(root)


def test_nested_junk_is_ignored(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=2, num_classes=2)
    (root / "bar" / "deeper" / "even").mkdir(parents=True)
    (root / "bar" / "deeper" / "x.png").write_bytes((root / "bar" / "000.png").read_bytes())
    (root / "bar" / "notes.txt").write_text("hello")
    (root / "bar" / "folder.png").mkdir()
    (root / ".hidden").mkdir()
    (root / ".hidden" / "a.png").write_bytes((root / "bar" / "000.png").read_bytes())
    (root / "stray.png").write_bytes((root / "bar" / "000.png").read_bytes())
    (root / "no_images").mkdir()
    (root / "no_images" / "readme.md").write_text("nothing here")
    data = load_image_folder(root)
    assert data.class_names == ("bar", "column")
    assert len(data) == 4 and data.skipped == ()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_loops_are_not_followed(tmp_path, image_folder_factory):
    root = image_folder_factory(tmp_path / "data", per_class=2, num_classes=2)
    (root / "bar" / "loop").symlink_to(root / "bar", target_is_directory=True)
    (root / "a_loop").symlink_to(root / "b_loop")
    (root / "b_loop").symlink_to(root / "a_loop")
    (root / "column" / "self.png").symlink_to(root / "column" / "self.png")
    (root / "column" / "dangling.png").symlink_to(root / "missing.png")
    data = load_image_folder(root)
    assert data.class_names == ("bar", "column")
    assert len(data) == 4


def test_whole_root_is_a_symlink_loop(tmp_path):
    (tmp_path / "x").symlink_to(tmp_path / "y")
    (tmp_path / "y").symlink_to(tmp_path / "x")
    with pytest.raises(DatasetError):
        load_image_folder(tmp_path / "x")


def test_bundled_samples():
    data = load_samples()
    assert data.class_names == FASHION_MNIST_CLASSES
    assert data.images.shape[1:] == (28, 28) and data.images.dtype == np.uint8
    counts = np.bincount(data.labels, minlength=10)
    assert len(counts) == 10 and counts.min() >= 2
    assert data.skipped == ()


@needs_fashion_mnist
def test_real_fashion_mnist_and_its_standard_pairs():
    from siamese_gui.core.data.pairs import balanced_pairs

    splits = load_fashion_mnist(FASHION_MNIST_DIR)
    assert splits.train.images.shape == (60000, 28, 28)
    assert splits.test.images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(splits.test.labels), [1000] * 10)
    pairs = balanced_pairs(splits.test.labels, seed=0)
    assert len(pairs) == 20000 and pairs.same.sum() == 10000


def test_restrict_keeps_the_chosen_classes_in_order_and_samples_per_class(dataset_factory):
    from siamese_gui.core.data.datasets import restrict

    data = dataset_factory(per_class=12, num_classes=4)
    narrowed = restrict(data, ["ring", "0"], per_class=5, seed=1)
    assert narrowed.class_names == ("ring", "bar")
    assert np.bincount(narrowed.labels).tolist() == [5, 5]
    # Every kept image is still an image of the class its new label names.
    for image, label in zip(narrowed.images, narrowed.labels):
        source = np.flatnonzero((data.images == image).all(axis=(1, 2)))[0]
        assert data.class_names[data.labels[source]] == narrowed.class_names[label]
    with pytest.raises(DatasetError, match="no class 'hat'"):
        restrict(data, ["hat", "bar"])
    with pytest.raises(DatasetError, match="fewer than 2 classes"):
        restrict(data, ["bar"])
