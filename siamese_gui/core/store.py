"""Save models atomically with a JSON sidecar; load them safely.

A model is a `.keras` file (the Siamese pair model) plus a sidecar `.json` of the same
name holding its settings, data source, metrics, recommended threshold, versions and the
SHA-256 of the `.keras` file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

import siamese_gui
from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.model import EMBEDDING_NAME, INPUT_SHAPE
from siamese_gui.core.training import TrainingResult

SIDECAR_FORMAT = 1


def sidecar_path(path: str | os.PathLike) -> Path:
    """Return the sidecar path of a model file: the same name with `.json`."""
    return Path(path).with_suffix(".json")


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def result_metadata(result: TrainingResult, class_names: tuple[str, ...]) -> dict:
    """Return the sidecar fields that describe a training result."""
    return {
        "config": result.config.as_dict(),
        "data_source": result.data_source,
        "class_names": list(class_names),
        "threshold": result.threshold,
        "training": {
            "status": result.status,
            "seconds": round(result.seconds, 1),
            "history": result.history,
        },
        "metrics": {
            "validation": result.validation.as_dict() if result.validation else None,
            "at_threshold": result.at_threshold.as_dict() if result.at_threshold else None,
        },
    }


def _temp_file(folder: Path, stem: str, suffix: str) -> str:
    """Create an empty temp file in `folder` with the permissions of a normal new file."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is a normal file
    return name


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_model(model: keras.Model, path: str | os.PathLike, metadata: dict) -> Path:
    """Save a pair model and its sidecar atomically.

    Both files are first written to temporary files in the target folder and then moved
    over the old ones with `os.replace`, so an interrupted save leaves the previous model
    intact and no partial file under the target name.

    Args:
        model: the Siamese pair model.
        path: target file, ending in `.keras`.
        metadata: sidecar fields (see `result_metadata`); versions, time and SHA-256
            are added here.

    Returns:
        The path written.

    Raises:
        ModelFileError: on a wrong suffix, or when the folder cannot be written (read-only,
            disk full, ...).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: model files must end in .keras")
    folder = path.parent if str(path.parent) else Path(".")
    temp_model = temp_sidecar = backup = None
    try:
        temp_model = _temp_file(folder, path.stem, ".tmp.keras")
        model.save(temp_model)
        sidecar = {
            **metadata,
            "format": SIDECAR_FORMAT,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "siamese_gui": siamese_gui.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            "model_file": path.name,
            "sha256": file_sha256(temp_model),
        }
        temp_sidecar = _temp_file(folder, path.stem, ".tmp.json")
        _write_json(Path(temp_sidecar), sidecar)
        had_model = path.exists()
        backup = _hard_link_copy(path, folder) if had_model else None
        os.replace(temp_model, path)
        temp_model = None
        try:
            os.replace(temp_sidecar, sidecar_path(path))
        except OSError:
            # Two renames are not one atomic step: undo the first so the model and its
            # sidecar still belong together.
            if backup is not None:
                os.replace(backup, path)
                backup = None
            elif not had_model:
                os.remove(path)
            raise
        temp_sidecar = None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot save the model ({exc.strerror or exc})") from None
    except (ValueError, TypeError, RuntimeError) as exc:  # Keras' own serialisation errors
        raise ModelFileError(f"{path}: cannot save the model ({exc})") from None
    finally:
        for leftover in (temp_model, temp_sidecar, backup):
            if leftover is not None and os.path.exists(leftover):
                os.remove(leftover)
    # The embedding network also goes beside the model as NAME.tflite, so that loading
    # it later needs no TensorFlow (best effort; see core.export).
    from siamese_gui.core.export import write_runtime_copy

    embedding = next((layer for layer in model.layers if layer.name == EMBEDDING_NAME), None)
    if embedding is not None:
        write_runtime_copy(embedding, path)
    return path


def _hard_link_copy(path: Path, folder: Path) -> str | None:
    """Return a second name for `path` in `folder`, or None where hard links fail."""
    name = _temp_file(folder, path.stem, ".bak.keras")
    try:
        os.remove(name)
        os.link(path, name)
    except OSError:
        if os.path.exists(name):
            os.remove(name)
        return None
    return name


def update_sidecar(path: str | os.PathLike, **fields) -> dict:
    """Change fields of a model's sidecar (for example its threshold), atomically.

    Raises:
        ModelFileError: if the sidecar cannot be read or written.
    """
    target = sidecar_path(path)
    data = read_sidecar(path)
    data.update(fields)
    try:
        temp = _temp_file(target.parent, target.stem, ".tmp.json")
        try:
            _write_json(Path(temp), data)
            os.replace(temp, target)
        finally:
            if os.path.exists(temp):
                os.remove(temp)
    except OSError as exc:
        raise ModelFileError(f"{target}: cannot write the sidecar ({exc.strerror or exc})") from None
    return data


def read_sidecar(path: str | os.PathLike) -> dict:
    """Read a model's sidecar JSON.

    Raises:
        ModelFileError: if it is missing or not a JSON object.
    """
    target = sidecar_path(path)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: its sidecar {target.name} is missing (it holds the threshold and "
            "settings; save models with siamese-gui to create it)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{target}: not a valid sidecar ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{target}: not a valid sidecar (expected a JSON object)")
    return data


@dataclass
class LoadedModel:
    """A Siamese model loaded from disk.

    Attributes:
        model: the pair model (two images in, distance out).
        embedding: its embedding network.
        info: the sidecar.
        path: the `.keras` file.
        warnings: problems that did not stop loading (for example a SHA-256 mismatch).
    """

    model: keras.Model
    embedding: keras.Model
    info: dict
    path: Path
    warnings: list[str] = field(default_factory=list)


def _check_shape(model: keras.Model, path: Path) -> keras.Model:
    inputs = model.inputs
    expected = (None, *INPUT_SHAPE)
    shapes = [tuple(i.shape) for i in inputs]
    if len(inputs) != 2 or any(s != expected for s in shapes):
        raise ModelFileError(
            f"{path}: expects inputs {shapes}, not two images of shape {expected}; "
            "it is not a Siamese model for 28x28 grayscale images"
        )
    if tuple(model.outputs[0].shape) != (None, 1):
        raise ModelFileError(f"{path}: outputs {tuple(model.outputs[0].shape)}, not one distance per pair")
    try:
        embedding = model.get_layer(EMBEDDING_NAME)
    except ValueError:
        raise ModelFileError(f"{path}: has no embedding network named {EMBEDDING_NAME!r}") from None
    if not isinstance(embedding, keras.Model):
        raise ModelFileError(f"{path}: its {EMBEDDING_NAME!r} layer is not a network")
    return embedding


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a `.keras` Siamese model and its sidecar with Keras' `safe_mode=True`.

    A model holding a `Lambda` layer (arbitrary Python code) is refused without running
    that code.

    Raises:
        ModelFileError: on a missing, legacy (`.h5`), corrupt or truncated file, a
            missing or invalid sidecar, an unsafe layer, or a wrong input shape.
    """
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ModelFileError(
            f"{path}: legacy HDF5 models are not loaded; only .keras files load safely"
        )
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras model file")
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: corrupt or truncated (not a valid .keras archive)")
    info = read_sidecar(path)
    warnings = []
    if info.get("sha256") and info["sha256"] != file_sha256(path):
        warnings.append(
            f"{path}: its SHA-256 does not match the sidecar's; the file changed since it was saved"
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for bad archives
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "lambda" in str(exc).lower() or "unsafe" in str(exc).lower():
            raise ModelFileError(
                f"{path}: refused, it contains Python code (a Lambda layer) that safe mode will not run"
            ) from None
        raise ModelFileError(f"{path}: cannot load the model ({text})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(f"{path}: does not hold a model")
    embedding = _check_shape(model, path)
    return LoadedModel(model, embedding, info, path, warnings)
