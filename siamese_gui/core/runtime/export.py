"""Export a model's embedding network to LiteRT (`.tflite`) or ONNX, with a JSON card.

The exported network maps float32 images (N, H, W, C), pixel / 255 (grey: C = 1, a light
object on a dark background; colour: C = 3, red-green-blue), to embeddings (N, D); the
card records H, W and C. Two images are "same" when the
Euclidean distance of their embeddings is below the threshold; the card beside the
file (`FILE.json`) records that threshold, the class names and the SHA-256 of the
`.keras` file the export was made from.

Converting needs TensorFlow (and `tf2onnx` for ONNX); running the result does not.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import siamese_gui
from siamese_gui.core.errors import ModelFileError, SiameseError
from siamese_gui.core.evaluation.threshold import read_threshold, threshold_fields
from siamese_gui.core.io.safe_files import (
    OutputKind,
    check_output,
    check_replaceable,
    create_temp_beside,
    looks_like_text,
    write_atomically,
)
from siamese_gui.core.runtime.copies import (
    CARD_KIND,
    CARD_VERSION,
    FORMATS,
    RUNTIME_FORMAT,
    SEAL_FIELD,
    cached_copy_path,
    card_path,
    file_sha256,
    find_runtime_copy,
    model_key,
    network_key,
    read_card,
    runtime_copy_path,
    runtime_embedder,
    runtime_installed,
    seal,
    seal_key,
)
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden, start_tensorflow

# The largest difference from Keras an export may show on the probe images; float32
# rounding in a different operation order stays near 1e-6.
PARITY_TOLERANCE = 1e-4
_PROBE_COUNT = 32
# What an existing file at an export's path must be for the export to replace it.
EXPORT_KINDS = {
    "tflite": OutputKind("LiteRT model (.tflite)", lambda head: head[4:8] == b"TFL3"),
    "onnx": OutputKind("ONNX model (.onnx)", lambda head: head[:1] == b"\x08"),  # ModelProto's ir_version
}
CARD_OUTPUT = OutputKind("export card (JSON)", lambda head: looks_like_text(head) and head.lstrip()[:1] == b"{")


def _tflite_bytes(embedding) -> bytes:
    """Convert through a frozen graph: seconds, where Keras' SavedModel route takes ~4x longer."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from siamese_gui.core.backend import tf
    from siamese_gui.core.model.graph import InferenceCall

    function = tf.function(InferenceCall(embedding))
    shape = (None, *embedding.input_shape[1:])
    concrete = function.get_concrete_function(tf.TensorSpec(shape, tf.float32, name="image"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(concrete)])
    # Built-in operators only: a file that needs TensorFlow's own kernels
    # (SELECT_TF_OPS) would not run in plain LiteRT.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _convert(embedding, target: str, fmt: str) -> None:
    """Write `embedding` in format `fmt` to the file `target` (TensorFlow's converters)."""
    start_tensorflow()
    from siamese_gui.core.backend import tf

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


def _probe_images(shape=(28, 28, 1)) -> np.ndarray:
    """Fixed images of one image `shape` (H, W, C) for the parity check: noise, blank,
    full and a few shapes."""
    rng = np.random.default_rng(0)
    images = rng.random((_PROBE_COUNT, *shape), dtype=np.float32)
    images[0] = 0.0
    images[1] = 1.0
    images[2:8] *= rng.random((6, *shape), dtype=np.float32) > 0.7
    return images


def check_parity(embedding, export_path: str | os.PathLike) -> float:
    """Largest absolute difference between Keras and the runtime on the probe images.

    Raises:
        ModelFileError: if it exceeds `PARITY_TOLERANCE` or the shapes differ.
    """
    from siamese_gui.core.model.graph import graph_embedder

    images = _probe_images(tuple(embedding.input_shape[1:]))
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


