"""Loading a saved model into a `ModelHandle`: LiteRT from its runtime copy, else TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.io.image_format import format_of
from siamese_gui.core.runtime.archive import model_metadata, open_model_file
from siamese_gui.core.runtime.copies import (
    RUNTIME_FORMAT,
    archive_is_code_free,
    archive_key,
    find_runtime_copy,
    runtime_embedder,
    runtime_installed,
)
from siamese_gui.core.runtime.export import _check_target, export_embedding
from siamese_gui.core.runtime.handle import ModelHandle, is_inside_package
from siamese_gui.core.runtime.tensorflow import start_tensorflow

# Set to "tensorflow" to make `load_model_handle` ignore runtime copies.
RUNTIME_ENV = "SIAMESE_GUI_RUNTIME"


def load_runtime_model_handle(path: str | os.PathLike) -> ModelHandle | None:
    """The model running in LiteRT from its intact runtime copy, or None (no copy, no
    LiteRT, or `SIAMESE_GUI_RUNTIME=tensorflow`). Never imports TensorFlow."""
    return _runtime_attempt(path)[0]


def _runtime_attempt(path: str | os.PathLike) -> tuple[ModelHandle | None, tuple[str, ...]]:
    """The LiteRT handle, if a proven copy runs, and the copies refused on the way."""
    if os.environ.get(RUNTIME_ENV, "").strip().lower() == "tensorflow":
        return None, ()
    return load_runtime_handle(path, with_refusals=True)


def load_model_handle(path: str | os.PathLike, runtime: str = "auto", cache: bool = True) -> ModelHandle:
    """Load a saved model (safely) into a handle.

    Args:
        path: the `.keras` file.
        runtime: "auto" runs the model's runtime copy in LiteRT where it has an intact
            one (no TensorFlow), else TensorFlow; "tensorflow" always uses TensorFlow,
            as does "auto" when the environment variable `SIAMESE_GUI_RUNTIME` is
            "tensorflow" (for side-by-side checks).
        cache: on the TensorFlow path, make a runtime copy in the user cache so that
            the next load is fast (skipped where LiteRT is not installed).

    Raises:
        ModelFileError: when the file cannot be loaded safely (see `store.load_model`).
    """
    if runtime not in ("auto", "tensorflow"):
        raise ValueError(f"runtime must be 'auto' or 'tensorflow', not {runtime!r}")
    refused: tuple[str, ...] = ()
    if runtime == "auto":
        handle, refused = _runtime_attempt(path)
        if handle is not None:
            return handle
    start_tensorflow()
    from siamese_gui.core.model.graph import keras_embedder
    from siamese_gui.core.runtime.store import load_model

    loaded = load_model(path)
    if cache:
        from siamese_gui.core.runtime.export import cache_runtime_copy

        cache_runtime_copy(loaded.embedding, Path(path), loaded.info)
    notes = [f"{note}; TensorFlow computes the distances instead" for note in refused]
    return ModelHandle(
        embedder=keras_embedder(loaded.embedding),
        metadata=loaded.info,
        path=Path(path),
        keras_model=loaded.model,
        keras_embedding=loaded.embedding,
        warnings=list(loaded.warnings) + notes,
        read_only=is_inside_package(Path(path)),
    )


def load_runtime_handle(model_path: str | os.PathLike, with_refusals: bool = False):
    """A `ModelHandle` for a `.keras` model whose embeddings LiteRT computes, or None.

    None means "use TensorFlow": LiteRT is not installed, the metadata is unreadable,
    or there is no copy that provably comes from this file (see `copies`). Keras loads
    the model itself only when something asks for `keras_model` (saving, training).

    Args:
        model_path: the `.keras` file.
        with_refusals: also return, in words, the copies that were found but not proven.
    """
    model_path = Path(model_path)
    none = (None, ()) if with_refusals else None
    if model_path.suffix != ".keras" or not model_path.is_file() or not runtime_installed(RUNTIME_FORMAT):
        return none
    try:
        # One read of the file for its metadata, its key and its check for code.
        archive = open_model_file(model_path)
        metadata = model_metadata(archive)
    except (ModelFileError, OSError):
        return none  # TensorFlow's path reports the problem in its own words
    search = find_runtime_copy(model_path, metadata, archive_key(archive))
    refused = search.refused
    if search.copy is None or not archive_is_code_free(archive):
        return (None, refused) if with_refusals else None
    try:
        embedder = runtime_embedder(search.copy.path)
    except (ModelFileError, ImportError):
        refused = (*refused, f"LiteRT cannot run {search.copy.path.name}")
        return (None, refused) if with_refusals else None
    try:
        expected = format_of(metadata)
    except ConfigError:
        return (None, refused) if with_refusals else None
    if getattr(embedder, "image_format", expected) != expected:
        refused = (*refused, f"{search.copy.path.name} takes other images than the model")
        return (None, refused) if with_refusals else None
    handle = ModelHandle(
        embedder=embedder,
        metadata=metadata,
        path=model_path,
        warnings=[],
        read_only=is_inside_package(model_path),
        engine=f"LiteRT ({search.copy.path.name})",
    )
    return (handle, refused) if with_refusals else handle


def export_model(model_path: str | os.PathLike, out: str | os.PathLike, fmt: str) -> Path:
    """Load a `.keras` model safely and export its embedding network (see `export_embedding`).

    Raises:
        ModelFileError: if the model cannot be loaded or converted.
        SiameseError: on a bad format or output path.
    """
    _check_target(Path(out), fmt, (model_path,))
    start_tensorflow()
    from siamese_gui.core.runtime.store import load_model

    loaded = load_model(model_path)
    return export_embedding(loaded.embedding, out, fmt, loaded.info, model_path)

