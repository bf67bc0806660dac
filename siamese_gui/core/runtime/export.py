"""Export a model's embedding network to LiteRT (`.tflite`) or ONNX, with a JSON card.

The exported network maps float32 images (N, 28, 28, 1), pixel / 255 with a light
object on a dark background, to embeddings (N, D). Two images are "same" when the
Euclidean distance of their embeddings is below the threshold; the card beside the
file (`FILE.json`) records that threshold, the class names and the SHA-256 of the
`.keras` file the export was made from.

Converting needs TensorFlow (and `tf2onnx` for ONNX); running the result does not.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import siamese_gui
from siamese_gui.core.errors import ModelFileError, SiameseError
from siamese_gui.core.runtime.copies import (
    CARD_KIND,
    CARD_VERSION,
    FORMATS,
    RUNTIME_FORMAT,
    cached_copy_path,
    card_path,
    file_sha256,
    find_runtime_copy,
    model_key,
    read_metadata,
    runtime_copy_path,
    runtime_embedder,
    runtime_installed,
    safe_mode_would_load,
)
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden, start_tensorflow

# The largest difference from Keras an export may show on the probe images; float32
# rounding in a different operation order stays near 1e-6.
PARITY_TOLERANCE = 1e-4
_PROBE_COUNT = 32


def _tflite_bytes(embedding) -> bytes:
    """Convert through a frozen graph: seconds, where Keras' SavedModel route takes ~4x longer."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: embedding(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((None, 28, 28, 1), tf.float32, name="image"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(concrete)])
    # Built-in operators only: a file that needs TensorFlow's own kernels
    # (SELECT_TF_OPS) would not run in plain LiteRT.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _convert(embedding, target: str, fmt: str) -> None:
    """Write `embedding` in format `fmt` to the file `target` (TensorFlow's converters)."""
    start_tensorflow()
    import tensorflow as tf

    with native_stderr_hidden(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = logging.getLogger("tf2onnx"), logging.getLogger("absl")
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        try:
            if fmt == "tflite":
                try:
                    data = _tflite_bytes(embedding)
                except Exception:  # noqa: BLE001 - TensorFlow may drop that path; Keras' own remains
                    embedding.export(
                        target, format="litert", verbose=False,
                        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
                    )
                else:
                    Path(target).write_bytes(data)
            else:
                embedding.export(target, format="onnx", verbose=False)
        finally:
            for logger, level in zip(quiet, levels):
                logger.setLevel(level)


def _probe_images() -> np.ndarray:
    """Fixed images for the parity check: noise, blank, full and a few shapes."""
    rng = np.random.default_rng(0)
    images = rng.random((_PROBE_COUNT, 28, 28, 1), dtype=np.float32)
    images[0] = 0.0
    images[1] = 1.0
    images[2:8] *= rng.random((6, 28, 28, 1), dtype=np.float32) > 0.7
    return images


def check_parity(embedding, export_path: str | os.PathLike) -> float:
    """Largest absolute difference between Keras and the runtime on the probe images.

    Raises:
        ModelFileError: if it exceeds `PARITY_TOLERANCE` or the shapes differ.
    """
    from siamese_gui.core.model.graph import graph_embedder

    images = _probe_images()
    expected = graph_embedder(embedding)(images).numpy()
    actual = runtime_embedder(export_path)(images)
    if actual.shape != expected.shape:
        raise ModelFileError(f"{export_path}: outputs {actual.shape}, Keras {expected.shape}")
    worst = float(np.max(np.abs(actual - expected)))
    if not worst <= PARITY_TOLERANCE:
        raise ModelFileError(
            f"{export_path}: differs from the Keras network by {worst:.2e} (more than {PARITY_TOLERANCE:g}); "
            "the converter does not reproduce one of its layers"
        )
    return worst


def card_for(export_path: Path, fmt: str, embedding, metadata: dict, model_path: Path | None) -> dict:
    """The card written beside an export (see the module docstring)."""
    import keras

    card = {
        "kind": CARD_KIND,
        "version": CARD_VERSION,
        "format": fmt,
        "file": export_path.name,
        "file_sha256": file_sha256(export_path),
        "model_file": model_path.name if model_path else None,
        "model_sha256": model_key(model_path) if model_path else None,
        "input": {
            "shape": [None, 28, 28, 1],
            "dtype": "float32",
            "pixels": "grayscale value / 255 in [0, 1]; light object on a dark background",
        },
        "output": {"shape": [None, int(embedding.output.shape[-1])], "dtype": "float32"},
        "distance": "euclidean",
        "threshold": metadata.get("threshold"),
        "threshold_detail": metadata.get("threshold_detail") or "max accuracy on validation pairs",
        "same_if": "distance < threshold",
        "class_names": list(metadata.get("class_names") or []),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"siamese_gui": siamese_gui.__version__, "keras": keras.__version__},
    }
    return card


