"""Answers without TensorFlow: run a model's exported embedding network in LiteRT.

A model `NAME.keras` may have a runtime copy of its embedding network beside it
(`NAME.tflite` with its card `NAME.tflite.json`), or one in the user cache. A copy is
used only when it provably comes from the vetted model:
- beside the model, its SHA-256 must be the one the `.keras` records
  (`runtime_copy_sha256`, written in the same atomic save as the network itself);
- in the cache, its card must carry a seal: an HMAC of the network's key and the copy's
  SHA-256 under a secret only this user's app holds (`seal_key`).
A card's other fields can be computed by anyone from the public `.keras`, so they prove
nothing. Anything else makes `load_runtime_handle` fall back to TensorFlow.

Nothing here imports TensorFlow (importing it costs seconds; LiteRT costs a fraction
of one), so the metadata is read here too rather than through `store`.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.io.image_format import ImageFormat
from siamese_gui.core.io.safe_files import file_sha256, parse_json_object, read_regular_file
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
# A card holds a few fields and the class names; far below this.
MAX_CARD_BYTES = 1 * 2**20


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


# A tflite file holds the network's float32 weights once plus a small graph; a copy much
# larger than the model's weights member is not one of ours, and is refused unhashed.
COPY_SIZE_FACTOR = 2
COPY_SIZE_SLACK = 4 * 1024 * 1024
SEAL_FIELD = "cache_seal"
COPY_FIELD = "runtime_copy_sha256"
_SEAL_KEY_BYTES = 32


def config_dir() -> Path:
    """The user's configuration folder for the app: `$XDG_CONFIG_HOME/siamese-gui`."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "siamese-gui"


def seal_key(create: bool = False) -> bytes | None:
    """The secret that seals this user's cache entries, or None where there is none to trust.

    Kept in `config_dir()/cache-seal.key`, created once with mode 0600. A key file that
    is not a regular file owned by this user, or that others can read or write, is not
    trusted (then nothing in the cache is used).
    """
    path = config_dir() / "cache-seal.key"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if not create:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return seal_key(create=False)
        except OSError:
            return None
        try:
            os.write(fd, os.urandom(_SEAL_KEY_BYTES))
        finally:
            os.close(fd)
        return seal_key(create=False)
    except OSError:
        return None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_mode & 0o077:
            return None
        if hasattr(os, "geteuid") and status.st_uid != os.geteuid():
            return None
        key = os.read(fd, _SEAL_KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return key if len(key) == _SEAL_KEY_BYTES else None


def seal(key: bytes, network_key: str, file_sha256_hex: str) -> str:
    """The seal of a cache entry: HMAC-SHA256 of the network's key and the copy's hash."""
    return hmac.new(key, f"{network_key}:{file_sha256_hex}".encode(), hashlib.sha256).hexdigest()


def network_key(metadata: dict, archive_sha256: str = "") -> str:
    """What a runtime copy belongs to, from the metadata of the `.keras` as it was read:
    the SHA-256 of the network's config and weights (a new threshold keeps it valid).

    `archive_sha256` (the whole file's hash) stands in for a model saved before its
    metadata recorded those hashes.
    """
    if metadata.get("config_sha256") and metadata.get("weights_sha256"):
        text = f"{metadata['config_sha256']}:{metadata['weights_sha256']}"
        return hashlib.sha256(text.encode()).hexdigest()
    return archive_sha256


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
    if not os.path.lexists(card_file):
        raise ModelFileError(f"{export_path}: its card {card_file.name} is missing")
    # Bounded like every reader: a FIFO, /dev/zero or a deep card is refused in one line.
    data = read_regular_file(card_file, MAX_CARD_BYTES, ModelFileError, "export card")
    card = parse_json_object(data, str(card_file), ModelFileError, "export card")
    if card.get("kind") != CARD_KIND:
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


def max_copy_bytes(model_path: str | os.PathLike) -> int:
    """The largest runtime copy the model at `model_path` could have (see `COPY_SIZE_FACTOR`)."""
    try:
        weights = os.stat(model_path).st_size
    except OSError:
        weights = 0
    return COPY_SIZE_FACTOR * weights + COPY_SIZE_SLACK


def _intact_copy(candidate: Path, limit: int) -> tuple[dict, str] | None:
    """The card and SHA-256 of a regular, bounded copy whose card describes it, or None."""
    try:
        status = os.stat(candidate, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
        return None
    try:
        card = read_card(candidate)
    except ModelFileError:
        return None
    return card, str(card["file_sha256"])


@dataclass(frozen=True)
class CopySearch:
    """What `find_runtime_copy` found.

    Attributes:
        copy: the proven copy, or None.
        refused: in words, the copies that were there but not proven (for one warning).
    """

    copy: RuntimeCopy | None
    refused: tuple[str, ...] = ()


def find_runtime_copy(model_path: str | os.PathLike, metadata: dict, key: str) -> CopySearch:
    """The runtime copy that provably comes from this model, beside it or in the cache.

    Args:
        model_path: the `.keras` file.
        metadata: its vetted metadata (as read, so the proof is about this very file).
        key: its `network_key`.

    Returns:
        The proven copy, if any, and the copies that were refused.
    """
    model_path = Path(model_path)
    limit = max_copy_bytes(model_path)
    refused = []
    beside = runtime_copy_path(model_path)
    recorded = metadata.get(COPY_FIELD)
    found = _intact_copy(beside, limit)
    if found is not None:
        card, digest = found
        if isinstance(recorded, str) and hmac.compare_digest(digest, recorded) and card.get("model_sha256") == key:
            return CopySearch(RuntimeCopy(beside, card))
        refused.append(
            f"{beside.name} is not the runtime copy {model_path.name} records"
            if recorded else f"{model_path.name} records no runtime copy, so {beside.name} is not used"
        )
    elif beside.exists() or beside.is_symlink():
        refused.append(f"{beside.name} is not an intact runtime copy")
    cached = cached_copy_path(key)
    found = _intact_copy(cached, limit)
    if found is not None:
        card, digest = found
        secret = seal_key()
        sealed = card.get(SEAL_FIELD)
        if (secret is not None and isinstance(sealed, str) and card.get("model_sha256") == key
                and hmac.compare_digest(seal(secret, key, digest), sealed)):
            return CopySearch(RuntimeCopy(cached, card), tuple(refused))
        refused.append(f"the cached copy {cached.name} carries no valid seal of this app")
    return CopySearch(None, tuple(refused))


def default_threads() -> int:
    """CPU threads for LiteRT: all cores up to 4 (our small networks gain nothing from more)."""
    return max(1, min(os.cpu_count() or 1, 4))


class LiteRTEmbedder:
    """Runs an exported `.tflite` embedding network in LiteRT (an `Embedder`).

    Args:
        path: the `.tflite` file.
        threads: CPU threads for the interpreter (`default_threads()` when None).

    Raises:
        ModelFileError: if LiteRT cannot load the file or it does not map
            (N, H, W, 1 or 3) float32 images to (N, D) vectors.

    Attributes:
        image_format: the images it takes (`ImageFormat`).
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
        try:
            if len(inputs) != 1 or len(outputs) != 1:
                raise ConfigError("not one input and one output")
            self.image_format = ImageFormat.from_input_shape(
                tuple(int(d) for d in inputs[0]["shape_signature"][1:]), str(path))
        except ConfigError:
            raise ModelFileError(f"{path}: not an embedding network for grey or colour images") from None
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


