"""Answers without TensorFlow: run a model's exported embedding network in LiteRT.

A model `NAME.keras` may have a runtime copy of its embedding network beside it
(`NAME.tflite` with its card `NAME.tflite.json`), or one in the user cache keyed by
the SHA-256 of the `.keras` file. The card records that hash, so a copy is used only
for the exact file it was made from; anything missing, stale or unreadable makes
`load_runtime_handle` return None and the caller falls back to TensorFlow.

Nothing here imports TensorFlow (importing it costs seconds; LiteRT costs a fraction
of one), so the metadata is read here too rather than through `store`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.io.safe_files import file_sha256
from siamese_gui.core.runtime.archive import (
    CONFIG_MEMBER,
    METADATA_MEMBER,
    WEIGHTS_MEMBER,
    ModelArchive,
    model_metadata,
    open_model_file,
)
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden

CARD_KIND = "siamese-gui runtime export"
CARD_VERSION = 1
# The formats `export` writes, and the module that runs each.
FORMATS = {"tflite": "ai_edge_litert", "onnx": "onnxruntime"}
RUNTIME_FORMAT = "tflite"  # the one the app itself runs (see benchmarks/results-startup.md)
CACHE_ENV = "SIAMESE_GUI_CACHE"


def card_path(export_path: str | os.PathLike) -> Path:
    """The card (JSON) of an exported file: the same name with `.json` appended."""
    export_path = Path(export_path)
    return export_path.with_name(export_path.name + ".json")


def runtime_copy_path(model_path: str | os.PathLike) -> Path:
    """Where the runtime copy of a model is kept beside it: `NAME.tflite`."""
    return Path(model_path).with_suffix("." + RUNTIME_FORMAT)


def cache_dir() -> Path:
    """The user cache for runtime copies of models that lack one.

    `$SIAMESE_GUI_CACHE` when set, else `$XDG_CACHE_HOME/siamese-gui`, else
    `~/.cache/siamese-gui`.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "siamese-gui"


def cached_copy_path(model_sha256: str) -> Path:
    """The cache entry for the model whose network has this key (see `model_key`)."""
    return cache_dir() / f"{model_sha256}.{RUNTIME_FORMAT}"


def read_metadata(model_path: str | os.PathLike) -> dict:
    """Read a model's metadata from its vetted archive, without Keras (`archive.model_metadata`).

    Raises:
        ModelFileError: if the archive or its metadata is refused.
    """
    return model_metadata(open_model_file(model_path))


def model_key(model_path: str | os.PathLike) -> str:
    """What a runtime copy belongs to: the SHA-256 of the network (its config and
    weights), so that saving a new threshold into the file keeps its copy valid.

    Raises:
        ModelFileError: if the archive is refused.
    """
    return archive_key(open_model_file(model_path))


def archive_key(archive: ModelArchive) -> str:
    """`model_key` of a vetted archive.

    The metadata of a model that has it inside records these hashes of its members
    (`archive.model_metadata` refuses one where they differ), so they come from the
    members, without decoding the metadata.
    """
    if METADATA_MEMBER in archive.members:
        config, weights = archive.sha256(CONFIG_MEMBER), archive.sha256(WEIGHTS_MEMBER)
        return hashlib.sha256(f"{config}:{weights}".encode()).hexdigest()
    return archive.file_sha256  # a model saved before its metadata moved inside


def _holds_code(config) -> bool:
    """Whether a Keras model config holds Python code (a `Lambda` layer or a lambda)."""
    if isinstance(config, dict):
        if config.get("class_name") in ("Lambda", "__lambda__") or "__lambda__" in config:
            return True
        return any(_holds_code(value) for value in config.values())
    if isinstance(config, list):
        return any(_holds_code(value) for value in config)
    return False


def safe_mode_would_load(model_path: str | os.PathLike) -> bool:
    """Whether the `.keras` archive passes the archive checks and is free of the code
    Keras' safe mode refuses.

    The runtime copy of a model that `store.load_model` would refuse is not used, so
    both paths refuse the same files.
    """
    try:
        archive = open_model_file(model_path)
    except ModelFileError:
        return False
    return archive_is_code_free(archive)


def archive_is_code_free(archive: ModelArchive) -> bool:
    """`safe_mode_would_load` of a vetted archive."""
    try:
        config = json.loads(archive.members[CONFIG_MEMBER])
    except (KeyError, ValueError, UnicodeDecodeError):
        return False
    return not _holds_code(config)