def _check_target(out: Path, fmt: str) -> Path:
    """Return the folder of `out` after checking the format, the suffix and the folder."""
    if fmt not in FORMATS:
        raise SiameseError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if out.suffix != f".{fmt}":
        raise SiameseError(f"{out}: a {fmt} export must end in .{fmt}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise SiameseError(f"{out}: folder {folder} does not exist")
    return folder


def export_embedding(
    embedding,
    out: str | os.PathLike,
    fmt: str,
    metadata: dict | None = None,
    model_path: str | os.PathLike | None = None,
) -> Path:
    """Export a Keras embedding network and write its card beside it, atomically.

    Where the runtime for `fmt` is installed, the export is run on fixed probe images
    and refused if it differs from Keras by more than `PARITY_TOLERANCE`.

    Args:
        embedding: the Keras embedding network (the model's "embedding" layer).
        out: the file to write (`.tflite` or `.onnx`, matching `fmt`).
        fmt: "tflite" or "onnx".
        metadata: the model's metadata (threshold, class names) for the card.
        model_path: the `.keras` file the network comes from (its SHA-256 goes on
            the card; a runtime copy is used only for that exact file).

    Returns:
        The path written.

    Raises:
        SiameseError: on an unknown format, a suffix that does not match it, or a
            missing converter package.
        ModelFileError: if conversion fails, the result is not faithful, or the
            folder cannot be written.
    """
    out = Path(out)
    folder = _check_target(out, fmt)
    model_path = Path(model_path) if model_path is not None else None
    temp_export = temp_card = None
    try:
        fd, temp_export = tempfile.mkstemp(dir=folder, prefix=f".{out.stem}.", suffix=f".tmp.{fmt}")
        os.close(fd)
        try:
            _convert(embedding, temp_export, fmt)
        except ImportError as exc:
            raise SiameseError(
                f"{out}: exporting to {fmt} needs the {exc.name or 'tf2onnx'} package "
                "(pip install 'siamese-gui[onnx]')"
            ) from None
        except (ValueError, TypeError, RuntimeError, AttributeError, KeyError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{model_path or out}: cannot convert the network to {fmt} ({text})") from None
        if runtime_installed(fmt):
            check_parity(embedding, temp_export)
        card = card_for(Path(temp_export), fmt, embedding, metadata or {}, model_path)
        card["file"] = out.name
        fd, temp_card = tempfile.mkstemp(dir=folder, prefix=f".{out.stem}.", suffix=".tmp.json")
        os.close(fd)
        Path(temp_card).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for name in (temp_export, temp_card):
            os.chmod(name, 0o644)
        os.replace(temp_export, out)
        temp_export = None
        os.replace(temp_card, card_path(out))
        temp_card = None
    except OSError as exc:
        raise ModelFileError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        for leftover in (temp_export, temp_card):
            if leftover is not None and os.path.exists(leftover):
                os.remove(leftover)
    return out




def write_runtime_copy(embedding, model_path: str | os.PathLike) -> Path | None:
    """Write the runtime copy of a just-saved model beside it (`NAME.tflite` + card).

    Best effort: the model file is what matters, and a model without a runtime copy
    still loads (through TensorFlow, then cached). Returns None where LiteRT is not
    installed or the copy could not be made.
    """
    model_path = Path(model_path)
    if not runtime_installed(RUNTIME_FORMAT) or not safe_mode_would_load(model_path):
        return None
    try:
        return export_embedding(
            embedding, runtime_copy_path(model_path), RUNTIME_FORMAT, read_metadata(model_path), model_path
        )
    except Exception:  # noqa: BLE001 - a failed copy must not fail the save it follows
        return None


def cache_runtime_copy(embedding, model_path: str | os.PathLike, metadata: dict | None = None) -> Path | None:
    """Make a runtime copy of a model that lacks one, in the user cache (keyed by its SHA-256).

    Best effort, like `write_runtime_copy`: returns the copy, or None where LiteRT is
    not installed or the cache cannot be written.

    Args:
        embedding: the model's embedding network.
        model_path: the `.keras` file.
        metadata: its metadata where the caller has read it (read from the file if None).
    """
    if not runtime_installed(RUNTIME_FORMAT):
        return None
    model_path = Path(model_path)
    try:
        sha = model_key(model_path)
        existing = find_runtime_copy(model_path, sha)
        if existing is not None:
            return existing.path
        target = cached_copy_path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        if metadata is None:
            metadata = read_metadata(model_path)
        return export_embedding(embedding, target, RUNTIME_FORMAT, metadata, model_path)
    except Exception:  # noqa: BLE001 - without a cache entry the model still runs in TensorFlow
        return None
