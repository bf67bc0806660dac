"""The Siamese network: embedding presets, the distance layer and the contrastive losses.

Label convention everywhere: 1 (True) = same class, 0 (False) = different classes.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from siamese_gui.core.config import ARCHITECTURES  # noqa: E402
from siamese_gui.core.errors import ConfigError  # noqa: E402
from siamese_gui.core.images import IMAGE_SIZE  # noqa: E402

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
EMBEDDING_NAME = "embedding"
_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="siamese_gui")
class EuclideanDistance(layers.Layer):
    """Euclidean distance between two batches of vectors, shape (batch, 1).

    A named, registered layer (not a `Lambda`) so that models load with
    `safe_mode=True`. The square root is floored at a small epsilon to keep its
    gradient finite when the two vectors coincide.
    """

    def call(self, inputs):
        a, b = inputs
        squared = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
        return ops.sqrt(ops.maximum(squared, _EPSILON))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)


@keras.saving.register_keras_serializable(package="siamese_gui")
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss on pair distances (Hadsell, Chopra and LeCun, 2006).

    `y_true` is 1 for a same-class pair and 0 for a different-class pair; `y_pred` is
    the pair's distance. Same pairs pay `d**2`; different pairs pay
    `max(margin - d, 0)**2`, so they are pushed at least `margin` apart.

    Args:
        margin: the distance beyond which different pairs cost nothing.
    """

    def __init__(self, margin: float = 1.0, name: str = "contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        y = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype)
        d = ops.reshape(y_pred, (-1,))
        return y * ops.square(d) + (1 - y) * ops.square(ops.maximum(self.margin - d, 0.0))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


def contrastive_loss(margin: float = 1.0) -> ContrastiveLoss:
    """Return the contrastive loss for pair distances; y_true 1 = same, 0 = different."""
    return ContrastiveLoss(margin)


@keras.saving.register_keras_serializable(package="siamese_gui")
class InBatchContrastiveLoss(keras.losses.Loss):
    """Contrastive loss over every pair of images inside a batch.

    A batch of B labelled images holds B(B-1)/2 pairs; all of them are used instead of
    a fixed list of pairs. `y_true` holds the class labels (B,), `y_pred` the
    embeddings (B, D). Same-class and different-class pairs are averaged separately and
    weighted equally, as in a balanced pair set.

    Args:
        margin: different-class pairs closer than this are penalised.
    """

    def __init__(self, margin: float = 1.0, name: str = "in_batch_contrastive_loss", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        squared_norms = ops.sum(ops.square(y_pred), axis=1)
        squared = (
            squared_norms[:, None] + squared_norms[None, :] - 2 * ops.matmul(y_pred, ops.transpose(y_pred))
        )
        distances = ops.sqrt(ops.maximum(squared, _EPSILON))
        batch = ops.shape(labels)[0]
        upper = ops.triu(ops.ones((batch, batch), dtype=y_pred.dtype), k=1)
        same = ops.cast(ops.equal(labels[:, None], labels[None, :]), y_pred.dtype) * upper
        different = upper - same
        pos = ops.sum(same * ops.square(distances)) / ops.maximum(ops.sum(same), 1.0)
        neg_cost = ops.square(ops.maximum(self.margin - distances, 0.0))
        neg = ops.sum(different * neg_cost) / ops.maximum(ops.sum(different), 1.0)
        return (pos + neg) / 2

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


def _seed_network(inputs, embedding_dim: int):
    # The tutorial's network with its bug fixed: the second block now follows the first.
    x = layers.Conv2D(128, (2, 2), padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Conv2D(128, (2, 2), padding="same", activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Dropout(0.4)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dense(embedding_dim)(x)


def _conv_bn(x, filters: int):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    # Momentum 0.9 (not 0.99): the moving statistics settle within short GUI runs.
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def _default_network(inputs, embedding_dim: int):
    # Narrow at full resolution, wider once the map is small: the compute goes where it
    # pays (about 5 M multiply-adds per image). Flatten keeps where features are, which
    # matters for garments; unit-length embeddings keep every distance in [0, 2].
    x = _conv_bn(inputs, 16)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 32)
    x = _conv_bn(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 64)
    x = _conv_bn(x, 64)
    x = layers.Flatten()(x)
    x = layers.Dense(embedding_dim)(x)
    return layers.UnitNormalization()(x)


def build_embedding_network(
    preset: str = "default", embedding_dim: int = 64, name: str = EMBEDDING_NAME
) -> keras.Model:
    """Build the network that maps one image (28, 28, 1) to an embedding vector.

    Args:
        preset: "default" (fast on CPU, batch-normalised, unit-length embeddings) or
            "seed" (the tutorial's two 128-filter conv blocks, bug fixed).
        embedding_dim: length of the embedding vector.
        name: the network's name.

    Raises:
        ConfigError: on an unknown preset or a non-positive size.
    """
    if preset not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture preset {preset!r} (choose from {', '.join(ARCHITECTURES)})")
    if embedding_dim < 1:
        raise ConfigError(f"embedding size must be at least 1, got {embedding_dim}")
    inputs = keras.Input(INPUT_SHAPE, name="image")
    body = _default_network if preset == "default" else _seed_network
    return keras.Model(inputs, body(inputs, embedding_dim), name=name)


@keras.saving.register_keras_serializable(package="siamese_gui")
class HorizontalFlip(layers.Layer):
    """Mirrors images (batch, height, width, channels) left-right, always."""

    def call(self, inputs):
        return ops.flip(inputs, axis=2)


def mirror_averaged(network: keras.Model, normalize: bool) -> keras.Model:
    """Wrap a network so that it embeds an image as the mean of it and its mirror image.

    A network trained on randomly mirrored images sees both views as the same garment;
    averaging the two makes its embedding exactly mirror-invariant and steadier.

    Args:
        network: the trained embedding network (not named "embedding").
        normalize: scale the mean back to unit length (for unit-length presets).
    """
    image = keras.Input(INPUT_SHAPE, name="image")
    both = layers.Average(name="mirror_average")([network(image), network(HorizontalFlip()(image))])
    if normalize:
        both = layers.UnitNormalization(name="unit_length")(both)
    return keras.Model(image, both, name=EMBEDDING_NAME)


def build_pair_model(embedding: keras.Model) -> keras.Model:
    """Wrap an embedding network into the Siamese model: two images in, a distance out."""
    image_a = keras.Input(INPUT_SHAPE, name="image_a")
    image_b = keras.Input(INPUT_SHAPE, name="image_b")
    distance = EuclideanDistance(name="distance")([embedding(image_a), embedding(image_b)])
    return keras.Model([image_a, image_b], distance, name="siamese")
