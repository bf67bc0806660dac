"""A training run as the app and `siamese-gui train` both start it: the data read with
the run's polarity and narrowed by its sample, split (classes held out where asked),
trained, and the metadata to save with the model.

`prepare_training` does the data part (no TensorFlow), so a front end can show the split
before the network is built; `run_training` trains on what it prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from siamese_gui.core.app.scoring import compare_with_baseline, score_images
from siamese_gui.core.app.session import DataSource, split_data
from siamese_gui.core.data.datasets import DataKind, DataSplits, load_image_folder
from siamese_gui.core.data.sampling import TrainingSample
from siamese_gui.core.data.splits import Splits, scored_from_splits
from siamese_gui.core.model.config import TrainingConfig
from siamese_gui.core.runtime.handle import ModelHandle


def read_with_polarity(source: DataSource, invert: bool | None) -> DataSource:
    """`source` with its image folders read again when they were read with another
    polarity than `invert` (how the files are read decides what the network sees).

    Fashion-MNIST and the bundled samples are stored light-on-dark already and are
    never read again.

    Raises:
        DatasetError: if a folder can no longer be read.
    """
    data = source.dataset
    if data is None or data.kind is not DataKind.IMAGE_FOLDER or not data.root or source.invert == invert:
        return source
    test = source.test_dataset
    return DataSource(
        dataset=load_image_folder(data.root, invert=invert),
        test_dataset=load_image_folder(test.root, invert=invert) if test is not None and test.root else test,
        invert=invert,
    )


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
    source = read_with_polarity(source, config.invert)
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
