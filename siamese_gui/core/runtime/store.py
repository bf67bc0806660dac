"""Save models atomically with their metadata inside; load them safely.

A model is one `.keras` file: the Siamese pair model as Keras writes it, plus a member
`siamese_gui.json` holding its settings, data source, metrics, recommended threshold,
versions and the SHA-256 of the Keras members, and a member `siamese_gui_data.bin` holding
the lists that grow with the training data (class names, the split's files; see
`core.runtime.data_record`). One rename replaces model and metadata together, so they
cannot disagree. Models saved before this format kept the metadata in a
sidecar `.json` of the same name; they still load when the sidecar's SHA-256 matches.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import siamese_gui
from siamese_gui.core.backend import keras, tf
from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.evaluation.threshold import (
    AT_THRESHOLD,
    DETAIL_FIELD,
    ORIGIN_FIELD,
    VALUE_FIELD,
    Threshold,
    ThresholdOrigin,
    fallback_threshold,
    read_threshold,
    threshold_fields,
    write_threshold,
)
from siamese_gui.core.evaluation.validation import RECORD_FIELD
from siamese_gui.core.io.image_format import FIELD as FORMAT_FIELD
from siamese_gui.core.io.image_format import ImageFormat, format_of
from siamese_gui.core.io.safe_files import (
    check_replaceable,
    file_sha256,  # noqa: F401 - part of this module's API
    parse_json_object,
    read_regular_file,
)
from siamese_gui.core.model.networks import EMBEDDING_NAME
from siamese_gui.core.runtime.archive import (
    CONFIG_MEMBER,
    MAX_SIDECAR_BYTES,
    METADATA_FORMAT,
    METADATA_MEMBER,
    MODEL_OUTPUT,
    WEIGHTS_MEMBER,
    ModelArchive,
    check_model_target,
    model_metadata,
    open_model_file,
    read_model_archive,
    sidecar_path,
    write_archive,
)
from siamese_gui.core.runtime.archive import (
    check_metadata_values as _check_metadata_values,
)
from siamese_gui.core.runtime.copies import COPY_FIELD, safe_mode_would_load
from siamese_gui.core.runtime.data_record import DATA_MEMBER, DATA_SHA256_KEY, split_data_record
from siamese_gui.core.runtime.export import install_runtime_copy, prepare_runtime_copy
from siamese_gui.core.training.train import TrainingResult

try:
    import fcntl
except ImportError:  # Windows: saves are not serialised across processes
    fcntl = None

SIDECAR_FORMAT = 1
# The largest network our settings build has about 3.3 M parameters.
MAX_PARAMETERS = 6_000_000


def result_metadata(
    result: TrainingResult, class_names: tuple[str, ...], split: dict | None = None
) -> dict:
    """Return the sidecar fields that describe a training result.

    Args:
        result: the finished training run.
        class_names: class names of the training data.
        split: the data split's record (`core.splits.Splits.metadata`), if known.
    """
    if result.threshold is not None:
        threshold = Threshold(result.threshold, ThresholdOrigin.MODEL,
                              f"max accuracy on {result.validation_pairs_description}")
    else:
        threshold = fallback_threshold("training chose none (its validation pairs hold only one kind of pair)")
    metadata = {
        "config": result.config.as_dict(),
        FORMAT_FIELD: ImageFormat.from_input_shape(result.embedding.input_shape).as_dict(),
        "data_source": result.data_source,
        "class_names": list(class_names),
        "split": split,
        "training": {
            "status": result.status,
            "seconds": round(result.seconds, 1),
            "schedule": result.schedule,
            "steps_done": result.steps_done,
            "trained": result.trained,
            "goal": result.goal,
            "histograms": result.histograms,
            "share_choice": result.share_choice,
            "history": result.history,
        },
        "metrics": {
            "validation": result.validation.as_dict() if result.validation else None,
            AT_THRESHOLD: result.at_threshold.as_dict() if result.at_threshold else None,
            RECORD_FIELD: result.validation_record,
        },
    }
    if result.at_threshold is not None and result.validation_record is not None:
        metadata["metrics"][AT_THRESHOLD]["measured_on"] = result.validation_record["description"]
    return write_threshold(metadata, threshold)


# --- saving -----------------------------------------------------------------------------

# A save's own temp file, its runtime copy's and that copy's card (`core.export`), and
# the names older versions used.
_TEMP_SUFFIXES = (".tmp.keras", ".tmp.tflite", ".tmp.onnx", ".tmp.json", ".bak.keras")


def _temp_pattern(stem: str) -> re.Pattern:
    suffixes = "|".join(re.escape(s) for s in _TEMP_SUFFIXES)
    return re.compile(rf"\.{re.escape(stem)}\.[A-Za-z0-9_]{{8}}(?:{suffixes})")


def _temp_file(folder: Path, stem: str, suffix: str) -> str:
    """Create an empty temp file in `folder` with the permissions of a normal new file."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is a normal file
    return name


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Hold an exclusive lock on `folder` while saving into it.

    The lock is on the folder itself (no lock file to leave behind); the kernel drops
    it when the process ends, even on `kill -9`.
    """
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: save unserialised
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the lock


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(folder: Path, stem: str) -> None:
    """Remove the temp files a killed save to `stem` left (call with the lock held)."""
    pattern = _temp_pattern(stem)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):
                os.remove(folder / name)


def _json_safe(value):
    """`value` with numpy scalars as Python numbers and NaN or infinities as None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _metadata_member(metadata: dict) -> bytes:
    metadata = _json_safe(metadata)
    return (json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def _with_metadata(archive: ModelArchive, info: dict) -> tuple[dict, dict]:
    """The members and compression of `archive` with `info` as its metadata: the Keras
    members as they are, `siamese_gui.json` and the data record (deflated: its paths
    compress, and its digests are what they are).

    Raises:
        ValueError: if `info` cannot be recorded (`data_record.split_data_record`).
    """
    small, data = split_data_record(info)
    members = {k: v for k, v in archive.members.items() if k not in (METADATA_MEMBER, DATA_MEMBER)}
    members[METADATA_MEMBER] = _metadata_member(small)
    members[DATA_MEMBER] = data
    return members, {**archive.compression, DATA_MEMBER: zipfile.ZIP_DEFLATED}


def _stamped(metadata: dict, archive: ModelArchive, path: Path) -> dict:
    metadata = {k: v for k, v in metadata.items() if k != "sha256"}  # a legacy sidecar's
    return {
        **metadata,
        "format": METADATA_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "siamese_gui": siamese_gui.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "model_file": path.name,
        "config_sha256": archive.sha256(CONFIG_MEMBER),
        "weights_sha256": archive.sha256(WEIGHTS_MEMBER),
    }


def _replace_with(path: Path, members: dict, compression: dict) -> None:
    """Write `members` as the archive at `path`: temp file, fsync, one rename, fsync folder.

    Call with the folder lock held.
    """
    folder = path.parent
    temp = _temp_file(folder, path.stem, ".tmp.keras")
    try:
        write_archive(temp, members, compression)
        check_replaceable(path, MODEL_OUTPUT, ModelFileError)  # never onto a link or device
        os.replace(temp, path)
        temp = None
        _fsync_folder(folder)
    finally:
        if temp is not None and os.path.exists(temp):
            os.remove(temp)


def _remove_legacy_sidecar(path: Path) -> None:
    """Remove a legacy sidecar of ours beside `path`: it no longer describes the file."""
    target = sidecar_path(path)
    try:
        data = parse_json_object(read_regular_file(target, MAX_SIDECAR_BYTES, ModelFileError, "sidecar"),
                                 str(target), ModelFileError, "sidecar")
    except ModelFileError:
        return
    if data.get("model_file") == path.name and "sha256" in data:
        with contextlib.suppress(OSError):
            os.remove(target)


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def save_model(model: keras.Model, path: str | os.PathLike, metadata: dict) -> Path:
    """Save a pair model with its metadata inside, atomically.

    Keras writes the model to a temp file in the target folder; the metadata (with the
    SHA-256 of the Keras members) is added to it, the file is flushed to disk and moved
    over the old one with one `os.replace`. An interrupted save leaves the previous model
    whole. Saves into one folder are serialised by a lock on the folder; temp files that
    a killed save left are removed by the next save to the same name.

    Args:
        model: the Siamese pair model.
        path: target file, ending in `.keras`.
        metadata: fields describing the model (see `result_metadata`); format, versions,
            time and hashes are added here.

    Returns:
        The path written.

    Raises:
        ModelFileError: on a wrong suffix, an invalid threshold in `metadata`, a model
            too large for a model file, or when the folder cannot be written (read-only,
            disk full, ...).
    """
    path = check_model_target(path)
    _check_metadata_values(metadata, str(path))
    folder = _folder_of(path)
    temp = None
    prepared = None
    try:
        with _folder_lock(folder):
            _remove_stale_temps(folder, path.stem)
            embedding = _loadable_embedding(model, path)
            if embedding is not None:
                # Converted first, so that its digest goes into the model in the same
                # atomic save as the network (see core.runtime.copies).
                prepared = prepare_runtime_copy(embedding, path)
            temp = _temp_file(folder, path.stem, ".tmp.keras")
            model.save(temp)
            try:
                written = read_model_archive(temp)
            except ModelFileError as exc:
                reason = str(exc).split(": ", 1)[-1]
                raise ModelFileError(f"{path}: cannot save the model ({reason})") from None
            info = _stamped(metadata, written, path)
            if embedding is not None:  # the network's own input is what the model sees
                info[FORMAT_FIELD] = model_format(model, path).as_dict()
            info.pop(COPY_FIELD, None)
            if prepared is not None:
                info[COPY_FIELD] = prepared.sha256
            members, compression = _with_metadata(written, info)
            write_archive(temp, members, compression)
            if prepared is not None and not safe_mode_would_load(temp):
                prepared.discard()
                prepared = None
            check_replaceable(path, MODEL_OUTPUT, ModelFileError)  # nothing planted meanwhile
            os.replace(temp, path)
            temp = None
            _fsync_folder(folder)
            _remove_legacy_sidecar(path)
            if prepared is not None:
                install_runtime_copy(prepared, embedding, path, _json_safe(info))
                prepared = None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot save the model ({exc.strerror or exc})") from None
    except (ValueError, TypeError, RuntimeError) as exc:  # Keras' own serialisation errors
        raise ModelFileError(f"{path}: cannot save the model ({exc})") from None
    finally:
        if temp is not None and os.path.exists(temp):
            os.remove(temp)
        if prepared is not None:
            prepared.discard()
    return path


def _loadable_embedding(model, path: Path):
    """The model's embedding network if `load_model` would accept the model, else None:
    the fast path must refuse what the safe path refuses."""
    try:
        embedding = _check_shape(model, path)
        _check_size(json.loads(model.to_json()), path)
        _check_weights(model, embedding, path)
    except (ModelFileError, ValueError, TypeError):
        return None
    return embedding


# --- metadata -----------------------------------------------------------------------------


def read_metadata(path: str | os.PathLike) -> dict:
    """Read a model file's metadata (settings, threshold, metrics, versions, hashes).

    Raises:
        ModelFileError: if the file is not a model of ours, or its metadata is missing,
            invalid or does not match the model.
    """
    archive = open_model_file(path)
    return model_metadata(archive)


def update_metadata(path: str | os.PathLike, **fields) -> dict:
    """Change fields of a model file's metadata (for example its class names), atomically.

    The model file is rewritten with the same Keras members and the new metadata, then
    moved over the old one. A legacy model (sidecar only) gets its metadata inside.
    A new threshold goes through `store_threshold`, which keeps its provenance and
    figures together.

    Returns:
        The new metadata.

    Raises:
        ModelFileError: if the model or its metadata cannot be read, a field is invalid,
            or the file cannot be written.
    """
    _check_metadata_values(fields, str(path))
    info = _rewrite_metadata(Path(path), lambda old: _merged(old, fields))
    if {VALUE_FIELD, ORIGIN_FIELD, DETAIL_FIELD} & set(fields):
        from siamese_gui.core.runtime.export import update_card_threshold

        update_card_threshold(path, info)
    return info


def _merged(info: dict, fields: dict) -> dict:
    """`info` updated by `fields`; a bare new threshold loses the old one's provenance
    and the figures measured at the old one."""
    if VALUE_FIELD not in fields or ORIGIN_FIELD in fields:
        return {**info, **fields}
    kept = {k: v for k, v in info.items() if k not in (ORIGIN_FIELD, DETAIL_FIELD)}
    merged = {**kept, **fields}
    if merged[VALUE_FIELD] is None:
        return {**write_threshold(merged, fallback_threshold()), VALUE_FIELD: None,
                ORIGIN_FIELD: None, DETAIL_FIELD: ""}
    return write_threshold(merged, read_threshold(merged, "the new metadata"))


def store_threshold(path: str | os.PathLike, threshold: Threshold, at_threshold: dict | None = None) -> dict:
    """Write a threshold, how it was chosen and the figures at it into a model file, atomically.

    See `core.evaluation.threshold.write_threshold`: figures measured at another
    threshold are dropped where `at_threshold` is None. The card of the runtime copy
    beside the model, if any, gets the new threshold too.

    Returns:
        The new metadata.

    Raises:
        ModelFileError: as `update_metadata`.
    """
    path = Path(path)
    _check_metadata_values(threshold_fields(threshold), str(path))
    info = _rewrite_metadata(path, lambda old: write_threshold(old, threshold, at_threshold))
    from siamese_gui.core.runtime.export import update_card_threshold

    update_card_threshold(path, info)
    return info


def _rewrite_metadata(path: Path, change) -> dict:
    """Rewrite a model file with `change(metadata)` as its metadata (see `update_metadata`)."""
    folder = _folder_of(path)
    try:
        with _folder_lock(folder):
            _remove_stale_temps(folder, path.stem)
            archive = open_model_file(path)
            info = change(model_metadata(archive))
            info.update(
                format=METADATA_FORMAT,
                config_sha256=archive.sha256(CONFIG_MEMBER),
                weights_sha256=archive.sha256(WEIGHTS_MEMBER),
            )
            info.pop("sha256", None)
            members, compression = _with_metadata(archive, info)
            info[DATA_SHA256_KEY] = hashlib.sha256(members[DATA_MEMBER]).hexdigest()
            _replace_with(path, members, compression)
            _remove_legacy_sidecar(path)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot write the metadata ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: cannot write the metadata ({exc})") from None
    return info


# The names callers used while the metadata lived in a sidecar.
read_sidecar = read_metadata
update_sidecar = update_metadata


@dataclass
class LoadedModel:
    """A Siamese model loaded from disk.

    Attributes:
        model: the pair model (two images in, distance out).
        embedding: its embedding network.
        info: the metadata.
        path: the `.keras` file.
        warnings: problems that did not stop loading (for example a SHA-256 mismatch).
    """

    model: keras.Model
    embedding: keras.Model
    info: dict
    path: Path
    warnings: list[str] = field(default_factory=list)


def model_format(model: keras.Model, path: Path) -> ImageFormat:
    """The image format a pair model's inputs take (both must take the same one).

    Raises:
        ModelFileError: if the inputs are not two images of one format.
    """
    shapes = [tuple(i.shape) for i in model.inputs]
    try:
        if len(shapes) != 2 or shapes[0] != shapes[1] or shapes[0][:1] != (None,):
            raise ConfigError("not two images of one shape")
        return ImageFormat.from_input_shape(shapes[0][1:], str(path))
    except ConfigError:
        raise ModelFileError(
            f"{path}: expects inputs {shapes}, not two images of one shape (None, H, W, 1 or 3); "
            "it is not a Siamese model for grey or colour images"
        ) from None


def _check_shape(model: keras.Model, path: Path) -> keras.Model:
    expected = (None, *model_format(model, path).input_shape)
    if len(model.outputs) != 1 or tuple(model.outputs[0].shape) != (None, 1):
        shapes = [tuple(o.shape) for o in model.outputs]
        raise ModelFileError(f"{path}: outputs {shapes}, not one distance per pair")
    try:
        embedding = model.get_layer(EMBEDDING_NAME)
    except ValueError:
        raise ModelFileError(f"{path}: has no embedding network named {EMBEDDING_NAME!r}") from None
    if not isinstance(embedding, keras.Model):
        raise ModelFileError(f"{path}: its {EMBEDDING_NAME!r} layer is not a network")
    branch_inputs = [tuple(i.shape) for i in embedding.inputs]
    if branch_inputs != [expected]:
        raise ModelFileError(
            f"{path}: its embedding network expects inputs {branch_inputs}, not one image of "
            f"shape {expected}"
        )
    branch_outputs = [tuple(o.shape) for o in embedding.outputs]
    if (
        len(branch_outputs) != 1
        or len(branch_outputs[0]) != 2
        or not isinstance(branch_outputs[0][1], int)
        or branch_outputs[0][1] < 1
    ):
        raise ModelFileError(
            f"{path}: its embedding network outputs {branch_outputs}, not one vector per image"
        )
    return embedding


def _check_size(config: dict, path: Path) -> None:
    """Refuse a network with too many parameters before any of them is allocated.

    The network is built in a stateless scope, where Keras defers creating variables, so
    a config asking for billions of weights costs nothing here.
    """
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables")
    pending = list(pending) if pending else []
    try:
        with keras.StatelessScope(initialize_variables=False):
            network = keras.saving.deserialize_keras_object(
                {**config, "compile_config": None}, safe_mode=True
            )
            count = sum(math.prod(int(d) for d in w.shape) for w in getattr(network, "weights", []))
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)
    if count > MAX_PARAMETERS:
        raise ModelFileError(
            f"{path}: its network has {count:,} parameters, over the {MAX_PARAMETERS:,} "
            "a model of ours can have"
        )