def card_for(
    export_path: Path, fmt: str, embedding, metadata: dict, model_path: Path | None, key: str | None
) -> dict:
    """The card written beside an export (see the module docstring); `key` is the model's
    `network_key`. It describes the file; it proves nothing (see `copies`).

    It always carries a threshold (the fallback where the model has none) with its
    origin and detail, as `core.evaluation.threshold.threshold_fields` writes them.
    """
    from siamese_gui.core.backend import keras

    card = {
        "kind": CARD_KIND,
        "version": CARD_VERSION,
        "format": fmt,
        "file": export_path.name,
        "file_sha256": file_sha256(export_path),
        "model_file": model_path.name if model_path else None,
        "model_sha256": key,
        "input": {
            "shape": [None, *(int(d) for d in embedding.input_shape[1:])],
            "dtype": "float32",
            "pixels": (
                "red, green, blue / 255 in [0, 1], as the image is"
                if embedding.input_shape[-1] == 3
                else "grayscale value / 255 in [0, 1]; light object on a dark background"
            ),
        },
        "output": {"shape": [None, int(embedding.output.shape[-1])], "dtype": "float32"},
        "distance": "euclidean",
        **threshold_fields(read_threshold(metadata, str(model_path or export_path))),
        "same_if": "distance < threshold",
        "class_names": list(metadata.get("class_names") or []),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"siamese_gui": siamese_gui.__version__, "keras": keras.__version__},
    }
    return card


def update_card_threshold(model_path: str | os.PathLike, metadata: dict) -> Path | None:
    """Give the card of the runtime copy beside a model the threshold its metadata now holds.

    The copy stays valid when only the threshold changes (its key is the network's), so
    its card must not keep the old one. Best effort, like `write_runtime_copy`: returns
    the card rewritten, or None where there is no copy of this model or it cannot be
    written.
    """
    model_path = Path(model_path)
    export_path = runtime_copy_path(model_path)
    card_file = card_path(export_path)
    try:
        card = read_card(export_path)
        if card.get("model_sha256") != model_key(model_path):
            return None
        card.update(threshold_fields(read_threshold(metadata, str(model_path))))
        text = (json.dumps(card, indent=2, sort_keys=True) + "\n").encode("utf-8")
        write_atomically(card_file, lambda handle: handle.write(text), ModelFileError, "the card", CARD_OUTPUT)
    except (OSError, ValueError, ModelFileError):
        return None
    return card_file


def _check_target(out: Path, fmt: str, inputs=()) -> Path:
    """Return the folder of `out` after checking the format, the suffix, the folder and
    what stands at `out` and at its card's path (`safe_files.check_output`)."""
    if fmt not in FORMATS:
        raise SiameseError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if out.suffix != f".{fmt}":
        raise SiameseError(f"{out}: a {fmt} export must end in .{fmt}")
    check_output(out, EXPORT_KINDS[fmt], SiameseError, inputs)
    check_output(card_path(out), CARD_OUTPUT, SiameseError, inputs)
    return out.parent if str(out.parent) else Path(".")