def runtime_installed(fmt: str = RUNTIME_FORMAT) -> bool:
    """Whether the runtime package for `fmt` ("tflite" or "onnx") can be imported."""
    return importlib.util.find_spec(FORMATS[fmt]) is not None


def read_card(export_path: str | os.PathLike) -> dict:
    """Read and check the card of an exported file.

    Raises:
        ModelFileError: if the card is missing or malformed, or the exported file is
            missing or differs from the one the card describes.
    """
    export_path = Path(export_path)
    card_file = card_path(export_path)
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{export_path}: its card {card_file.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{card_file}: not a valid export card ({exc})") from None
    if not isinstance(card, dict) or card.get("kind") != CARD_KIND:
        raise ModelFileError(f"{card_file}: not a siamese-gui export card")
    if card.get("format") not in FORMATS:
        raise ModelFileError(f"{card_file}: unknown export format {card.get('format')!r}")
    try:
        actual = file_sha256(export_path)
    except OSError as exc:
        raise ModelFileError(f"{export_path}: cannot read the exported file ({exc.strerror or exc})") from None
    if actual != card.get("file_sha256"):
        raise ModelFileError(f"{export_path}: differs from the file its card describes (SHA-256 mismatch)")
    return card


@dataclass(frozen=True)
class RuntimeCopy:
    """An exported embedding network that belongs to one model file.

    Attributes:
        path: the exported file.
        card: its card (see `export.write_card`).
    """

    path: Path
    card: dict

    @property
    def format(self) -> str:
        return str(self.card["format"])


def find_runtime_copy(model_path: str | os.PathLike, model_sha256: str) -> RuntimeCopy | None:
    """The runtime copy made from exactly this model file, beside it or in the cache.

    Args:
        model_path: the `.keras` file.
        model_sha256: its SHA-256 (computed by the caller, which needs it anyway).

    Returns:
        The copy, or None where there is none whose card names this hash and whose
        file is intact.
    """
    for candidate in (runtime_copy_path(model_path), cached_copy_path(model_sha256)):
        if not candidate.is_file():
            continue
        try:
            card = read_card(candidate)
        except ModelFileError:
            continue
        if card.get("model_sha256") == model_sha256:
            return RuntimeCopy(candidate, card)
    return None


def default_threads() -> int:
    """CPU threads for LiteRT: all cores up to 4 (a 28x28 network gains nothing from more)."""
    return max(1, min(os.cpu_count() or 1, 4))


class LiteRTEmbedder:
    """Runs an exported `.tflite` embedding network in LiteRT (an `Embedder`).

    Args:
        path: the `.tflite` file.
        threads: CPU threads for the interpreter (`default_threads()` when None).

    Raises:
        ModelFileError: if LiteRT cannot load the file or it does not map
            (N, 28, 28, 1) float32 images to (N, D) vectors.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads or default_threads())
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: LiteRT cannot load it ({exc})") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or list(inputs[0]["shape_signature"][1:]) != [28, 28, 1]:
            raise ModelFileError(f"{path}: not an embedding network for 28x28 grayscale images")
        self._input = inputs[0]["index"]
        self._output = outputs[0]["index"]
        self._batch = None
        # One interpreter holds its tensors between calls; two threads must take turns.
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if self._batch != len(batch):
                self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
                # LiteRT announces its CPU delegate on stderr when it first allocates,
                # which would bury the command line's output.
                with native_stderr_hidden():
                    self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()


class OnnxEmbedder:
    """Runs an exported `.onnx` embedding network in ONNX Runtime (an `Embedder`).

    Raises:
        ModelFileError: if ONNX Runtime cannot load the file.
    """

    def __init__(self, path: str | os.PathLike):
        import onnxruntime

        self.path = Path(path)
        try:
            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise ModelFileError(f"{path}: ONNX Runtime cannot load it ({exc})") from None
        self._input = self._session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.asarray(batch, dtype=np.float32)})[0]


def runtime_embedder(path: str | os.PathLike):
    """An `Embedder` for an exported file, by its suffix (`.tflite` or `.onnx`).

    Raises:
        ModelFileError: on another suffix or a file the runtime cannot load.
        ImportError: if the runtime package is not installed.
    """
    suffix = Path(path).suffix
    if suffix == ".tflite":
        return LiteRTEmbedder(path)
    if suffix == ".onnx":
        return OnnxEmbedder(path)
    raise ModelFileError(f"{path}: not an exported embedding network (.tflite or .onnx)")


