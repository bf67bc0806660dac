"""Train an embedding network with the in-batch contrastive loss.

Progress and cancellation are plain callables, so the GUI, the CLI and the tests use the
same function; a Keras callback adapts them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from siamese_gui.core.backend import keras, tf
from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.data.pairs import stratified_split, threshold_pairs
from siamese_gui.core.errors import Cancelled, ConfigError, ModelFileError
from siamese_gui.core.evaluation.metrics import (
    EvaluationReport,
    ThresholdMetrics,
    evaluate_distances,
    metrics_at,
    pair_distances,
)
from siamese_gui.core.evaluation.validation import validation_record
from siamese_gui.core.model.config import NEW_CLASSES, TRAINED_CLASSES, TrainingConfig
from siamese_gui.core.model.graph import embed
from siamese_gui.core.model.networks import (
    EMBEDDING_NAME,
    LEARNED,
    InBatchContrastiveLoss,
    build_embedding_network,
    build_pair_model,
    histogram_network,
    learned_network,
    mirror_averaged,
    mirror_averaged_fused,
)
from siamese_gui.core.model.whitening import Whitening, learn_whitening
from siamese_gui.core.training.schedule import (  # noqa: F401 - AUTOMATIC_PASSES ... are this module's API too
    AUTOMATIC_PASSES,
    MAX_STEPS,
    MIN_STEPS,
    Schedule,
    automatic_steps,
    plan_schedule,
    run_summary,
    trained_text,
)
from siamese_gui.core.training.share_choice import SHARES, ShareProbe, ShareProbeCallback, plan_probe
from siamese_gui.core.training.share_choice import describe as describe_share
from siamese_gui.core.training.share_choice import record as record_share
from siamese_gui.core.training.time_left import TimeLeft


def _steps_done(epoch: int, batches_per_epoch: int, batch: int) -> int:
    """Optimiser steps finished once `batch` (0-based) of `epoch` (0-based) is done."""
    return epoch * batches_per_epoch + batch + 1


@dataclass(frozen=True)
class BatchProgress:
    """One finished training batch."""

    epoch: int
    batch: int
    batches_per_epoch: int
    loss: float
    elapsed_s: float
    eta_s: float | None  # None until enough steps are measured (`time_left.TimeLeft`)
    epochs: int = 1
    steps: int = 0  # optimiser steps of the whole run
    by_steps: bool = False  # scheduled by optimiser steps rather than epochs

    @property
    def done(self) -> int:
        """Optimiser steps finished so far."""
        return _steps_done(self.epoch, self.batches_per_epoch, self.batch)

    def position(self) -> str:
        """Where the run is, in the schedule's own unit ("step 105/200", or "epoch 2/8 ·
        batch 3/211")."""
        if self.by_steps:
            return f"step {self.done:,}/{self.steps:,}"
        return f"epoch {self.epoch + 1}/{self.epochs} · batch {self.batch + 1}/{self.batches_per_epoch}"


@dataclass(frozen=True)
class EpochProgress:
    """One finished epoch."""

    epoch: int
    epochs: int
    loss: float
    val_loss: float | None
    elapsed_s: float
    steps_done: int = 0
    steps: int = 0
    by_steps: bool = False

    def position(self) -> str:
        """Where the run is, in the schedule's own unit ("step 105/200" or "epoch 2/8")."""
        if self.by_steps:
            return f"step {self.steps_done:,}/{self.steps:,}"
        return f"epoch {self.epoch + 1}/{self.epochs}"


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
        message: how it ended and why, for display ("stopped by the user; the weights
            so far are kept").
        note: the part of `message` after how it ended ("the weights so far are kept"),
            "" when there is nothing to add.
        schedule: how long it was set to train, in words (epochs or optimiser steps,
            and why).
        steps_done: optimiser steps it really trained (fewer than planned when stopped).
        trained: what it really trained, in words (`schedule.trained_text`).
        histograms: the gradient histograms' share of the distance, in words ("" for
            presets without them).
        train_images: the images it trained on (validation images not among them).
        probe_steps: optimiser steps trained without the classes the share was chosen
            on, which then joined training (0 when the share was not chosen that way).
        share_choice: the chosen share with its evidence (`share_choice.record`), or None.
        validation_record: the validation pairs the threshold was chosen on
            (`core.evaluation.validation.validation_record`), or None.
        goal: the goal the run aimed at, resolved (`TRAINED_CLASSES` or `NEW_CLASSES`).
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
    note: str = ""
    data_source: str = ""
    validation_pairs_description: str = ""
    schedule: str = ""
    steps_done: int = 0
    trained: str = ""
    histograms: str = ""
    train_images: int = 0
    probe_steps: int = 0
    share_choice: dict | None = None
    validation_record: dict | None = None
    goal: str = ""

    @property
    def usable(self) -> bool:
        """Whether the model can be used and saved (it did not fail)."""
        return self.status != "failed"

    def summary(self) -> str:
        """The run in one line: how it ended, what it trained, how long it took
        (`schedule.run_summary`)."""
        return run_summary(self.status, self.trained, self.seconds, self.note)


