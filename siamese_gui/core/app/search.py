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
import re
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from siamese_gui.core.data.datasets import list_image_files
from siamese_gui.core.errors import Cancelled, ImageError, ModelFileError, SiameseError
from siamese_gui.core.io.images import decode_image, read_image_bytes
from siamese_gui.core.io.safe_files import (
    OutputKind,
    check_output,
    file_sha256,
    looks_like_zip,
    read_npz_arrays,
    write_atomically,
)
from siamese_gui.core.runtime.handle import ModelHandle

INDEX_FORMAT = 1
# Images decoded and embedded per step: bounds memory (4096 x 28 x 28 float32 = 13 MB).
INDEX_CHUNK = 4096
# Distances computed per block (queries x gallery rows), float32: 64 MB at most.
BLOCK_FLOATS = 1 << 24
BACKENDS = ("numpy", "faiss")
SMALL_BATCH = 4
# Bounds on an index file read back: 2 million 128-wide embeddings and their paths fit.
MAX_INDEX_BYTES = 2 * 2**30
INDEX_FIELDS = ("format", "embeddings", "paths", "hashes", "classes", "fingerprint", "root", "model_name")
# No embedding of ours comes near this; far larger values overflow float32 distances.
MAX_EMBEDDING_ABS = 1e6
INDEX_KIND = OutputKind("search index (.npz)", looks_like_zip)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_index_target(path: str | os.PathLike, inputs=()) -> Path:
    """Refuse an index path before anything is embedded (see `safe_files.check_output`).

    Raises:
        SiameseError: on another suffix than .npz or a refused path.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise SiameseError(f"{path}: the index file must end in .npz")
    return check_output(path, INDEX_KIND, SiameseError, inputs)


_WIDTHS: "weakref.WeakKeyDictionary[ModelHandle, int]" = weakref.WeakKeyDictionary()


def embedding_width(handle: ModelHandle) -> int:
    """How many values the model's embeddings have, found by embedding one blank image
    (once per handle: a network's width never changes)."""
    if handle not in _WIDTHS:
        blank = np.zeros((1, *handle.image_format.image_shape), np.float32)
        _WIDTHS[handle] = int(np.asarray(handle.embed(blank)).shape[-1])
    return _WIDTHS[handle]


def _check_width(vectors: np.ndarray, width: int, source: str, handle: ModelHandle) -> None:
    if vectors.ndim != 2 or vectors.shape[1] != width:
        got = vectors.shape[1] if vectors.ndim == 2 else "?"
        raise ModelFileError(
            f"{source}: index embeddings have {width} values, {handle.name}'s have {got}; "
            "the index is damaged or made by another network (rebuild it)"
        )


def stored_path_problem(path: str) -> str:
    """Why a path stored in an index is unusable ("" when it is a relative path inside the
    indexed folder: no absolute path, drive, `..` or `.` part, empty part or NUL)."""
    if not path or "\x00" in path:
        return "an empty path or one with a NUL"
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
        return f"an absolute path {path!r}"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return f"a path outside the indexed folder {path!r}"
    return ""


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
        if len(self):
            _check_width(np.zeros((1, embedding_width(handle))), self.embeddings.shape[1], source, handle)

    def save(self, path: str | os.PathLike, inputs=()) -> Path:
        """Write the index atomically as `.npz` (no pickles), through the one output writer.

        Raises:
            SiameseError: on another suffix than .npz, a refused path, or a failed write.
        """
        path = check_index_target(path, inputs)
        dim = self.embeddings.shape[1] if self.embeddings.ndim == 2 else 0
        embeddings = np.asarray(self.embeddings, np.float32).reshape(len(self), dim)
        if not np.all(np.isfinite(embeddings)):
            raise SiameseError(f"{path}: the embeddings are not finite; the index is not written")

        def write(handle) -> None:
            np.savez(
                handle,
                format=np.int64(INDEX_FORMAT),
                embeddings=embeddings,
                paths=np.asarray(self.paths, dtype=str),
                hashes=np.asarray(self.hashes, dtype=str),
                classes=np.asarray(self.classes, dtype=str),
                fingerprint=np.asarray(self.fingerprint),
                root=np.asarray(str(self.root)),
                model_name=np.asarray(self.model_name),
            )

        return write_atomically(path, write, SiameseError, "the index", INDEX_KIND, inputs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SearchIndex":
        """Read an index written by `save`.

        Raises:
            ModelFileError: if the file is missing, not an index, or inconsistent.
        """
        path = Path(path)
        fields = read_npz_arrays(path, INDEX_FIELDS, MAX_INDEX_BYTES, MAX_INDEX_BYTES, ModelFileError, "index file")
        missing = [name for name in INDEX_FIELDS[:-1] if name not in fields]
        if missing:
            raise ModelFileError(f"{path}: not a search index (missing {', '.join(missing)})")
        for name in ("paths", "hashes", "classes", "fingerprint", "root", "model_name"):
            if name in fields and fields[name].dtype.kind != "U":
                raise ModelFileError(f"{path}: not a search index ({name} is not text)")
        for name in ("format", "fingerprint", "root", "model_name"):
            if name in fields and fields[name].shape != ():
                raise ModelFileError(f"{path}: not a search index ({name} is not one value)")
        if fields["format"].dtype.kind not in "iu" or int(fields["format"]) != INDEX_FORMAT:
            raise ModelFileError(f"{path}: index format {fields['format']} is not {INDEX_FORMAT}")
        embeddings = fields["embeddings"]
        for name in ("paths", "hashes", "classes"):
            if fields[name].ndim != 1:
                raise ModelFileError(f"{path}: not a search index ({name} is not a list)")
        count = len(fields["paths"])
        if embeddings.ndim != 2 or len(embeddings) != count or len(fields["hashes"]) != count \
                or len(fields["classes"]) != count:
            raise ModelFileError(f"{path}: index arrays disagree in length")
        if embeddings.dtype != np.float32 or not np.all(np.isfinite(embeddings)):
            raise ModelFileError(f"{path}: index embeddings are not finite float32 values")
        if count and float(np.abs(embeddings).max()) > MAX_EMBEDDING_ABS:
            raise ModelFileError(f"{path}: index embeddings hold values beyond {MAX_EMBEDDING_ABS:g}, "
                                 "which no model of ours makes")
        paths = tuple(str(p) for p in fields["paths"])
        for stored in paths:
            problem = stored_path_problem(stored)
            if problem:
                raise ModelFileError(f"{path}: the index holds {problem}; refused")
        hashes = tuple(str(h) for h in fields["hashes"])
        if not all(_SHA256.fullmatch(h) for h in hashes):
            raise ModelFileError(f"{path}: the index holds a file hash that is not a SHA-256")
        root = str(fields["root"])
        if not os.path.isabs(root):
            raise ModelFileError(f"{path}: the indexed folder {root!r} is not an absolute path")
        return cls(
            embeddings=embeddings,
            paths=paths,
            hashes=hashes,
            classes=tuple(str(c) for c in fields["classes"]),
            fingerprint=str(fields["fingerprint"]),
            root=Path(root),
            model_name=str(fields["model_name"]) if "model_name" in fields else "",
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
    if previous is not None and len(previous):
        # Vectors of another width would be written back as if this model made them.
        _check_width(np.zeros((1, embedding_width(handle))), previous.embeddings.shape[1],
                     "the previous index", handle)
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
                image = (None if vector is not None
                         else decode_image(data, str(path), image_format=handle.image_format))
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
    if reused and reused < len(vectors):
        # What the model made now is the truth the reused vectors must match.
        fresh = next(vectors[i] for i, digest in enumerate(hashes) if digest not in known)
        _check_width(np.atleast_2d(fresh), previous.embeddings.shape[1], "the previous index", handle)
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
    inputs=(),
) -> tuple[SearchIndex, IndexUpdate]:
    """Build `out` from `folder`, reusing what an existing `out` of the same model holds.

    Args:
        inputs: files `out` must not be (the model), besides `handle.path`.

    Raises:
        SiameseError: if `out` is refused as an output (see `check_index_target`).
        ModelFileError: if `out` exists but was made with another model or is no index.
    """
    inputs = (*inputs, handle.path)
    out = check_index_target(out, inputs)
    previous = None
    if os.path.lexists(out):
        previous = SearchIndex.load(out)
        previous.check_model(handle, out)
    index, update = build_index(folder, handle, previous, progress=progress)
    index.save(out, inputs)
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
    query_embedding = np.asarray(query_embedding)
    if not np.all(np.isfinite(query_embedding)):
        raise SiameseError("the query's embedding is not finite; the model's weights are unusable")
    distances, indices = searcher.search(query_embedding.reshape(1, -1), k)
    if not np.all(np.isfinite(distances)):
        raise SiameseError("the distances are not finite (the gallery holds values out of range)")
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
    if len(index):
        _check_width(np.atleast_2d(embedding), index.embeddings.shape[1], "the index", handle)
    hits = nearest(make_search(index.embeddings, backend), embedding, k, threshold)
    return [with_entry(hit, index) for hit in hits]


def with_entry(hit: Hit, index: SearchIndex) -> Hit:
    """`hit` with the file and class of its entry in `index`."""
    return replace(hit, path=str(index.file(hit.index)), class_name=index.classes[hit.index])
