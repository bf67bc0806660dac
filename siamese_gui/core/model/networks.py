"""The Siamese network: embedding presets, the distance layer and the contrastive losses.

Label convention everywhere: 1 (True) = same class, 0 (False) = different classes.
"""

from __future__ import annotations

import numpy as np

from siamese_gui.core.backend import keras
from siamese_gui.core.errors import ConfigError
from siamese_gui.core.evaluation.baselines import (
    HOG_BLOCK,
    HOG_BLOCKS_PER_SIDE,
    HOG_CELL,
    _hog_axis_weights,
)
from siamese_gui.core.io.image_format import GREY_28
from siamese_gui.core.io.images import IMAGE_SIZE
from siamese_gui.core.model.config import ARCHITECTURES

layers, ops = keras.layers, keras.ops

# The input of grey 28 x 28 models (Fashion-MNIST's, and every model saved before colour);
# the builders below take any (height, width, channels) `ImageFormat.input_shape`.
INPUT_SHAPE = GREY_28.input_shape
# Luminance weights (ITU-R BT.601, as OpenCV's grey conversion) for colour inputs.
_LUMA = (0.299, 0.587, 0.114)
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


def _unit_length(x):
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))


@keras.saving.register_keras_serializable(package="siamese_gui")
class UnitLength(layers.Layer):
    """Scales each vector to unit length; an all-zero vector stays zero.

    Keras' UnitNormalization becomes the runtime's fused L2 normalisation, which turns
    an all-zero vector into NaN.
    """

    def call(self, inputs):
        return _unit_length(inputs)


def _reflect_pad(image):
    """(batch, h, w) -> (batch, h + 2, w + 2), edges mirrored without repeating them."""
    return ops.pad(image, [[0, 0], [1, 1], [1, 1]], mode="reflect")


def _area_matrix(source: int, target: int = IMAGE_SIZE) -> np.ndarray:
    """(target, source): an area resize along one axis as a matrix (each output pixel
    the mean of the input pixels it covers, as OpenCV's INTER_AREA)."""
    matrix = np.zeros((target, source), np.float32)
    step = source / target
    for i in range(target):
        low, high = i * step, (i + 1) * step
        for j in range(int(np.floor(low)), min(source, int(np.ceil(high)))):
            matrix[i, j] = (min(high, j + 1) - max(low, j)) / step
    return matrix


def _hog_pooling_matrix() -> np.ndarray:
    """(6, 28): how much each pixel row (or column) counts towards each (block, cell):
    blocks of 14 pixels every 7, each weighted as `core.baselines` weights a block."""
    matrix = np.zeros((HOG_BLOCKS_PER_SIDE * 2, IMAGE_SIZE), np.float32)
    for block in range(HOG_BLOCKS_PER_SIDE):
        start = block * HOG_CELL
        matrix[2 * block : 2 * block + 2, start : start + HOG_BLOCK] = _hog_axis_weights()
    return matrix


