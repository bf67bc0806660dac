"""Search by example (1:N): an index of a folder's embeddings, and its K nearest images.

An index is a `.npz` file (read with `allow_pickle=False`) holding, per image file, its
embedding, its path relative to the indexed folder, the SHA-256 of its bytes and its
class (the sub-folder's name, or "" for files directly in the folder), plus the
fingerprint of the model that computed the embeddings. Re-indexing reuses every
embedding whose file bytes are unchanged, so only new or changed files are embedded;
an index made with another model is refused instead of silently mixing two spaces.

Search is exact: squared Euclidean distances by matrix products, chunked over the
gallery so memory stays bounded, and `argpartition` for the K smallest. The optional
faiss backend (`pip install faiss-cpu`) runs the same exact search (`IndexFlatL2`) and is
the road to approximate indexes for galleries beyond one machine's memory.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from siamese_gui.core.data.datasets import list_image_files
from siamese_gui.core.errors import Cancelled, ImageError, ModelFileError, SiameseError
from siamese_gui.core.io.images import decode_image, read_image_bytes
from siamese_gui.core.io.safe_files import file_sha256
from siamese_gui.core.runtime.handle import ModelHandle

INDEX_FORMAT = 1
# Images decoded and embedded per step: bounds memory (4096 x 28 x 28 float32 = 13 MB).
INDEX_CHUNK = 4096
# Distances computed per block (queries x gallery rows), float32: 64 MB at most.
BLOCK_FLOATS = 1 << 24
BACKENDS = ("numpy", "faiss")
SMALL_BATCH = 4


def model_fingerprint(handle: ModelHandle) -> str:
    """The identity of a model's embedding space: its recorded weights hash.

    Falls back to the SHA-256 of the model file when the metadata records none.

    Raises:
        ModelFileError: for a model that has neither (trained but not saved).
    """
    if handle.fingerprint:
        return handle.fingerprint
    if handle.path is not None and Path(handle.path).is_file():
        return file_sha256(Path(handle.path))
    raise ModelFileError(f"{handle.name}: the model has no fingerprint; save it before indexing")


@dataclass
class SearchIndex:
    """Embeddings of a folder's images and what identifies each one.

    Attributes:
        embeddings: float32 (N, D).
        paths: each file's path relative to `root`, with "/" separators.
        hashes: the hex SHA-256 of each file's bytes.
        classes: each file's class (its sub-folder), "" when unknown.
        fingerprint: the model's fingerprint (see `model_fingerprint`).
        root: the indexed folder (absolute), used to open the files again.
        model_name: the model's file name, for messages.
    """

    embeddings: np.ndarray
    paths: tuple[str, ...]
    hashes: tuple[str, ...]
    classes: tuple[str, ...]
    fingerprint: str
    root: Path
    model_name: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def file(self, i: int) -> Path:
        """The absolute path of entry `i`."""
        return self.root / self.paths[i]

    def check_model(self, handle: ModelHandle, source: str | os.PathLike) -> None:
        """Refuse to use this index with a model other than the one that built it.

        Raises:
            ModelFileError: naming `source` and both models.
        """
        current = model_fingerprint(handle)
        if current != self.fingerprint:
            raise ModelFileError(
                f"{source}: index was made with another model ({self.model_name or 'unknown'}, "
                f"fingerprint {self.fingerprint[:12]}) than {handle.name} ({current[:12]}); "
                "rebuild it with this model or search with the model that made it"
            )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index atomically as `.npz` (no pickles)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise SiameseError(f"{path}: the index file must end in .npz")
        if not path.parent.resolve().is_dir():
            raise SiameseError(f"{path.parent}: folder does not exist")
        temp = path.with_name(f".{path.name}.tmp.npz")
        dim = self.embeddings.shape[1] if self.embeddings.ndim == 2 else 0
        try:
            np.savez(
                temp,
                format=np.int64(INDEX_FORMAT),
                embeddings=np.asarray(self.embeddings, np.float32).reshape(len(self), dim),
                paths=np.asarray(self.paths, dtype=str),
                hashes=np.asarray(self.hashes, dtype=str),
                classes=np.asarray(self.classes, dtype=str),
                fingerprint=np.asarray(self.fingerprint),
                root=np.asarray(str(self.root)),
                model_name=np.asarray(self.model_name),
            )
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise SiameseError(f"{path}: cannot write the index ({exc.strerror or exc})") from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SearchIndex":
        """Read an index written by `save`.

        Raises:
            ModelFileError: if the file is missing, not an index, or inconsistent.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                fields = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise ModelFileError(f"{path}: index file not found") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelFileError(f"{path}: not a readable index file ({exc})") from None
        needed = {"format", "embeddings", "paths", "hashes", "classes", "fingerprint", "root"}
        missing = sorted(needed - set(fields))
        if missing:
            raise ModelFileError(f"{path}: not a search index (missing {', '.join(missing)})")
        if int(fields["format"]) != INDEX_FORMAT:
            raise ModelFileError(f"{path}: index format {int(fields['format'])} is not {INDEX_FORMAT}")
        embeddings = fields["embeddings"]
        count = len(fields["paths"])
        if embeddings.ndim != 2 or len(embeddings) != count or len(fields["hashes"]) != count \
                or len(fields["classes"]) != count:
            raise ModelFileError(f"{path}: index arrays disagree in length")
        if embeddings.dtype != np.float32 or not np.all(np.isfinite(embeddings)):
            raise ModelFileError(f"{path}: index embeddings are not finite float32 values")
        return cls(
            embeddings=embeddings,
            paths=tuple(str(p) for p in fields["paths"]),
            hashes=tuple(str(h) for h in fields["hashes"]),
            classes=tuple(str(c) for c in fields["classes"]),
            fingerprint=str(fields["fingerprint"]),
            root=Path(str(fields["root"])),
            model_name=str(fields.get("model_name", "")),
        )


