"""Search by example: index build, incremental update, model check, exact top-K."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_gui.core.app.search import (
    ExactSearch,
    SearchIndex,
    build_index,
    faiss_available,
    make_search,
    search_index,
    update_index_file,
)
from siamese_gui.core.errors import DatasetError, ModelFileError, SiameseError
from siamese_gui.core.runtime.handle import ModelHandle
from tests.helpers import assert_user_error


class CountingEmbedder:
    """A fixed random projection of the pixels; counts the images it embeds."""

    def __init__(self, seed: int = 0, dim: int = 8):
        self.weights = np.random.default_rng(seed).normal(size=(28 * 28, dim)).astype(np.float32)
        self.images = 0

    def __call__(self, batch):
        self.images += len(batch)
        return batch.reshape(len(batch), -1) @ self.weights / 28.0


def handle_of(embedder, fingerprint="model-1", path=None):
    return ModelHandle(embedder=embedder, metadata={"weights_sha256": fingerprint, "threshold": 0.5}, path=path)


def brute_force(gallery, query, k):
    distances = np.sqrt(((gallery.astype(np.float64) - query) ** 2).sum(axis=1))
    order = np.lexsort((np.arange(len(gallery)), distances))[:k]
    return distances[order], order


@pytest.mark.parametrize("chunk", [7, 1000])
def test_exact_search_matches_brute_force(chunk):
    rng = np.random.default_rng(1)
    gallery = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    searcher = ExactSearch(gallery, chunk=chunk)
    distances, indices = searcher.search(queries, 10)
    assert distances.shape == indices.shape == (5, 10)
    for q in range(5):
        expected_d, expected_i = brute_force(gallery, queries[q], 10)
        np.testing.assert_array_equal(indices[q], expected_i)
        np.testing.assert_allclose(distances[q], expected_d, rtol=1e-4, atol=1e-4)


def test_search_k_larger_than_gallery_returns_all_sorted():
    gallery = np.array([[3.0], [1.0], [2.0]], np.float32)
    distances, indices = ExactSearch(gallery).search(np.array([[0.0]]), 10)
    assert indices[0].tolist() == [1, 2, 0]
    np.testing.assert_allclose(distances[0], [1, 2, 3])


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is not installed")
def test_faiss_backend_agrees_with_numpy():
    rng = np.random.default_rng(2)
    gallery = rng.normal(size=(500, 12)).astype(np.float32)
    query = rng.normal(size=(1, 12)).astype(np.float32)
    d_numpy, i_numpy = make_search(gallery, "numpy").search(query, 5)
    d_faiss, i_faiss = make_search(gallery, "faiss").search(query, 5)
    np.testing.assert_array_equal(i_numpy, i_faiss)
    np.testing.assert_allclose(d_numpy, d_faiss, rtol=1e-4, atol=1e-4)


def test_unknown_backend_is_a_user_error():
    with pytest.raises(SiameseError, match="unknown search backend"):
        make_search(np.zeros((2, 2), np.float32), "annoy")


def test_index_save_load_round_trip_and_search(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery", per_class=3, num_classes=2)
    embedder = CountingEmbedder()
    handle = handle_of(embedder)
    index, update = build_index(folder, handle)
    assert (update.embedded, update.reused, update.removed) == (6, 0, 0)
    assert set(index.classes) == {"bar", "column"}
    assert all(len(h) == 64 for h in index.hashes)
    index.save(tmp_path / "g.npz")
    loaded = SearchIndex.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.paths == index.paths and loaded.hashes == index.hashes
    assert loaded.classes == index.classes and loaded.fingerprint == "model-1"
    from siamese_gui.core.io.images import load_image

    query = load_image(loaded.file(4))
    hits = search_index(loaded, handle, query, k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].path == str(loaded.file(4)) and hits[0].distance == pytest.approx(0, abs=1e-5)
    assert hits[0].same and hits[0].class_name == loaded.classes[4]
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_reindex_embeds_only_new_or_changed_files(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery", per_class=3, num_classes=2)
    out = tmp_path / "g.npz"
    embedder = CountingEmbedder()
    handle = handle_of(embedder)
    update_index_file(folder, handle, out)
    assert embedder.images == 6
    first = SearchIndex.load(out)

    embedder.images = 0
    _, update = update_index_file(folder, handle, out)
    # No file embedded again; one blank image told the model's width (checked against the index).
    assert embedder.images == 1 and update.reused == 6 and update.embedded == 0

    files = sorted(folder.rglob("*.png"))
    files[0].write_bytes(files[0].read_bytes() + b"\0")  # changed bytes (PNG ignores the tail)
    (folder / "bar" / "new.png").write_bytes(files[1].read_bytes() + b"\0\0")  # new file
    files[2].unlink()  # removed
    embedder.images = 0
    index, update = update_index_file(folder, handle, out)
    assert embedder.images == 2
    assert (update.embedded, update.reused, update.removed) == (2, 4, 1)
    assert len(index) == 6 and SearchIndex.load(out).paths == index.paths
    kept = files[3].relative_to(folder).as_posix()
    np.testing.assert_array_equal(
        index.embeddings[index.paths.index(kept)], first.embeddings[first.paths.index(kept)]
    )


def test_index_of_another_model_is_refused(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery")
    out = tmp_path / "g.npz"
    update_index_file(folder, handle_of(CountingEmbedder(), "model-1"), out)
    other = handle_of(CountingEmbedder(seed=5), "model-2")
    assert_user_error(ModelFileError, lambda: update_index_file(folder, other, out), out, "another model")
    assert_user_error(ModelFileError, lambda: SearchIndex.load(out).check_model(other, out), out, "another model")


def test_fingerprint_falls_back_to_model_file_hash(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery")
    model_file = tmp_path / "m.keras"
    model_file.write_bytes(b"weights")
    handle = ModelHandle(embedder=CountingEmbedder(), metadata={}, path=model_file)
    index, _ = build_index(folder, handle)
    import hashlib

    assert index.fingerprint == hashlib.sha256(b"weights").hexdigest()
    unsaved = ModelHandle(embedder=CountingEmbedder(), metadata={})
    with pytest.raises(ModelFileError, match="no fingerprint"):
        build_index(folder, unsaved)


def test_flat_folder_and_unreadable_files(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery")
    for png in list(folder.rglob("*.png"))[:2]:
        png.rename(folder / f"top-{png.name}")
    (folder / "broken.png").write_bytes(b"not an image")
    index, update = build_index(folder, handle_of(CountingEmbedder()))
    assert sum(1 for c in index.classes if c == "") == 2
    assert len(update.skipped) == 1 and "broken.png" in update.skipped[0][0]


def test_bad_index_files_are_user_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"no zip")
    assert_user_error(ModelFileError, lambda: SearchIndex.load(junk), junk, "not a readable index")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    assert_user_error(ModelFileError, lambda: SearchIndex.load(other), other, "'x.npy', which no index file of ours has")
    missing = tmp_path / "missing.npz"
    assert_user_error(ModelFileError, lambda: SearchIndex.load(missing), missing, "not found")


def test_empty_folder_is_a_dataset_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no readable image"):
        build_index(tmp_path / "empty", handle_of(CountingEmbedder()))