@keras.saving.register_keras_serializable(package="siamese_gui")
class GradientHistograms(layers.Layer):
    """Histograms of signed gradient orientations of an image, on 28 x 28; no weights.

    A generic descriptor computed inside the network, in the layout of OpenCV's
    `HOGDescriptor` (3x3 overlapping blocks of 2x2 cells of 7x7 pixels, each block
    L2-Hys normalised). Each pixel's centred gradient votes for the orientation bins
    within one bin width of its direction, in proportion to its projection onto them,
    so no angle (and no arctangent, undefined where the image is flat) is computed.
    Input (batch, H, W, C) in [0, 1]; a colour image (C = 3) is taken as its luminance,
    and other sizes than 28 x 28 are area-resized to it first (two fixed matrix
    products), so the descriptor is the same for every input size. Output (batch,
    36 * bins), unit length (all zeros for a flat image).

    Args:
        bins: orientation bins over 0-360 degrees.
        smooth: blur the image with a 3x3 binomial kernel ([1, 2, 1] each way) before
            taking gradients, which steadies them on small, aliased or upscaled images.
    """

    def __init__(self, bins: int = 18, smooth: bool = False, **kwargs):
        super().__init__(**kwargs)
        if bins < 3:
            raise ConfigError(f"gradient histograms need at least 3 bins, got {bins}")
        self.bins = int(bins)
        self.smooth = bool(smooth)

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        if channels == 3:
            luma = ops.convert_to_tensor(np.asarray(_LUMA, np.float32))
            image = ops.sum(inputs * luma, axis=-1)
        else:
            image = inputs[..., 0]
        if (height, width) != (IMAGE_SIZE, IMAGE_SIZE):
            image = ops.matmul(ops.convert_to_tensor(_area_matrix(height)), image)
            image = ops.matmul(image, ops.convert_to_tensor(_area_matrix(width).T))
        # On 0-255 pixel values, as OpenCV's normalisation constants assume.
        image = image * 255.0
        if self.smooth:
            padded = _reflect_pad(image)
            rows = (padded[:, :-2, :] + 2.0 * padded[:, 1:-1, :] + padded[:, 2:, :]) / 4.0
            image = (rows[:, :, :-2] + 2.0 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4.0
        padded = _reflect_pad(image)
        gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
        gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
        magnitude = ops.sqrt(gx * gx + gy * gy)
        angles = 2 * np.pi * np.arange(self.bins) / self.bins
        width = np.cos(2 * np.pi / self.bins)
        directions = ops.convert_to_tensor(np.stack([np.cos(angles), np.sin(angles)]).astype(np.float32))
        projection = ops.matmul(ops.stack([gx, gy], axis=-1), directions)
        votes = ops.relu(projection - magnitude[..., None] * width) / (1.0 - width)
        pool = ops.convert_to_tensor(_hog_pooling_matrix())
        steps = HOG_BLOCKS_PER_SIDE
        # Pool rows, then columns, as two plain matrix products.
        rows = ops.matmul(pool, ops.reshape(votes, (-1, IMAGE_SIZE, IMAGE_SIZE * self.bins)))
        rows = ops.transpose(ops.reshape(rows, (-1, 2 * steps, IMAGE_SIZE, self.bins)), (0, 1, 3, 2))
        cells = ops.matmul(rows, ops.transpose(pool))  # (batch, 2 * steps, bins, 2 * steps)
        cells = ops.reshape(ops.transpose(cells, (0, 1, 3, 2)), (-1, steps, 2, steps, 2, self.bins))
        blocks = ops.reshape(ops.transpose(cells, (0, 1, 3, 2, 4, 5)), (-1, steps * steps, 4 * self.bins))
        blocks = blocks / (ops.sqrt(ops.sum(blocks * blocks, axis=-1, keepdims=True)) + 0.1 * 4 * self.bins)
        blocks = ops.minimum(blocks, 0.2)
        blocks = blocks / (ops.sqrt(ops.sum(blocks * blocks, axis=-1, keepdims=True)) + 1e-3)
        flat = ops.reshape(blocks, (-1, steps * steps * 4 * self.bins))
        return _unit_length(flat)  # a flat image has all-zero histograms

    def compute_output_shape(self, input_shape):
        return (input_shape[0], HOG_BLOCKS_PER_SIDE**2 * 4 * self.bins)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "smooth": self.smooth}


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


# The default preset's embedding joins a learned vector with the image's gradient
# histograms, both unit-length, weighted so that a chosen share of every squared
# distance comes from the histograms (chosen per run on held-out training classes, see
# `core.share_choice`). The learned part trains alone and separates the training
# classes; how much of that carries over to classes it never saw depends on the data
# (benchmarks/results-open-set.md). Where the run chooses it, the histograms are whitened
# first, as learned from the training classes (`core.whitening`, a fixed dense layer).
HISTOGRAM_BINS = 18
HISTOGRAM_SMOOTHING = True
DEFAULT_HISTOGRAM_SHARE = 0.7
LEARNED = "learned"
WHITENING = "histogram_whitening"


# Inputs with a side over this get a strided stage per doubling, so the work per image
# stays near that of a 32 x 32 input whatever the size.
_FULL_RESOLUTION_SIDE = 40


def downsampling_stages(input_shape) -> int:
    """Strided stages the default network puts before its blocks for this input."""
    side, stages = max(input_shape[:2]), 0
    while side > _FULL_RESOLUTION_SIDE:
        side, stages = (side + 1) // 2, stages + 1
    return stages


def learned_network(embedding_dim: int, input_shape=INPUT_SHAPE) -> keras.Model:
    """The default preset's learned part alone: image in, unit-length vector out.

    Args:
        embedding_dim: the vector's length.
        input_shape: one image's (height, width, channels).
    """
    # Narrow at full resolution, wider once the map is small: the compute goes where it
    # pays (about 5 M multiply-adds per 28 x 28 image, 7 M at 32 x 32 colour). Flatten
    # keeps where features are, which matters for garments.
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for _ in range(downsampling_stages(input_shape)):
        # One fused convolution and ReLU, no batch normalisation: at 64 x 64 each
        # full-batch map this stage keeps for the backward pass costs ~70 MB.
        x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = _conv_bn(x, 16)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 32)
    x = _conv_bn(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 64)
    x = _conv_bn(x, 64)
    x = layers.Flatten()(x)
    x = layers.Dense(embedding_dim)(x)
    return keras.Model(inputs, UnitLength()(x), name=LEARNED)


def default_gradient_histograms() -> GradientHistograms:
    """The gradient histograms layer of the default preset."""
    return GradientHistograms(HISTOGRAM_BINS, smooth=HISTOGRAM_SMOOTHING, name="gradient_histograms")