@dataclass(frozen=True)
class IndexUpdate:
    """What building or updating an index did.

    Attributes:
        embedded: files embedded now (new or changed).
        reused: files whose embedding came from the previous index.
        removed: paths of the previous index that are gone.
        skipped: (path, reason) for each file that could not be read.
    """

    embedded: int
    reused: int
    removed: int
    skipped: tuple[tuple[str, str], ...] = field(default=())


def build_index(
    folder: str | os.PathLike,
    handle: ModelHandle,
    previous: SearchIndex | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    fingerprint: str | None = None,
) -> tuple[SearchIndex, IndexUpdate]:
    """Embed a folder's images (files in it and in its class sub-folders).

    Args:
        folder: the folder to index.
        handle: the model.
        previous: an index of the same model to reuse embeddings from (matched by
            file content); its model must be `handle`'s (see `SearchIndex.check_model`).
        progress: called with (files done, files total).
        should_stop: polled between chunks; raises `Cancelled` when true.
        fingerprint: the model's fingerprint when known; None computes it, "" allows an
            unsaved model for an index that is never saved.

    Raises:
        DatasetError: if the folder cannot be listed or holds no readable image.
        ModelFileError: if `previous` was made with another model.
    """
    root = Path(folder).expanduser().resolve()
    fingerprint = model_fingerprint(handle) if fingerprint is None else fingerprint
    if previous is not None and previous.fingerprint != fingerprint:
        previous.check_model(handle, "the previous index")
    known: dict[str, np.ndarray] = {}
    if previous is not None:
        known = {h: previous.embeddings[i] for i, h in enumerate(previous.hashes)}
    files = list_image_files(root)
    paths: list[str] = []
    hashes: list[str] = []
    classes: list[str] = []
    vectors: list[np.ndarray | None] = []
    skipped: list[tuple[str, str]] = []
    pending_images: list[np.ndarray] = []
    pending_slots: list[int] = []
    # One chunk is embedded on a helper thread while the next one is read and decoded.
    embedding: list[tuple[list[int], Future]] = []
    embedder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-embed")

    def collect() -> None:
        if embedding:
            slots, future = embedding.pop()
            for slot, vector in zip(slots, future.result()):
                vectors[slot] = vector

    def flush() -> None:
        collect()
        if not pending_images:
            return
        batch, slots = np.stack(pending_images), list(pending_slots)
        embedding.append((slots, embedder.submit(handle.embed, batch, should_stop=should_stop)))
        pending_images.clear()
        pending_slots.clear()

    reused = 0
    try:
        for done, (path, class_name) in enumerate(files, 1):
            if should_stop is not None and should_stop():
                raise Cancelled()
            try:
                data = read_image_bytes(path)
                digest = hashlib.sha256(data).hexdigest()
                vector = known.get(digest)
                image = None if vector is not None else decode_image(data, str(path))
            except ImageError as exc:
                skipped.append((str(path), str(exc)))
                continue
            paths.append(path.relative_to(root).as_posix())
            hashes.append(digest)
            classes.append(class_name)
            vectors.append(vector)
            if vector is None:
                pending_images.append(image)
                pending_slots.append(len(vectors) - 1)
                if len(pending_images) >= INDEX_CHUNK:
                    flush()
            else:
                reused += 1
            if progress is not None:
                progress(done, len(files))
        flush()
        collect()
    finally:
        embedder.shutdown(wait=True, cancel_futures=True)
    if not paths:
        from siamese_gui.core.errors import DatasetError

        raise DatasetError(f"{root}: no readable image files in the folder or its sub-folders")
    embeddings = np.stack(vectors).astype(np.float32, copy=False)
    removed = 0
    if previous is not None:
        removed = len(set(previous.paths) - set(paths))
    index = SearchIndex(
        embeddings, tuple(paths), tuple(hashes), tuple(classes), fingerprint, root, handle.name
    )
    return index, IndexUpdate(len(paths) - reused, reused, removed, tuple(skipped))