def _converted(embedding, out: Path, fmt: str, model_path: Path | None) -> str:
    """Convert `embedding` into a new temp file beside `out` and check it against Keras.

    Returns:
        The temp file's path; the caller moves it into place or removes it.
    """
    folder = _check_target(out, fmt, (model_path,))
    fd, temp = create_temp_beside(out, folder)
    os.close(fd)
    temp = str(temp)
    try:
        try:
            _convert(embedding, temp, fmt)
        except ImportError as exc:
            raise SiameseError(
                f"{out}: exporting to {fmt} needs the {exc.name or 'tf2onnx'} package "
                "(pip install 'siamese-gui[onnx]')"
            ) from None
        except (ValueError, TypeError, RuntimeError, AttributeError, KeyError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{model_path or out}: cannot convert the network to {fmt} ({text})") from None
        if runtime_installed(fmt):
            check_parity(embedding, temp)
        os.chmod(temp, 0o644)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    return temp


def _install(temp_export: str, out: Path, card: dict, fmt: str, inputs=()) -> None:
    """Move a converted temp file to `out` with its card beside it; the temp is gone after."""
    temp_card = None
    try:
        fd, temp_card = create_temp_beside(out, None, ".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(card, indent=2, sort_keys=True) + "\n")
        os.chmod(temp_card, 0o644)
        # What stands at either name may have changed during the seconds of conversion.
        check_replaceable(out, EXPORT_KINDS[fmt], SiameseError, inputs)
        check_replaceable(card_path(out), CARD_OUTPUT, SiameseError, inputs)
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
        model_path: the `.keras` file the network comes from (its key goes on the card).

    Returns:
        The path written.

    Raises:
        SiameseError: on an unknown format, a suffix that does not match it, or a
            missing converter package.
        ModelFileError: if conversion fails, the result is not faithful, or the
            folder cannot be written.
    """
    out = Path(out)
    model_path = Path(model_path) if model_path is not None else None
    metadata = metadata or {}
    temp = _converted(embedding, out, fmt, model_path)
    key = network_key(metadata) if metadata.get("config_sha256") else (model_key(model_path) if model_path else None)
    try:
        card = card_for(Path(temp), fmt, embedding, metadata, model_path, key)
    except BaseException:
        os.remove(temp)
        raise
    card["file"] = out.name
    _install(temp, out, card, fmt, (model_path,))
    return out


@dataclass
class PreparedCopy:
    """A runtime copy converted before its model is written (see `prepare_runtime_copy`).

    Attributes:
        temp: the converted file, in the model's folder under a temp name.
        sha256: its SHA-256, recorded inside the model as `runtime_copy_sha256`.
    """

    temp: str
    sha256: str

    def discard(self) -> None:
        """Remove the temp file (the model was not written, or the copy is not wanted)."""
        with contextlib.suppress(OSError):
            os.remove(self.temp)


def prepare_runtime_copy(embedding, model_path: str | os.PathLike) -> PreparedCopy | None:
    """Convert a model's embedding network for LiteRT before the model itself is saved.

    The copy's digest then goes into the `.keras` in the same atomic save as the
    network, so no later save can pair this copy with another network. Best effort:
    None where LiteRT is not installed or conversion fails (the model still loads,
    through TensorFlow).
    """
    if not runtime_installed(RUNTIME_FORMAT):
        return None
    target = runtime_copy_path(model_path)
    try:
        temp = _converted(embedding, target, RUNTIME_FORMAT, Path(model_path))
    except Exception:  # noqa: BLE001 - a failed copy must not fail the save it precedes
        return None
    return PreparedCopy(temp, file_sha256(temp))


def install_runtime_copy(prepared: PreparedCopy, embedding, model_path: str | os.PathLike, metadata: dict) -> Path | None:
    """Move a prepared copy beside its just-saved model (`NAME.tflite` + card).

    Call with the model's folder lock held, right after the model file is in place.
    """
    model_path = Path(model_path)
    target = runtime_copy_path(model_path)
    try:
        card = card_for(Path(prepared.temp), RUNTIME_FORMAT, embedding, metadata, model_path, network_key(metadata))
        card["file"] = target.name
        _install(prepared.temp, target, card, RUNTIME_FORMAT, (model_path,))
    except Exception:  # noqa: BLE001 - the model is saved; without its copy it loads through TensorFlow
        prepared.discard()
        return None
    return target


def cache_runtime_copy(embedding, model_path: str | os.PathLike, metadata: dict) -> Path | None:
    """Make a sealed runtime copy of a model that lacks one, in the user cache.

    Keyed by `network_key(metadata)`, the metadata of the very file Keras loaded the
    `embedding` from, so a save landing at `model_path` meanwhile cannot be paired with
    this network. Best effort: returns the copy, or None where LiteRT is not installed
    or the cache cannot be written.
    """
    if not runtime_installed(RUNTIME_FORMAT):
        return None
    model_path = Path(model_path)
    try:
        key = network_key(metadata)
        if not key:
            return None
        existing = find_runtime_copy(model_path, metadata, key).copy
        if existing is not None:
            return existing.path
        secret = seal_key(create=True)
        if secret is None:
            return None
        target = cached_copy_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = _converted(embedding, target, RUNTIME_FORMAT, model_path)
        try:
            card = card_for(Path(temp), RUNTIME_FORMAT, embedding, metadata, model_path, key)
        except BaseException:
            os.remove(temp)
            raise
        card["file"] = target.name
        card[SEAL_FIELD] = seal(secret, key, card["file_sha256"])
        _install(temp, target, card, RUNTIME_FORMAT, (model_path,))
        return target
    except Exception:  # noqa: BLE001 - without a cache entry the model still runs in TensorFlow
        return None
