"""A training run as the app and `siamese-gui train` both start it: the data read with
the run's polarity and narrowed by its sample, split (classes held out where asked),
trained, and the metadata to save with the model.

`prepare_training` does the data part (no TensorFlow), so a front end can show the split
before the network is built; `run_training` trains on what it prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from siamese_gui.core.app.scoring import compare_with_baseline, score_images
from siamese_gui.core.app.session import DataSource, split_data
from siamese_gui.core.data.datasets import (
    COLOUR_SIDE,
    DataKind,
    Dataset,
    DataSplits,
    choose_image_format,
    load_image_folder,
)
from siamese_gui.core.data.sampling import TrainingSample
from siamese_gui.core.data.splits import Splits, scored_from_splits
from siamese_gui.core.errors import ConfigError
from siamese_gui.core.io.image_format import GREY_28, ImageFormat
from siamese_gui.core.model.config import TrainingConfig
from siamese_gui.core.runtime.handle import ModelHandle
from siamese_gui.core.text import format_duration


def run_format(config: TrainingConfig, data: Dataset) -> ImageFormat:
    """The image format a run trains at: the one the data were read with (chosen from
    the files, `datasets.choose_image_format`) unless the settings fix the colour or size.

    Raises:
        ConfigError: if the settings ask for another format than data that cannot be
            read again (Fashion-MNIST, the samples: 28 x 28 grey).
    """
    current = data.image_format
    folder = data.kind is DataKind.IMAGE_FOLDER and bool(data.root)
    natural = data.natural_format or (natural_format(data) if folder else current)
    if config.colour == "auto" and not config.image_size:
        return natural
    colour = {"on": True, "off": False}.get(config.colour, natural.colour)
    side = config.image_size or (COLOUR_SIDE if colour else GREY_28.height)
    wanted = ImageFormat(side, side, 3 if colour else 1)
    if wanted != current and not folder:
        raise ConfigError(
            f"{data.source}: its images are {current.describe()}; the image size and colour "
            "settings apply to image folders"
        )
    return wanted


def natural_format(data: Dataset) -> ImageFormat:
    """The format an image folder's files call for (`datasets.choose_image_format`),
    whatever format `data` was read at."""
    if data.natural_format is not None:
        return data.natural_format
    return choose_image_format([Path(data.root) / name for name in data.files])


def read_with_polarity(
    source: DataSource, invert: bool | None, image_format: ImageFormat | None = None
) -> DataSource:
    """`source` with its image folders read again when they were read with another
    polarity than `invert`, or at another format than `image_format` (None: any), since
    how the files are read decides what the network sees.

    Fashion-MNIST and the bundled samples are stored light-on-dark already and are
    never read again.

    Raises:
        DatasetError: if a folder can no longer be read.
    """
    data = source.dataset
    if data is None or data.kind is not DataKind.IMAGE_FOLDER or not data.root:
        return source
    if source.invert == invert and image_format in (None, data.image_format):
        return source
    fmt = image_format or data.image_format
    test = source.test_dataset
    return DataSource(
        dataset=load_image_folder(data.root, invert=invert, image_format=fmt),
        test_dataset=(load_image_folder(test.root, invert=invert, image_format=fmt)
                      if test is not None and test.root else test),
        invert=invert,
    )


def read_differently(source: DataSource | None, model: ModelHandle | None) -> bool:
    """Whether `read_for_model` would read `source` again for `model`."""
    data = source.dataset if source is not None else None
    return (model is not None and data is not None and data.kind is DataKind.IMAGE_FOLDER
            and bool(data.root) and data.image_format != model.image_format)


def read_for_model(source: DataSource | None, model: ModelHandle | None) -> DataSource | None:
    """`source` read again at `model`'s image format where it is an image folder read at
    another (the model must see the images as it was trained to); else `source` itself.

    Raises:
        DatasetError: if a folder can no longer be read.
    """
    if source is None or model is None:
        return source
    return read_with_polarity(source, source.invert, model.image_format)


def training_source(source: DataSource, sample: TrainingSample, seed: int) -> DataSource:
    """The data a run trains on: the training pool narrowed by `sample` (seeded with the
    run's seed), a separate test set narrowed to the same classes.

    Raises:
        DatasetError: on an unknown class, or fewer than 2 classes left.
    """
    if sample.keeps_everything:
        return source
    if source.fashion_mnist is not None:
        pool = source.fashion_mnist
        return DataSource(fashion_mnist=DataSplits(sample.pool(pool.train, seed), sample.test(pool.test)),
                          invert=source.invert)
    test = source.test_dataset
    return DataSource(dataset=sample.pool(source.dataset, seed),
                      test_dataset=sample.test(test) if test is not None else None, invert=source.invert)


@dataclass(frozen=True)
class TrainingData:
    """The data of one run, ready to train on.

    Attributes:
        source: the data as read and narrowed for the run.
        splits: its train, validation and test images.
    """

    source: DataSource
    splits: Splits

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes of the training data (held-out ones among them, never trained on)."""
        return self.splits.train.class_names

    @property
    def unseen(self) -> tuple[str, ...]:
        return self.splits.unseen_classes


def prepare_training(
    source: DataSource,
    config: TrainingConfig,
    sample: TrainingSample | None = None,
    unseen: tuple[str, ...] = (),
) -> TrainingData:
    """Read, narrow and split the data of a run.

    Args:
        source: the data as loaded.
        config: the run's settings (its polarity, seed and validation share).
        sample: how to narrow the data (None: all of it).
        unseen: classes held out of training entirely (see
            `core.data.splits.choose_held_out_classes` and `held_out_from_text`).

    Raises:
        DatasetError, ConfigError: on data or a class choice the run cannot use.
    """
    source = read_with_polarity(source, config.invert, run_format(config, source.training_pool))
    source = training_source(source, sample or TrainingSample(), config.seed)
    return TrainingData(source, split_data(source, config.seed, unseen, config.validation_fraction))


@dataclass
class TrainingRun:
    """What a run leaves.

    Attributes:
        result: the core's `TrainingResult` (status, figures on the validation pairs).
        data: the data it trained on and its splits.
        metadata: the fields to save with the model (None when the run failed); a front
            end may add to them (the CLI adds its test figures) before saving.
        handle: the trained model, usable before it is saved (None when the run failed).
        figures: its figures on the run's test images at its threshold, seen and unseen
            classes apart (`core.app.scoring`, as `evaluate` prints them); None when the
            run failed. They are in `metadata["metrics"]` too.
        baseline: the model against the best training-free baseline on the same test
            pairs (`core.app.scoring.compare_with_baseline`), or None.
    """

    result: Any
    data: TrainingData
    metadata: dict | None = None
    handle: ModelHandle | None = field(default=None)
    figures: Any = None
    baseline: Any = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.class_names


def run_training(
    config: TrainingConfig,
    data: TrainingData,
    on_batch: Callable | None = None,
    on_epoch: Callable | None = None,
    should_stop: Callable[[], bool] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainingRun:
    """Train on prepared data; a usable result (completed, or stopped with its weights
    so far) comes with the metadata to save and a handle to use it.

    Args:
        config: the settings.
        data: from `prepare_training`.
        on_batch, on_epoch, should_stop, should_cancel: as `core.training.train.train`.

    Raises:
        ConfigError: if the data is too small for the settings.
        Cancelled: if `should_cancel` turned true.
    """
    # Imported here: the module is importable (and its data part usable) without TensorFlow.
    from siamese_gui.core.runtime.handle import handle_from_training
    from siamese_gui.core.runtime.store import result_metadata
    from siamese_gui.core.training import train as training

    splits = data.splits
    result = training.train(
        config,
        splits.train,
        on_batch=on_batch,
        on_epoch=on_epoch,
        should_stop=should_stop,
        validation=splits.validation,
        should_cancel=should_cancel,
        open_set=splits.open_set,
    )
    if not result.usable:
        return TrainingRun(result, data)
    metadata = result_metadata(result, data.class_names, splits.metadata())
    handle = handle_from_training(result, metadata)
    figures = score_images(handle.embed, scored_from_splits(splits), handle.threshold, should_stop=should_cancel)
    metadata["metrics"].update(figures.as_dict())
    return TrainingRun(result, data, metadata, handle, figures, compare_with_baseline(figures))


# Which test images a run's headline figure is read on, in plain words.
_TESTED_ON = {"unseen": "classes it never saw", "seen": "new images of the classes it trained on",
              "unknown": "images it did not train on"}


def _judged(rate, pairs: int, kind: str, words: str) -> str:
    if rate.value is None:
        return f"too few {kind} ({pairs:,}, {words}) to say how often it is right."
    return f"it judges {100 * rate.value:.1f} % of {pairs:,} {kind} right ({words})."


def run_lead(run: TrainingRun) -> str:
    """A run's result in one short plain sentence, ahead of its detail.

    "Trained in 14 s on 5,400 images; it judges 91.3 % of 2,000 test pairs right (classes
    it never saw)." The headline figure is the one `ModelFigures.main` gives
    (unseen classes first), read at the run's own threshold; without test figures, the
    held-out validation pairs' accuracy is given, saying so.
    """
    result = run.result
    images = f" on {result.train_images:,} images" if result.train_images else ""
    took = format_duration(result.seconds)
    if result.status == "failed":
        why = f": {result.note}" if result.note else ""
        return f"Training failed after {took}{why}."
    head = (f"Stopped by you after {took} of training{images} (the weights so far are kept)"
            if result.status == "stopped" else f"Trained in {took}{images}")
    figures = run.figures
    if figures is not None:
        part = figures.main
        rate = part.evaluation.at(figures.threshold.value).accuracy_rate
        words = _TESTED_ON.get(part.classes, _TESTED_ON["unknown"])
        return f"{head}; {_judged(rate, len(part.evaluation.pairs), 'test pairs', words)}"
    validation = result.validation
    if result.at_threshold is not None and validation is not None:
        rate = result.at_threshold.accuracy_rate
        return f"{head}; {_judged(rate, validation.pairs, 'held-out pairs', 'those its threshold was chosen on')}"
    if validation is not None and not validation.defined:
        return f"{head}; no threshold could be chosen: the held-out images hold only one kind of pair."
    return f"{head}."
