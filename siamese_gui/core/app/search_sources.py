"""Where the images searched come from: the loaded test images, a folder (embedded
when first searched) or an index file made by `siamese-gui index`.

The Search panel and `siamese-gui search` both open a `Gallery` from a `SearchSource`
and search it here; a gallery is kept and searched again while its source and model
stay the same, so a later query costs one embedding and one exact search.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from siamese_gui.core.app.search import (
    ExactSearch,
    FaissSearch,
    Hit,
    SearchIndex,
    build_index,
    make_search,
    nearest,
    with_entry,
)
from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.errors import SiameseError
from siamese_gui.core.io.images import load_image
from siamese_gui.core.runtime.handle import ModelHandle


class SourceKind(enum.Enum):
    """The three places a search looks in."""

    TEST_IMAGES = "test images"
    FOLDER = "folder"
    INDEX_FILE = "index file"


@dataclass(frozen=True)
class SearchSource:
    """The images a search looks through.

    Attributes:
        kind: which of the three it is.
        path: the folder or the index file ("" for the test images).
        data: the test images (None for a folder or an index file); two sources of
            test images are the same only when they hold the very same `Dataset`.
    """

    kind: SourceKind
    path: str = ""
    data: Dataset | None = field(default=None, compare=False)

    @classmethod
    def test_images(cls, data: Dataset | None) -> "SearchSource":
        return cls(SourceKind.TEST_IMAGES, data=data)

    @classmethod
    def folder(cls, path: str | Path) -> "SearchSource":
        return cls(SourceKind.FOLDER, str(path))

    @classmethod
    def index_file(cls, path: str | Path) -> "SearchSource":
        return cls(SourceKind.INDEX_FILE, str(path))

    def same_as(self, other: "SearchSource | None") -> bool:
        """Whether `other` names the same images (the same test `Dataset` object)."""
        return other is not None and self == other and self.data is other.data

    def check(self) -> None:
        """Raises SiameseError when there is nothing to search (no test images loaded)."""
        if self.kind is SourceKind.TEST_IMAGES and self.data is None:
            raise SiameseError("no test images are loaded; choose a folder or an index")


@dataclass(frozen=True)
class Gallery:
    """Embeddings to search and how to show their entries.

    Attributes:
        source: what it was opened from.
        model: the model that embedded it.
        description: its images in words ("120 test images (...)").
        searcher: the exact search over its embeddings.
        classes: class name of each entry ("" when unknown).
        images: uint8 (N, 28, 28) for the test images, else None.
        index: the `SearchIndex` of a folder or index file, else None.
        skipped: (path, reason) of the folder's files that could not be read.
    """

    source: SearchSource
    model: ModelHandle = field(compare=False)
    description: str
    searcher: ExactSearch | FaissSearch = field(compare=False)
    classes: tuple[str, ...]
    images: np.ndarray | None = field(default=None, compare=False)
    index: SearchIndex | None = field(default=None, compare=False)
    skipped: tuple[tuple[str, str], ...] = ()

    def serves(self, source: SearchSource, model: ModelHandle) -> bool:
        """Whether this gallery is `source` embedded by `model` (so it can be searched again)."""
        return self.model is model and self.source.same_as(source)


@dataclass(frozen=True)
class SearchResult:
    """One hit ready to show.

    Attributes:
        hit: the `Hit` (for a folder or an index, with its file and class).
        image: float32 (28, 28) in [0, 1]; all zeros when the file can no longer be
            read; None when the search was asked for no images.
        caption: "test #12" or the file's name.
    """

    hit: Hit
    image: np.ndarray | None
    caption: str


def open_gallery(
    source: SearchSource,
    handle: ModelHandle,
    should_stop: Callable[[], bool] | None = None,
    backend: str = "numpy",
) -> Gallery:
    """Embed (or read) the images of `source` for `handle`.

    Raises:
        SiameseError: without test images; DatasetError for a folder with no readable
            image; ModelFileError for an unreadable index or one made with another model.
        Cancelled: when `should_stop` turns true.
    """
    source.check()
    if source.kind is SourceKind.TEST_IMAGES:
        data = source.data
        embeddings = handle.embed(data.images, should_stop=should_stop)
        classes = tuple(data.class_names[int(label)] for label in data.labels)
        return Gallery(source, handle, f"{len(data):,} test images ({data.source})",
                       make_search(embeddings, backend), classes, images=data.images)
    skipped = ()
    if source.kind is SourceKind.FOLDER:
        # Never saved, so an unsaved model (one just trained) may build it.
        index, update = build_index(source.path, handle, should_stop=should_stop, fingerprint="")
        skipped = update.skipped
    else:
        index = SearchIndex.load(source.path)
        index.check_model(handle, source.path)
    return Gallery(source, handle, f"{len(index):,} images in {index.root}",
                   make_search(index.embeddings, backend), index.classes, index=index, skipped=skipped)


def search_gallery(
    gallery: Gallery,
    handle: ModelHandle,
    query: np.ndarray,
    k: int,
    threshold: float,
    images: bool = True,
) -> list[SearchResult]:
    """The `k` entries of `gallery` nearest to a query image (of the model's format), with their verdicts
    at `threshold` (and, with `images`, each entry's image to show).

    Raises:
        SiameseError: if `k` is below 1.
    """
    embedding = handle.embed(np.asarray(query)[None])[0]
    results = []
    for hit in nearest(gallery.searcher, embedding, k, threshold, classes=gallery.classes):
        image = None
        if gallery.images is not None:
            image = gallery.images[hit.index].astype(np.float32) / 255.0
            caption = f"test #{hit.index}"
        else:
            hit = with_entry(hit, gallery.index)
            caption = Path(hit.path).name
            if images:
                try:
                    image = load_image(hit.path, image_format=handle.image_format)
                except Exception:  # noqa: BLE001 - a file changed since indexing shows as blank
                    image = np.zeros(handle.image_format.image_shape, np.float32)
        results.append(SearchResult(hit, image, caption))
    return results


def search(
    source: SearchSource,
    handle: ModelHandle,
    query: np.ndarray,
    k: int,
    threshold: float,
    gallery: Gallery | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Gallery, list[SearchResult]]:
    """Search `source` for `query`, reusing `gallery` when it serves the same source and
    model; returns the gallery searched (keep it for the next query) and the results."""
    if gallery is None or not gallery.serves(source, handle):
        gallery = open_gallery(source, handle, should_stop)
    return gallery, search_gallery(gallery, handle, query, k, threshold)
