"""Where a search looks (`core.app.search_sources`): the test images, a folder, an index
file; a gallery reused while its source and model stay; random pairs for Compare."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_dataset

from siamese_gui.core.app.search import build_index
from siamese_gui.core.app.search_sources import SearchSource, SourceKind, open_gallery, search
from siamese_gui.core.data.pairs import random_pair
from siamese_gui.core.errors import ModelFileError, SiameseError
from tests.test_search import CountingEmbedder, handle_of


def test_test_images_are_searched_with_their_classes_and_pictures():
    data = make_dataset(per_class=5, num_classes=3)
    embedder = CountingEmbedder()
    handle = handle_of(embedder)
    query = data.images[7].astype(np.float32) / 255.0
    gallery, results = search(SearchSource.test_images(data), handle, query, 4, threshold=1e9)
    assert gallery.source.kind is SourceKind.TEST_IMAGES and len(gallery.classes) == len(data)
    assert "15 test images" in gallery.description
    first = results[0]
    assert first.hit.index == 7 and first.hit.distance == pytest.approx(0.0, abs=1e-5)
    assert first.caption == "test #7" and first.hit.class_name == data.class_names[data.labels[7]]
    np.testing.assert_allclose(first.image, query, atol=1e-6)
    assert [r.hit.rank for r in results] == [1, 2, 3, 4] and all(r.hit.same for r in results)

    # The same source and model: the gallery is searched again, only the query embedded.
    embedded = embedder.images
    again, _ = search(SearchSource.test_images(data), handle, query, 2, 0.5, gallery=gallery)
    assert again is gallery and embedder.images == embedded + 1
    # Other test images (a new split) or another model: embedded anew.
    other = make_dataset(per_class=5, num_classes=3)
    assert not gallery.serves(SearchSource.test_images(other), handle)
    assert not gallery.serves(SearchSource.test_images(data), handle_of(embedder))


def test_a_folder_and_its_index_file_give_the_same_hits(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery", per_class=4, num_classes=2)
    handle = handle_of(CountingEmbedder())
    index, _ = build_index(folder, handle)
    index.save(tmp_path / "gallery.npz")
    query = np.zeros((28, 28), np.float32)
    by_folder = search(SearchSource.folder(folder), handle, query, 3, 0.5)
    by_index = search(SearchSource.index_file(tmp_path / "gallery.npz"), handle, query, 3, 0.5)
    for gallery, results in (by_folder, by_index):
        assert gallery.index is not None and gallery.images is None
        assert f"8 images in {folder.resolve()}" == gallery.description
        assert all(r.hit.path and r.caption == r.hit.path.rsplit("/", 1)[-1] for r in results)
        assert all(r.image.shape == (28, 28) for r in results)
    assert [r.hit.path for r in by_folder[1]] == [r.hit.path for r in by_index[1]]
    assert by_folder[1][0].hit.class_name in ("bar", "column")


def test_an_index_of_another_model_and_no_test_images_are_refused(tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery", per_class=2, num_classes=2)
    index, _ = build_index(folder, handle_of(CountingEmbedder(), fingerprint="model-1"))
    index.save(tmp_path / "gallery.npz")
    with pytest.raises(ModelFileError, match="another model"):
        open_gallery(SearchSource.index_file(tmp_path / "gallery.npz"),
                     handle_of(CountingEmbedder(), fingerprint="model-2"))
    with pytest.raises(SiameseError, match="no test images are loaded"):
        open_gallery(SearchSource.test_images(None), handle_of(CountingEmbedder()))


@pytest.mark.parametrize("same", [True, False])
def test_random_pairs_are_of_the_kind_asked_and_never_one_image_twice(same):
    labels = np.array([0, 0, 1, 2, 2, 2])
    rng = np.random.default_rng(0)
    pairs = [random_pair(labels, same, rng) for _ in range(200)]
    assert all(a != b and (labels[a] == labels[b]) == same for a, b in pairs)
    firsts = {a for a, _ in pairs}
    # Every image with a partner of that kind comes up (image 2 has no same-class one).
    assert firsts == ({0, 1, 3, 4, 5} if same else set(range(6)))


def test_random_pair_says_when_there_is_no_such_pair():
    rng = np.random.default_rng(0)
    assert random_pair(np.array([0, 1, 2]), True, rng) is None
    assert random_pair(np.array([4, 4, 4]), False, rng) is None
    assert random_pair(np.array([], np.int64), False, rng) is None
    assert random_pair(np.array([3, 3]), True, rng) in ((0, 1), (1, 0))