def _check_weights(model: keras.Model, embedding: keras.Model, path: Path) -> None:
    for weight in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(weight))):
            raise ModelFileError(f"{path}: its weights hold NaN or infinite values ({weight.path})")
    try:
        shape = tuple(embedding.inputs[0].shape[1:])
        probe = np.asarray(embedding(np.zeros((1, *shape), np.float32), training=False))
    except Exception as exc:  # noqa: BLE001 - any failure to run means an unusable model
        raise ModelFileError(f"{path}: its embedding network cannot run ({_first_line(exc)})") from None
    if probe.ndim != 2 or probe.shape[0] != 1 or not np.all(np.isfinite(probe)):
        raise ModelFileError(f"{path}: its embedding network gives no finite vector for an image")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _unsafe(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lambda" in text or "unsafe" in text or "safe_mode" in text


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a `.keras` Siamese model and its metadata with Keras' `safe_mode=True`.

    The archive is read and vetted before Keras sees it (see `core.archive`); Keras then
    loads from that vetted copy in memory, never from the file again. A model holding a
    `Lambda` layer (arbitrary Python code) is refused without running that code.

    Raises:
        ModelFileError: on a missing, legacy (`.h5`), corrupt, truncated or oversized
            file, missing or invalid metadata, metadata that does not match the model,
            an unsafe layer, a wrong input or output shape, or NaN weights.
    """
    from keras.src.saving import saving_lib

    path = Path(path)
    archive = open_model_file(path)
    info = model_metadata(archive)
    config = parse_json_object(
        archive.members[CONFIG_MEMBER], f"{path}: its {CONFIG_MEMBER}", ModelFileError, "model config"
    )
    try:
        _check_size(config, path)
        model = saving_lib.load_model(
            io.BytesIO(archive.keras_bytes()), compile=False, safe_mode=True
        )
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for bad archives
        if _unsafe(exc):
            raise ModelFileError(
                f"{path}: refused, it contains Python code (a Lambda layer) that safe mode will not run"
            ) from None
        raise ModelFileError(f"{path}: cannot load the model ({_first_line(exc)})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(f"{path}: does not hold a model")
    embedding = _check_shape(model, path)
    _check_weights(model, embedding, path)
    seen = model_format(model, path)
    if FORMAT_FIELD in info and format_of(info) != seen:
        raise ModelFileError(
            f"{path}: its metadata says it sees {format_of(info).describe()} images, its network "
            f"takes {seen.describe()}"
        )
    # Models saved before the format was recorded: their network says it (28 x 28 grey).
    info = {**info, FORMAT_FIELD: seen.as_dict()}
    return LoadedModel(model, embedding, info, path, [])


def record_runtime_copy(path: str | os.PathLike) -> str:
    """Vouch for the runtime copy beside a saved model: check it against Keras, record its digest.

    For a model saved before models recorded their copy (its `NAME.tflite` would
    otherwise be refused). The copy must reproduce the Keras network on the probe
    images (`export.check_parity`).

    Returns:
        The SHA-256 recorded.

    Raises:
        ModelFileError: if the model cannot be loaded, the copy is missing or differs.
    """
    from siamese_gui.core.runtime.copies import runtime_copy_path
    from siamese_gui.core.runtime.export import check_parity

    path = Path(path)
    copy = runtime_copy_path(path)
    loaded = load_model(path)
    check_parity(loaded.embedding, copy)
    digest = file_sha256(copy)
    update_metadata(path, **{COPY_FIELD: digest})
    return digest
