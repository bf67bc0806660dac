"""One typed handle on a trained model: embed, distance, verdict, threshold, metadata.

Every part of the app (CLI, panels, benchmark, tests) answers questions about images
through a `ModelHandle`. It does not care which runtime computes the embeddings: a
Keras network, or any callable that maps a float32 batch (N, H, W, C) to vectors; the
model's `image_format` says H, W and C.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from siamese_gui.core.errors import ModelFileError, SiameseError
from siamese_gui.core.evaluation.metrics import Verdict, verdict_of
from siamese_gui.core.evaluation.threshold import Threshold, read_threshold, write_threshold
from siamese_gui.core.io.image_format import ImageFormat, format_of
from siamese_gui.core.model.embedding import Embedder, embed_in_batches


class ModelHandle:
    """A trained Siamese model as the app uses it.

    Attributes:
        embedder: computes embeddings (see `Embedder`).
        metadata: what the model file records: settings, data and split, metrics,
            threshold, class names, versions.
        path: the model file, or None for a model not saved yet.
        keras_model: the Keras pair model (needed to save or train on). Where the
            handle was made without one, Keras loads it from `path` on first access.
        keras_embedding: the Keras embedding network inside it (loaded likewise).
        warnings: problems that did not stop loading.
        read_only: True for the shipped model and files inside the installed package;
            the app never writes to them.
        engine: what computes the embeddings, in words ("TensorFlow", "LiteRT (...)").
    """

    def __init__(
        self,
        embedder: Embedder,
        metadata: dict,
        path: Path | None = None,
        keras_model: object | None = None,
        keras_embedding: object | None = None,
        warnings: list[str] | None = None,
        read_only: bool = False,
        engine: str = "TensorFlow",
    ):
        self.embedder = embedder
        self.metadata = metadata
        self.path = path
        self._keras_model = keras_model
        self._keras_embedding = keras_embedding
        self.warnings = list(warnings) if warnings is not None else []
        self.read_only = read_only
        self.engine = engine

    def __repr__(self) -> str:
        return f"ModelHandle({self.name!r}, engine={self.engine!r})"

    # Keras, on demand -----------------------------------------------------------------

    @property
    def keras_loaded(self) -> bool:
        """Whether the Keras model is in memory (False until a lazy handle needs it)."""
        return self._keras_model is not None

    @property
    def keras_model(self):
        """The Keras pair model; loads it (and TensorFlow) from `path` on first access."""
        self._load_keras()
        return self._keras_model

    @keras_model.setter
    def keras_model(self, model) -> None:
        self._keras_model = model

    @property
    def keras_embedding(self):
        """The Keras embedding network; loads it from `path` on first access."""
        self._load_keras()
        return self._keras_embedding

    @keras_embedding.setter
    def keras_embedding(self, network) -> None:
        self._keras_embedding = network

    def _load_keras(self) -> None:
        if self._keras_model is not None or self.path is None:
            return
        from siamese_gui.core.runtime.tensorflow import start_tensorflow

        start_tensorflow()
        from siamese_gui.core.runtime.store import load_model

        loaded = load_model(self.path)
        self._keras_model, self._keras_embedding = loaded.model, loaded.embedding

    # Identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The file name, or "trained (unsaved)"."""
        return self.path.name if self.path else "trained (unsaved)"

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names of the data the model was trained on."""
        return tuple(self.metadata.get("class_names") or ())

    @property
    def training_classes(self) -> tuple[str, ...]:
        """Classes the model saw in training (all of `class_names` unless some were held out)."""
        split = self.metadata.get("split") or {}
        seen = split.get("seen_classes")
        return tuple(seen) if seen else self.class_names

    @property
    def image_format(self) -> ImageFormat:
        """The images the model sees (size, grey or colour); 28 x 28 grey for models
        saved before it was recorded. Every image given to the model is read so."""
        return format_of(self.metadata)

    @property
    def fingerprint(self) -> str:
        """The hash of the model's weights, as recorded when it was saved ("" if unsaved)."""
        return str(self.metadata.get("weights_sha256") or self.metadata.get("sha256") or "")

    @property
    def threshold(self) -> Threshold:
        """The model's threshold, how it was chosen and on which pairs (`read_threshold`)."""
        return read_threshold(self.metadata, f"{self.path}" if self.path else "the trained model")

    def with_threshold(self, threshold: Threshold, at_threshold: dict | None = None) -> "ModelHandle":
        """A copy of this handle whose stored threshold is `threshold` (nothing is written).

        Args:
            threshold: the new threshold.
            at_threshold: the figures at it (see `write_threshold`), or None.
        """
        metadata = write_threshold(self.metadata, threshold, at_threshold)
        return ModelHandle(
            self.embedder, metadata, self.path, self._keras_model, self._keras_embedding,
            list(self.warnings), self.read_only, self.engine,
        )

    # Inference ------------------------------------------------------------------------

    def embed(self, images: np.ndarray, should_stop: Callable[[], bool] | None = None) -> np.ndarray:
        """Return one embedding per image, computed in batches.

        Args:
            images: uint8 or float [0, 1] images of the model's `image_format`: (N, H, W)
                grey, (N, H, W, 3) colour.
            should_stop: checked between batches; when it turns true, `Cancelled`
                is raised.

        Raises:
            ModelFileError: if the model produces non-finite values.
        """
        fmt = self.image_format
        shape = tuple(np.shape(images)[1:])
        if len(images) and shape not in (fmt.image_shape, fmt.input_shape):
            raise SiameseError(
                f"{self.path or 'the model'}: sees {fmt.describe()} images, given images of shape {shape} "
                "(read them at the model's format)"
            )
        return embed_in_batches(self.embedder, images, should_stop, str(self.path or "the model"))

    def distance(self, image_a: np.ndarray, image_b: np.ndarray) -> float:
        """Return the Euclidean distance between the embeddings of two images (as the
        model sees them, see `image_format`)."""
        vectors = self.embed(np.stack([np.asarray(image_a), np.asarray(image_b)])).astype(np.float64)
        with np.errstate(all="ignore"):  # an overflow is reported below, once
            distance = float(np.sqrt(np.sum((vectors[0] - vectors[1]) ** 2)))
        if not np.isfinite(distance):
            raise ModelFileError(
                f"{self.path or 'the model'}: gives a non-finite distance (NaN or infinity); "
                "the model is broken"
            )
        return distance

    def verdict(self, distance: float, threshold: float | None = None) -> Verdict:
        """Same or different at `threshold` (the model's own when None)."""
        return verdict_of(distance, self.threshold.value if threshold is None else threshold)


def is_inside_package(path: Path) -> bool:
    """Whether `path` is the shipped model or lies in the installed package's folders."""
    from siamese_gui.core.io.locations import data_dir

    try:
        resolved = Path(path).resolve()
        shipped = data_dir("models").resolve()
    except (OSError, FileNotFoundError):
        return False
    package = Path(__file__).resolve().parents[2]
    return resolved.is_relative_to(shipped) or resolved.is_relative_to(package)


def handle_from_training(result, metadata: dict) -> ModelHandle:
    """Wrap a finished `TrainingResult` (not saved yet) into a handle."""
    from siamese_gui.core.model.graph import keras_embedder

    return ModelHandle(
        embedder=keras_embedder(result.embedding),
        metadata=metadata,
        path=None,
        keras_model=result.model,
        keras_embedding=result.embedding,
    )