AUGMENT_SHIFT = 2


def augment_batch(x, seed):
    """Mirror half of a batch left-right and shift every image by up to 2 pixels.

    Stateless: the same (seed, batch index) always gives the same batch.

    Args:
        x: float images (B, H, W, C).
        seed: int64 tensor of shape (2,).
    """
    height, width = int(x.shape[1]), int(x.shape[2])
    batch = tf.shape(x)[0]
    flip = tf.random.stateless_uniform([batch, 1, 1, 1], seed=seed) < 0.5
    x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    span = 2 * AUGMENT_SHIFT
    offsets = tf.random.stateless_uniform(
        [batch, 2], seed=seed[::-1], minval=0, maxval=span + 1, dtype=tf.int32
    )
    padded = tf.pad(x, [[0, 0], [AUGMENT_SHIFT, AUGMENT_SHIFT], [AUGMENT_SHIFT, AUGMENT_SHIFT], [0, 0]])
    size = tf.constant([height + span - 1, width + span - 1], tf.float32)
    top_left = tf.cast(offsets, tf.float32)
    # Boxes on whole pixels, so crop_and_resize copies pixels without interpolating.
    bottom_right = top_left + tf.constant([height - 1, width - 1], tf.float32)
    boxes = tf.concat([top_left / size, bottom_right / size], axis=1)
    return tf.image.crop_and_resize(padded, boxes, tf.range(batch), [height, width])


def _dataset(
    images: np.ndarray, labels, indices: np.ndarray, config: TrainingConfig, training: bool, first_batch: int = 0
):
    """Batches of (float images, labels) for the images at `indices` (endless when training;
    `first_batch` numbers the first batch, which seeds its augmentation).

    Only indices are shuffled and batched; each batch gathers its uint8 images straight
    from the caller's array and scales (and augments) them, so the images are never
    copied into TensorFlow, turned into floats all at once, or paired up in memory.
    """
    data = tf.data.Dataset.from_tensor_slices(indices)
    if training:
        data = data.shuffle(len(indices), seed=config.seed, reshuffle_each_iteration=True)
    batch_size = min(config.batch_size, len(indices))
    data = data.batch(batch_size, drop_remainder=training)
    if training:
        data = data.repeat()
    augment = training and config.augment
    seed = config.seed

    def gather(batch_indices):
        return images[batch_indices]

    dtype = tf.as_dtype(images.dtype)
    scale = 255.0 if images.dtype == np.uint8 else 1.0  # as `inference.to_model_input`

    def prepare(index, batch_indices):
        pixels = tf.numpy_function(gather, [batch_indices], dtype, stateful=False)
        pixels.set_shape([None, *images.shape[1:]])
        x = tf.cast(pixels, tf.float32) / scale
        if images.ndim == 3:  # grey (N, H, W): one channel
            x = x[..., None]
        y = tf.gather(labels, batch_indices)
        if augment:
            x = augment_batch(x, tf.stack([tf.constant(seed, tf.int64), index]))
        return x, y

    return data.enumerate(start=first_batch).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def training_batches(dataset: Dataset, train_idx: np.ndarray, config: TrainingConfig, probe: ShareProbe | None):
    """The endless training batches of a run: with a share probe, its classes sit out
    the first `probe.steps` batches; then all classes train."""
    labels = tf.constant(dataset.labels)
    if probe is None:
        return _dataset(dataset.images, labels, train_idx, config, True)
    without = train_idx[~np.isin(dataset.labels[train_idx], probe.classes)]
    return _dataset(dataset.images, labels, without, config, True).take(probe.steps).concatenate(
        _dataset(dataset.images, labels, train_idx, config, True, first_batch=probe.steps)
    )