def update_index_file(
    folder: str | os.PathLike,
    handle: ModelHandle,
    out: str | os.PathLike,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SearchIndex, IndexUpdate]:
    """Build `out` from `folder`, reusing what an existing `out` of the same model holds.

    Raises:
        ModelFileError: if `out` exists but was made with another model or is no index.
    """
    out = Path(out)
    previous = None
    if out.exists():
        previous = SearchIndex.load(out)
        previous.check_model(handle, out)
    index, update = build_index(folder, handle, previous, progress=progress)
    index.save(out)
    return index, update


# Search -------------------------------------------------------------------------------


class ExactSearch:
    """Exact K-nearest-neighbour search by numpy over float32 embeddings."""

    def __init__(self, embeddings: np.ndarray, chunk: int | None = None):
        """Args: embeddings (N, D); chunk: gallery rows per block (None: as many as keep a
        block of distances within `BLOCK_FLOATS`)."""
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
        self.chunk = chunk

    def __len__(self) -> int:
        return len(self.embeddings)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices), each (Q, k'), nearest first; k' = min(k, N).

        Ties are broken by the lower gallery index, so results are reproducible.
        """
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        k = min(int(k), len(self))
        query_norms = np.einsum("ij,ij->i", queries, queries)[:, None]
        best_d = np.empty((len(queries), 0), np.float32)
        best_i = np.empty((len(queries), 0), np.int64)
        rows = self.chunk or max(4096, BLOCK_FLOATS // max(len(queries), 1))
        for start in range(0, len(self), rows):
            block = self.embeddings[start : start + rows]
            squared = query_norms - 2.0 * _dot(queries, block) + self.norms[None, start : start + rows]
            np.maximum(squared, 0.0, out=squared)
            take = min(k, squared.shape[1])
            part = np.argpartition(squared, take - 1, axis=1)[:, :take] if take < squared.shape[1] \
                else np.broadcast_to(np.arange(squared.shape[1]), squared.shape)
            best_d = np.concatenate([best_d, np.take_along_axis(squared, part, 1)], axis=1)
            best_i = np.concatenate([best_i, part + start], axis=1)
            if best_d.shape[1] > k:
                keep = np.argpartition(best_d, k - 1, axis=1)[:, :k]
                best_d = np.take_along_axis(best_d, keep, 1)
                best_i = np.take_along_axis(best_i, keep, 1)
        # The expansion |q|^2 - 2 q.e + |e|^2 loses precision near 0 in float32 (an image
        # against itself comes out ~1e-4, not 0): the K winners' distances are recomputed
        # directly before they are ordered and reported.
        exact = np.sqrt(((self.embeddings[best_i] - queries[:, None, :]) ** 2).sum(axis=2))
        order = np.lexsort((best_i, exact), axis=1)
        return np.take_along_axis(exact, order, 1).astype(np.float32), np.take_along_axis(best_i, order, 1)


def _dot(queries: np.ndarray, block: np.ndarray) -> np.ndarray:
    """queries @ block.T. For a few queries, numpy's own single-threaded loop: BLAS's
    threads spin-wait for each other and took 3-4x longer on a busy 2-core machine
    (measured: 100,000 x 64, one query: BLAS 2 threads 22 ms, einsum 18 ms, under load 9)."""
    if len(queries) <= SMALL_BATCH:
        return np.einsum("ij,kj->ik", queries, block)
    return queries @ block.T


class FaissSearch:
    """The same exact search through faiss's `IndexFlatL2` (needs `faiss-cpu`)."""

    def __init__(self, embeddings: np.ndarray):
        faiss = import_faiss()
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.index = faiss.IndexFlatL2(self.embeddings.shape[1])
        self.index.add(self.embeddings)

    def __len__(self) -> int:
        return len(self.embeddings)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices), each (Q, k'), nearest first; k' = min(k, N)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        squared, indices = self.index.search(queries, min(int(k), len(self)))
        return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32), indices.astype(np.int64)


