"""Train an embedding network with the in-batch contrastive loss.

Progress and cancellation are plain callables, so the GUI, the CLI and the tests use the
same function; a Keras callback adapts them.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import keras
import tensorflow as tf

from siamese_gui.core.datasets import Dataset
from siamese_gui.core.config import TrainingConfig
from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.evaluation import (
    EvaluationReport,
    ThresholdMetrics,
    evaluate_distances,
    metrics_at,
    pair_distances,
)
from siamese_gui.core.images import IMAGE_SIZE
from siamese_gui.core.inference import Cancelled, embed_in_batches
from siamese_gui.core.model import (
    EMBEDDING_NAME,
    InBatchContrastiveLoss,
    build_embedding_network,
    build_pair_model,
    mirror_averaged,
)
from siamese_gui.core.pairs import Pairs, balanced_pairs, stratified_split


@dataclass(frozen=True)
class BatchProgress:
    """One finished training batch."""

    epoch: int
    batch: int
    batches_per_epoch: int
    loss: float
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochProgress:
    """One finished epoch."""

    epoch: int
    epochs: int
    loss: float
    val_loss: float | None
    elapsed_s: float


@dataclass
class TrainingResult:
    """What a training run produced.

    Attributes:
        embedding: the trained embedding network.
        model: the Siamese pair model around it (two images in, a distance out).
        config: the settings used.
        history: per-epoch "loss" and "val_loss" lists.
        status: "completed", "stopped" (by the user; the weights so far are kept) or
            "failed" (the loss became NaN or infinite; the weights are unusable).
        threshold: recommended threshold, the max-accuracy one on validation pairs.
        validation: AUC, EER and best accuracy on the validation pairs.
        at_threshold: accuracy, FAR, FRR ... on the validation pairs at `threshold`.
        seconds: wall time of the run.
        message: why it stopped, for display.
    """

    embedding: keras.Model
    model: keras.Model
    config: TrainingConfig
    history: dict = field(default_factory=dict)
    status: str = "completed"
    threshold: float | None = None
    validation: EvaluationReport | None = None
    at_threshold: ThresholdMetrics | None = None
    seconds: float = 0.0
    message: str = ""
    data_source: str = ""
    validation_pairs_description: str = ""

    @property
    def usable(self) -> bool:
        """Whether the model can be used and saved (it did not fail)."""
        return self.status != "failed"


_GRAPH_EMBEDDERS: "weakref.WeakKeyDictionary[keras.Model, Callable]" = weakref.WeakKeyDictionary()


def graph_embedder(embedding: keras.Model) -> Callable:
    """A compiled graph of the network in inference mode, built once per network.

    Graph mode lets TensorFlow fuse convolution, batch normalisation and ReLU, which
    halves inference time on CPU compared with calling the model eagerly.
    """
    function = _GRAPH_EMBEDDERS.get(embedding)
    if function is None:
        network = weakref.ref(embedding)  # the cache must not keep the model alive
        function = tf.function(
            lambda x: network()(x, training=False),
            input_signature=[tf.TensorSpec((None, *embedding.input_shape[1:]), tf.float32)],
        )
        _GRAPH_EMBEDDERS[embedding] = function
    return function


def embed(
    embedding: keras.Model, images: np.ndarray, should_stop: Callable[[], bool] | None = None
) -> np.ndarray:
    """Return one embedding per image of a Keras network (see `inference.embed_in_batches`)."""
    function = graph_embedder(embedding)
    return embed_in_batches(lambda batch: function(batch).numpy(), images, should_stop)


AUGMENT_SHIFT = 2


def augment_batch(x, seed):
    """Mirror half of a batch left-right and shift every image by up to 2 pixels.

    Stateless: the same (seed, batch index) always gives the same batch.

    Args:
        x: float images (B, 28, 28, 1).
        seed: int64 tensor of shape (2,).
    """
    batch = tf.shape(x)[0]
    flip = tf.random.stateless_uniform([batch, 1, 1, 1], seed=seed) < 0.5
    x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    span = 2 * AUGMENT_SHIFT
    offsets = tf.random.stateless_uniform(
        [batch, 2], seed=seed[::-1], minval=0, maxval=span + 1, dtype=tf.int32
    )
    padded = tf.pad(x, [[0, 0], [AUGMENT_SHIFT, AUGMENT_SHIFT], [AUGMENT_SHIFT, AUGMENT_SHIFT], [0, 0]])
    size = IMAGE_SIZE + span
    top_left = tf.cast(offsets, tf.float32)
    # Boxes on whole pixels, so crop_and_resize copies pixels without interpolating.
    boxes = tf.concat([top_left, top_left + IMAGE_SIZE - 1], axis=1) / (size - 1)
    return tf.image.crop_and_resize(padded, boxes, tf.range(batch), [IMAGE_SIZE, IMAGE_SIZE])


def _dataset(images: np.ndarray, labels, indices: np.ndarray, config: TrainingConfig, training: bool):
    """Batches of (float images, labels) for the images at `indices`.

    Only indices are shuffled and batched; each batch gathers its uint8 images straight
    from the caller's array and scales (and augments) them, so the images are never
    copied into TensorFlow, turned into floats all at once, or paired up in memory.
    """
    data = tf.data.Dataset.from_tensor_slices(indices)
    if training:
        data = data.shuffle(len(indices), seed=config.seed, reshuffle_each_iteration=True)
    batch_size = min(config.batch_size, len(indices))
    data = data.batch(batch_size, drop_remainder=training)
    augment = training and config.augment
    seed = config.seed

    def gather(batch_indices):
        return images[batch_indices]

    dtype = tf.as_dtype(images.dtype)
    scale = 255.0 if images.dtype == np.uint8 else 1.0  # as `inference.to_model_input`

    def prepare(index, batch_indices):
        pixels = tf.numpy_function(gather, [batch_indices], dtype, stateful=False)
        pixels.set_shape([None, IMAGE_SIZE, IMAGE_SIZE])
        x = tf.cast(pixels, tf.float32)[..., None] / scale
        y = tf.gather(labels, batch_indices)
        if augment:
            x = augment_batch(x, tf.stack([tf.constant(seed, tf.int64), index]))
        return x, y

    return data.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


class _ProgressCallback(keras.callbacks.Callback):
    """Adapts Keras' callback hooks to the plain callables of `train`."""

    def __init__(self, config, steps, on_batch, on_epoch, should_stop):
        super().__init__()
        self.config = config
        self.steps = steps
        self.on_batch = on_batch
        self.on_epoch = on_epoch
        self.should_stop = should_stop or (lambda: False)
        self.start = time.perf_counter()
        self.epoch = 0
        self.previous_mean = 0.0
        self.stopped = False
        self.failed_loss = None

    def _check_stop(self, test: bool):
        if self.should_stop():
            self.stopped = True
            self.model.stop_training = True
            if test:
                self.model.stop_evaluating = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.previous_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        # Keras reports the running mean over the epoch; equal-sized batches let the
        # batch's own loss be recovered exactly from two consecutive means.
        loss = (batch + 1) * mean - batch * self.previous_mean
        self.previous_mean = mean
        if not math.isfinite(mean):
            self.failed_loss = mean
            self.model.stop_training = True
            return
        if self.on_batch is not None:
            done = self.epoch * self.steps + batch + 1
            total = self.config.epochs * self.steps
            elapsed = time.perf_counter() - self.start
            self.on_batch(
                BatchProgress(
                    self.epoch, batch, self.steps, loss, elapsed, elapsed / done * (total - done)
                )
            )
        self._check_stop(test=False)

    def on_test_batch_end(self, batch, logs=None):
        self._check_stop(test=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = float(logs.get("loss", float("nan")))
        if not math.isfinite(loss):
            self.failed_loss = loss
            self.model.stop_training = True
            return
        if self.stopped:
            return
        val_loss = logs.get("val_loss")
        if self.on_epoch is not None:
            self.on_epoch(
                EpochProgress(
                    epoch,
                    self.config.epochs,
                    loss,
                    None if val_loss is None else float(val_loss),
                    time.perf_counter() - self.start,
                )
            )


def inference_network(embedding: keras.Model, config: TrainingConfig) -> keras.Model:
    """A fresh, uncompiled copy of a trained network, ready to save and use.

    It carries no optimizer or loss state. When training mirrored images, the copy
    embeds each image as the mean of it and its mirror image.
    """
    name = "trunk" if config.augment else EMBEDDING_NAME
    network = build_embedding_network(config.preset, config.embedding_dim, name=name)
    network.set_weights(embedding.get_weights())
    if config.augment:
        return mirror_averaged(network, normalize=config.preset == "default")
    return network


def validation_pairs(labels: np.ndarray, seed: int) -> Pairs:
    """Balanced pairs among held-out images, used to choose the threshold."""
    return balanced_pairs(labels, seed=seed + 1)


def train(
    config: TrainingConfig,
    dataset: Dataset,
    on_batch: Callable[[BatchProgress], None] | None = None,
    on_epoch: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    validation: Dataset | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Train a Siamese embedding network on a labelled dataset.

    A stratified `validation_fraction` of the images is held out; after training, the
    recommended threshold is the one that classifies most validation pairs right.

    Args:
        config: the settings.
        dataset: uint8 images with class labels (Fashion-MNIST's train split or an
            image folder).
        on_batch: called after every batch with a `BatchProgress`.
        on_epoch: called after every epoch with an `EpochProgress`.
        should_stop: polled after every batch; when it returns True training stops
            within that batch (validation is skipped) and the weights so far are kept.
        callbacks: extra Keras callbacks on the embedding network being trained (for
            example a benchmark that evaluates at intervals).
        validation: held-out images to choose the threshold on (a stratified
            `validation_fraction` of `dataset` when None).
        should_cancel: polled like `should_stop`, and between the batches of the final
            validation pass; when it returns True the run is abandoned (the app is
            closing): nothing is validated and `Cancelled` is raised.

    Returns:
        A `TrainingResult`; its `status` says whether it completed, was stopped, or
        failed on a non-finite loss.

    Raises:
        ConfigError: if the dataset is too small for the settings.
        Cancelled: if `should_cancel` turned true.
    """
    start = time.perf_counter()
    if validation is None:
        train_idx, val_idx = stratified_split(dataset.labels, config.validation_fraction, config.seed)
        validation = dataset.subset(val_idx)
        dataset = dataset.subset(train_idx)
    if len(dataset) < 2 or len(validation) < 2:
        raise ConfigError(
            f"{dataset.source}: too few images ({len(dataset)} to train, {len(validation)} to "
            "validate)"
        )
    train_idx = np.arange(len(dataset))
    val_idx = np.arange(len(validation))
    keras.utils.set_random_seed(config.seed)
    embedding = build_embedding_network(config.preset, config.embedding_dim)
    steps = max(len(train_idx) // min(config.batch_size, len(train_idx)), 1)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps)
    embedding.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=InBatchContrastiveLoss(config.margin),
        # XLA made these small convolutions slower on CPU and added ~300 MB of peak memory.
        jit_compile=False,
    )
    train_data = _dataset(dataset.images, tf.constant(dataset.labels), train_idx, config, True)
    val_data = _dataset(validation.images, tf.constant(validation.labels), val_idx, config, False)
    cancelled = should_cancel or (lambda: False)
    stop = should_stop or (lambda: False)
    progress = _ProgressCallback(config, steps, on_batch, on_epoch, lambda: stop() or cancelled())
    history = embedding.fit(
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        shuffle=False,  # tf.data already shuffles
        verbose=0,
        callbacks=[progress, *callbacks],
    )
    if cancelled():
        raise Cancelled("training cancelled")
    trained = inference_network(embedding, config)
    result = TrainingResult(
        embedding=trained,
        model=build_pair_model(trained),
        config=config,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        data_source=dataset.source,
    )
    if progress.failed_loss is not None:
        result.status = "failed"
        result.message = (
            f"training failed: the loss became {progress.failed_loss} "
            f"(try a smaller learning rate than {config.learning_rate:g})"
        )
    else:
        if progress.stopped:
            result.status = "stopped"
            result.message = "stopped by the user; the weights so far are kept"
        else:
            result.message = "completed"
        pairs = validation_pairs(validation.labels, config.seed)
        try:
            # The validation pass of a big dataset takes seconds; closing must not wait for it.
            distances = pair_distances(embed(trained, validation.images, should_cancel), pairs)
        except ModelFileError:
            result.status = "failed"
            result.message = "training failed: the network produces non-finite distances"
        else:
            result.validation = evaluate_distances(distances, pairs.same)
            result.validation_pairs_description = (
                f"{len(pairs):,} pairs of {len(validation):,} held-out images ({validation.source})"
            )
            if result.validation.defined:
                result.threshold = result.validation.best_threshold
                result.at_threshold = metrics_at(distances, pairs.same, result.threshold)
            else:
                result.message += (
                    "; the validation images hold only one kind of pair, so no threshold "
                    "could be chosen (add images)"
                )
    result.seconds = time.perf_counter() - start
    return result