# The share of a run aiming at new classes that cannot choose it on held-out classes
# (fewer than `share_choice.MIN_CLASSES`, or stopped before the probe step): the largest
# the probe may choose, as nothing measured says the learned part carries over
# (docs/decisions.md, "Histogram share").
FALLBACK_HISTOGRAM_SHARE = SHARES[-1]


def histogram_share(config: TrainingConfig, goal: str) -> float:
    """The share a run starts from: 0 (the learned network alone) for the trained
    classes' goal or the 'seed' architecture, else the setting, or
    `FALLBACK_HISTOGRAM_SHARE` when it is 0 and no probe chooses it."""
    if config.preset != "default" or goal == TRAINED_CLASSES:
        return 0.0
    return config.histogram_share or FALLBACK_HISTOGRAM_SHARE


def _histograms_description(config: TrainingConfig, share: float, goal: str) -> str:
    """The gradient histograms' share of a run in words ("" for presets without them)."""
    if config.preset != "default":
        return ""
    if goal == TRAINED_CLASSES:
        return ("the learned network alone, no gradient histograms (goal: the classes it "
                "trains on" + (", as the split tests them)" if config.goal == "auto" else ", as set)"))
    why = "as set" if config.histogram_share else "automatic"
    return f"{share:.0%} of each squared distance from the gradient histograms ({why})"


class _ProgressCallback(keras.callbacks.Callback):
    """Adapts Keras' callback hooks to the plain callables of `train`."""

    def __init__(self, schedule: "Schedule", on_batch, on_epoch, should_stop):
        super().__init__()
        self.schedule = schedule
        self.steps = schedule.steps_per_epoch
        self.on_batch = on_batch
        self.on_epoch = on_epoch
        self.should_stop = should_stop or (lambda: False)
        self.start = time.perf_counter()
        self.time_left = TimeLeft(schedule.steps)
        self.epoch = 0
        self.previous_mean = 0.0
        self.stopped = False
        self.failed_loss = None
        self.steps_done = 0  # optimiser steps finished so far

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
        self.steps_done = _steps_done(self.epoch, self.steps, batch)
        if not math.isfinite(mean):
            self.failed_loss = mean
            self.model.stop_training = True
            return
        done, total = self.steps_done, self.schedule.steps
        if done >= total:  # the last round may end before a full pass
            self.model.stop_training = True
        if self.on_batch is not None:
            elapsed = time.perf_counter() - self.start
            self.on_batch(
                BatchProgress(
                    self.epoch, batch, self.steps, loss, elapsed, self.time_left.update(done),
                    self.schedule.epochs, total, self.schedule.by_steps,
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
                    self.schedule.epochs,
                    loss,
                    None if val_loss is None else float(val_loss),
                    time.perf_counter() - self.start,
                    min(_steps_done(epoch, self.steps, self.steps - 1), self.schedule.steps),
                    self.schedule.steps,
                    self.schedule.by_steps,
                )
            )


def inference_network(
    embedding: keras.Model, config: TrainingConfig, share: float, whitening: Whitening | None = None
) -> keras.Model:
    """A fresh, uncompiled copy of a trained network, ready to save and use.

    It carries no optimizer or loss state. When training mirrored images, the copy
    embeds each image as the mean of it and its mirror image (the default preset
    averages its learned part only). `share` is the gradient histograms' share of
    each squared distance (0: the learned network alone) and `whitening` their
    whitening, if any (default preset).
    """
    name = "trunk" if config.augment else EMBEDDING_NAME
    if config.preset == "default" and share == 0.0:  # the learned network alone
        network = learned_network(config.embedding_dim, tuple(embedding.input_shape[1:]))
        network.set_weights(embedding.get_weights())
        return mirror_averaged(network, normalize=True) if config.augment else keras.Model(
            network.input, network.output, name=EMBEDDING_NAME)
    network = build_embedding_network(
        config.preset, config.embedding_dim, name=name, histogram_share=share, whitening=whitening,
        input_shape=tuple(embedding.input_shape[1:]),
    )
    if config.preset == "default":
        network.get_layer(LEARNED).set_weights(embedding.get_weights())
    else:
        network.set_weights(embedding.get_weights())
    if not config.augment:
        return network
    if config.preset == "default":
        return mirror_averaged_fused(network.get_layer(LEARNED), share, whitening)
    return mirror_averaged(network, normalize=False)