def import_faiss():
    """Import faiss, or explain how to install it.

    Raises:
        SiameseError: when faiss is not installed.
    """
    try:
        import faiss
    except ImportError:
        raise SiameseError(
            "the faiss backend needs faiss-cpu (pip install 'siamese-gui[faiss]')"
        ) from None
    return faiss


def faiss_available() -> bool:
    """Whether the optional faiss backend can be used."""
    try:
        import_faiss()
    except SiameseError:
        return False
    return True


def make_search(embeddings: np.ndarray, backend: str = "numpy") -> ExactSearch | FaissSearch:
    """Return a searcher over `embeddings` ("numpy", the default, or "faiss")."""
    if backend == "numpy":
        return ExactSearch(embeddings)
    if backend == "faiss":
        return FaissSearch(embeddings)
    raise SiameseError(f"unknown search backend {backend!r} (choose {', '.join(BACKENDS)})")


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        rank: 1 for the nearest.
        index: the entry's position in the gallery.
        distance: Euclidean distance between the embeddings.
        same: the verdict at the threshold (distance < threshold).
        path: the file (absolute) or "" for an in-memory gallery.
        class_name: the entry's class, "" when unknown.
    """

    rank: int
    index: int
    distance: float
    same: bool
    path: str = ""
    class_name: str = ""

    def as_dict(self) -> dict:
        return {
            "rank": self.rank, "path": self.path, "class": self.class_name,
            "distance": self.distance, "verdict": "same" if self.same else "different",
        }


def nearest(
    searcher: ExactSearch | FaissSearch,
    query_embedding: np.ndarray,
    k: int,
    threshold: float,
    paths: tuple[str, ...] | None = None,
    classes: tuple[str, ...] | None = None,
) -> list[Hit]:
    """The `k` nearest gallery entries to one query embedding, with their verdicts."""
    if k < 1:
        raise SiameseError(f"top K must be at least 1, got {k}")
    distances, indices = searcher.search(np.asarray(query_embedding).reshape(1, -1), k)
    hits = []
    for rank, (distance, i) in enumerate(zip(distances[0], indices[0]), 1):
        hits.append(Hit(
            rank, int(i), float(distance), bool(distance < threshold),
            paths[i] if paths else "", classes[i] if classes else "",
        ))
    return hits


def search_index(
    index: SearchIndex,
    handle: ModelHandle,
    query: np.ndarray,
    k: int,
    threshold: float | None = None,
    backend: str = "numpy",
) -> list[Hit]:
    """Embed one 28x28 query image and return its `k` nearest entries of `index`."""
    threshold = handle.threshold.value if threshold is None else float(threshold)
    embedding = handle.embed(np.asarray(query)[None])[0]
    hits = nearest(make_search(index.embeddings, backend), embedding, k, threshold)
    return [with_entry(hit, index) for hit in hits]


def with_entry(hit: Hit, index: SearchIndex) -> Hit:
    """`hit` with the file and class of its entry in `index`."""
    return replace(hit, path=str(index.file(hit.index)), class_name=index.classes[hit.index])