def histogram_network(input_shape=INPUT_SHAPE) -> keras.Model:
    """The default preset's gradient histograms alone, as a network (image in, vector out)."""
    image = keras.Input(tuple(input_shape), name="image")
    return keras.Model(image, default_gradient_histograms()(image), name="histograms")


def fuse_with_histograms(image, learned_vector, share: float = DEFAULT_HISTOGRAM_SHARE, whitening=None):
    """Join a unit-length learned vector with the image's unit-length gradient
    histograms so that the histograms carry `share` of every squared distance (the
    joined vector has unit length). With a `whitening.Whitening`, the histograms are
    whitened first (a fixed dense layer, then unit length)."""
    if not 0.0 < share < 1.0:
        raise ConfigError(f"the histogram share must be between 0 and 1, got {share}")
    histograms = default_gradient_histograms()(image)
    if whitening is not None:
        dense = layers.Dense(whitening.matrix.shape[1], trainable=False, name=WHITENING)
        histograms = UnitLength(name="whitened_unit_length")(dense(histograms))
        dense.set_weights([whitening.matrix, -(whitening.mean @ whitening.matrix)])
    return layers.Concatenate(name="fused")(
        [
            layers.Rescaling((1.0 - share) ** 0.5, name="learned_share")(learned_vector),
            layers.Rescaling(share**0.5, name="histograms_share")(histograms),
        ]
    )


def build_embedding_network(
    preset: str = "default",
    embedding_dim: int = 64,
    name: str = EMBEDDING_NAME,
    histogram_share: float = DEFAULT_HISTOGRAM_SHARE,
    whitening=None,
    input_shape=INPUT_SHAPE,
) -> keras.Model:
    """Build the network that maps one image (H, W, C) to an embedding vector.

    Args:
        preset: "default" (a small batch-normalised network, fast on CPU, joined by
            the image's gradient histograms, see `fuse_with_histograms`; unit-length
            embeddings) or "seed" (the tutorial's two 128-filter conv blocks, bug fixed).
        embedding_dim: length of the learned vector (the default preset adds
            36 x `HISTOGRAM_BINS` histogram values).
        histogram_share: the default preset's share of each squared distance that
            comes from the gradient histograms.
        whitening: the default preset's `whitening.Whitening` of the histograms, or None.
        name: the network's name.
        input_shape: one image's (height, width, channels), `ImageFormat.input_shape`.

    Raises:
        ConfigError: on an unknown preset or a non-positive size.
    """
    if preset not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture preset {preset!r} (choose from {', '.join(ARCHITECTURES)})")
    if embedding_dim < 1:
        raise ConfigError(f"embedding size must be at least 1, got {embedding_dim}")
    inputs = keras.Input(tuple(input_shape), name="image")
    if preset == "default":
        outputs = fuse_with_histograms(
            inputs, learned_network(embedding_dim, input_shape)(inputs), histogram_share, whitening
        )
    else:
        outputs = _seed_network(inputs, embedding_dim)
    return keras.Model(inputs, outputs, name=name)


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
    image = keras.Input(tuple(network.input_shape[1:]), name="image")
    both = layers.Average(name="mirror_average")([network(image), network(HorizontalFlip()(image))])
    if normalize:
        both = layers.UnitNormalization(name="unit_length")(both)
    return keras.Model(image, both, name=EMBEDDING_NAME)


def mirror_averaged_fused(learned: keras.Model, histogram_share: float, whitening=None) -> keras.Model:
    """The default preset's network with its learned part averaged over mirror images.

    Only the learned part is averaged; the gradient histograms stay those of the image
    itself, so left and right stay apart where that matters (digits, letters).

    Args:
        learned: the trained learned part (the default network's `LEARNED` layer).
        histogram_share: the gradient histograms' share of each squared distance.
        whitening: the histograms' `whitening.Whitening`, or None.
    """
    image = keras.Input(tuple(learned.input_shape[1:]), name="image")
    both = layers.Average(name="mirror_average")([learned(image), learned(HorizontalFlip()(image))])
    both = UnitLength(name="unit_length")(both)
    return keras.Model(image, fuse_with_histograms(image, both, histogram_share, whitening), name=EMBEDDING_NAME)


def build_pair_model(embedding: keras.Model) -> keras.Model:
    """Wrap an embedding network into the Siamese model: two images in, a distance out."""
    shape = tuple(embedding.input_shape[1:])
    image_a = keras.Input(shape, name="image_a")
    image_b = keras.Input(shape, name="image_b")
    distance = EuclideanDistance(name="distance")([embedding(image_a), embedding(image_b)])
    return keras.Model([image_a, image_b], distance, name="siamese")