def _whitening(histograms: keras.Model, dataset: Dataset, indices: np.ndarray) -> Whitening | None:
    """The whitening of the `histograms` network's output learned from some images of a
    dataset (None where there is nothing to learn, or their histograms are not finite:
    the run then fails on its own loss)."""
    try:
        return learn_whitening(lambda chunk: embed(histograms, dataset.images[chunk]), indices, dataset.labels[indices])
    except ModelFileError:
        return None


def _validation_distances(trained, validation: Dataset, dataset: Dataset, train_idx, seed: int, should_cancel):
    """Distances of the pairs the threshold is chosen on (`threshold_pairs`), the pairs,
    the training images they pair with (none where validation pairs among itself), and
    the pairs in words."""
    known = np.asarray(train_idx)
    pairs, partners = threshold_pairs(validation.labels, dataset.labels[known], seed + 1)
    vectors = embed(trained, validation.images, should_cancel)
    if not len(partners):
        return pair_distances(vectors, pairs), pairs, partners, (
            f"{len(pairs):,} pairs of {len(validation):,} held-out images ({validation.source})"
        )
    vectors = np.concatenate([vectors, embed(trained, dataset.images[known[partners]], should_cancel)])
    same = int(pairs.same.sum())
    return pair_distances(vectors, pairs), pairs, partners, (
        f"{len(pairs):,} pairs of each of {len(validation):,} held-out images with a training image "
        f"({same:,} same-class, {len(pairs) - same:,} different; too few held-out images of a class "
        f"to pair them among themselves) ({validation.source})"
    )


def train(
    config: TrainingConfig,
    dataset: Dataset,
    on_batch: Callable[[BatchProgress], None] | None = None,
    on_epoch: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    validation: Dataset | None = None,
    should_cancel: Callable[[], bool] | None = None,
    open_set: bool = False,
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
        open_set: whether the run's test classes are held out of training, which the
            'auto' goal follows (`TrainingConfig.resolved_goal`).

    Returns:
        A `TrainingResult`; its `status` says whether it completed, was stopped, or
        failed on a non-finite loss.

    Raises:
        ConfigError: if the dataset is too small for the settings.
        Cancelled: if `should_cancel` turned true.
    """
    start = time.perf_counter()
    # Training batches gather their images from `dataset` by index: the training images
    # are never copied out of it (on Fashion-MNIST that copy alone was 42 MB).
    if validation is None:
        train_idx, val_idx = stratified_split(dataset.labels, config.validation_fraction, config.seed)
        validation = dataset.subset(val_idx)
    else:
        train_idx = np.arange(len(dataset))
    if len(train_idx) < 2 or len(validation) < 2:
        raise ConfigError(
            f"{dataset.source}: too few images ({len(train_idx)} to train, {len(validation)} to "
            "validate)"
        )
    if validation.images.shape[1:] != dataset.images.shape[1:]:
        raise ConfigError(
            f"{validation.source}: its images are {validation.image_format.describe()}, the "
            f"training images {dataset.image_format.describe()}; read both alike"
        )
    val_idx = np.arange(len(validation))
    keras.utils.set_random_seed(config.seed)
    goal = config.resolved_goal(open_set)
    share = histogram_share(config, goal)
    input_shape = dataset.image_format.input_shape
    if config.preset == "default":
        # The learned part trains alone; the gradient histograms join it afterwards, if at
        # all (trained joined, it learned less: docs/decisions.md).
        embedding = learned_network(config.embedding_dim, input_shape)
    else:
        embedding = build_embedding_network(config.preset, config.embedding_dim, input_shape=input_shape)
    schedule = plan_schedule(config, len(train_idx), goal)
    decay = keras.optimizers.schedules.CosineDecay(config.learning_rate, schedule.steps)
    embedding.compile(
        optimizer=keras.optimizers.Adam(decay),
        loss=InBatchContrastiveLoss(config.margin),
        # XLA made these small convolutions slower on CPU and added ~300 MB of peak memory.
        jit_compile=False,
    )
    probe = None
    if config.preset == "default" and goal == NEW_CLASSES and not config.histogram_share:
        probe = plan_probe(dataset.labels, train_idx, schedule.steps, config.seed)
    train_data = training_batches(dataset, train_idx, config, probe)
    chooser = None
    if probe is not None:
        histograms = histogram_network(input_shape)
        # Whitening learned from the classes outside the probe, to try on the probe's.
        outside = train_idx[~np.isin(dataset.labels[train_idx], probe.classes)]
        chooser = ShareProbeCallback(
            probe, dataset.images[probe.images], dataset.labels[probe.images], histograms, embed,
            lambda: _whitening(histograms, dataset, outside),
        )
    val_data = _dataset(validation.images, tf.constant(validation.labels), val_idx, config, False)
    cancelled = should_cancel or (lambda: False)
    stop = should_stop or (lambda: False)
    progress = _ProgressCallback(schedule, on_batch, on_epoch, lambda: stop() or cancelled())
    history = embedding.fit(
        train_data,
        validation_data=val_data,
        epochs=schedule.epochs,
        steps_per_epoch=schedule.steps_per_epoch,
        shuffle=False,  # tf.data already shuffles
        verbose=0,
        callbacks=[*([chooser] if chooser else []), progress, *callbacks],
    )
    if cancelled():
        raise Cancelled("training cancelled")
    described = _histograms_description(config, share, goal)
    share_record = None
    whitening = None
    if chooser is not None and chooser.choice is not None:
        share = chooser.choice.share
        described = describe_share(chooser.choice, probe, dataset.class_names)
        share_record = record_share(chooser.choice, probe, dataset.class_names)
        if chooser.choice.whitened:
            # Learned again from every training class, as the learned part was trained.
            whitening = _whitening(chooser.histogram_network, dataset, train_idx)
    elif probe is not None:
        described += f" (the run ended before step {probe.steps:,}, where the share is chosen on held-out classes)"
    trained = inference_network(embedding, config, share, whitening)
    result = TrainingResult(
        embedding=trained,
        model=build_pair_model(trained),
        config=config,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        data_source=dataset.source,
        schedule=schedule.description,
        histograms=described,
        probe_steps=probe.steps if probe is not None else 0,
        share_choice=share_record,
        goal=goal,
    )
    result.steps_done = progress.steps_done
    result.train_images = len(train_idx)
    result.trained = trained_text(schedule, progress.steps_done, len(train_idx))
    if progress.failed_loss is not None:
        result.status = "failed"
        result.note = (
            f"the loss became {progress.failed_loss} "
            f"(try a smaller learning rate than {config.learning_rate:g})"
        )
        result.message = f"training failed: {result.note}"
    else:
        if progress.stopped:
            result.status = "stopped"
            result.note = "the weights so far are kept"
            result.message = f"stopped by the user; {result.note}"
        else:
            result.message = "completed"
        try:
            # The validation pass of a big dataset takes seconds; closing must not wait for it.
            distances, pairs, partners, described_pairs = _validation_distances(
                trained, validation, dataset, train_idx, config.seed, should_cancel
            )
        except ModelFileError:
            result.status = "failed"
            result.note = "the network produces non-finite distances"
            result.message = f"training failed: {result.note}"
        else:
            result.validation = evaluate_distances(distances, pairs.same)
            result.validation_pairs_description = described_pairs
            if not len(partners):  # pairs among the validation images: measurable again later
                result.validation_record = validation_record(
                    validation, config.seed, pairs, result.validation_pairs_description)
            if result.validation.defined:
                result.threshold = result.validation.best_threshold
                result.at_threshold = metrics_at(distances, pairs.same, result.threshold)
            else:
                remark = ("the validation images hold only one kind of pair, so no threshold "
                          "could be chosen (add images)")
                result.note = f"{result.note}; {remark}" if result.note else remark
                result.message += f"; {remark}"
    result.seconds = time.perf_counter() - start
    return result
