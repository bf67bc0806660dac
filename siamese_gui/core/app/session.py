"""The headless application model: what the app holds and what it can be asked to do.

A `Session` owns the model handle, the data and its splits, the threshold (with where
it came from), the evaluations, and the one worker that runs model work. The GUI is a
thin layer of signals over it; the CLI and the tests drive it directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from siamese_gui.core.app.scoring import ModelFigures, score_images
from siamese_gui.core.app.tasks import Deliver, Task, TaskExecutor
from siamese_gui.core.data.datasets import DataKind, Dataset, DataSplits
from siamese_gui.core.data.splits import (
    Role,
    ScoredImages,
    Splits,
    fashion_mnist_splits,
    folder_splits,
    recorded_splits,
    scored_from_splits,
    scored_images,
)
from siamese_gui.core.errors import DatasetError, SiameseError
from siamese_gui.core.evaluation.metrics import (
    equal_error_rate,
    max_accuracy_threshold,
    threshold_for_far,
)
from siamese_gui.core.evaluation.protocol import PANEL_IMAGES, Evaluation, evaluate
from siamese_gui.core.evaluation.threshold import (
    Threshold,
    ThresholdOrigin,
    check_threshold,
    fallback_threshold,
)
from siamese_gui.core.io.image_format import ImageFormat, format_of
from siamese_gui.core.runtime.handle import ModelHandle

VALIDATION_FRACTION = 0.1


class Change(enum.Enum):
    """What changed in a session (listeners get one of these)."""

    MODEL = "model"
    DATA = "data"
    EVALUATION = "evaluation"
    THRESHOLD = "threshold"


# Test images in the quick first evaluation that goes before the full one.
PREVIEW_IMAGES = 2_000
# Worker keys of the panels' evaluations: a newer refresh supersedes the older one.
_PREVIEW_KEY, _TEST_KEY, _VALIDATION_KEY = "evaluate test preview", "evaluate test", "evaluate validation"


class ThresholdPreset(enum.Enum):
    """Ways to pick a threshold on the validation pairs."""

    MODEL = "Model's recommended"
    MAX_ACCURACY = "Max accuracy"
    EQUAL_ERROR = "Equal error rate"
    FAR_1 = "FAR ≤ 1 %"


@dataclass(frozen=True)
class DataSource:
    """Loaded data before it is split: Fashion-MNIST's two splits, or one dataset.

    Attributes:
        invert: the polarity the image files were read with (None: decided per image);
            a run set to another polarity reads them again.
    """

    fashion_mnist: DataSplits | None = None
    dataset: Dataset | None = None
    test_dataset: Dataset | None = None
    invert: bool | None = None

    @property
    def kind(self) -> DataKind:
        return self.fashion_mnist.train.kind if self.fashion_mnist is not None else self.dataset.kind

    @property
    def training_pool(self) -> Dataset:
        """The images a run draws its training and validation images from."""
        return self.fashion_mnist.train if self.fashion_mnist is not None else self.dataset


def load_source(
    data: str | None = None,
    image_folder: str | None = None,
    test_folder: str | None = None,
    classes=None,
    per_class: int | None = None,
    invert: bool | None = None,
    download: bool = False,
    seed: int = 0,
    image_format: ImageFormat | None = None,
) -> DataSource:
    """Load the data a user asked for: an image folder, or Fashion-MNIST (else the samples).

    Args:
        data: a Fashion-MNIST folder; None looks in the usual places.
        image_folder: a folder of class sub-folders (instead of Fashion-MNIST).
        test_folder: a separate test folder for `image_folder`.
        classes: keep only these classes (names or indices).
        per_class: keep at most this many images per class (seeded sample).
        invert: polarity for image files (None detects it per image).
        download: download Fashion-MNIST when no copy is found.
        seed: seeds the per-class sample.
        image_format: the size and channels image folders are read at (a model's);
            None chooses them from the folder's files (the test folder follows it).

    Raises:
        DatasetError: on missing or damaged data (never silently replaced).
    """
    from siamese_gui.core.data import datasets

    def narrow(dataset: Dataset) -> Dataset:
        return datasets.restrict(dataset, classes, per_class, seed)

    if image_folder:
        main = datasets.load_image_folder(image_folder, invert=invert, image_format=image_format)
        test = (datasets.load_image_folder(test_folder, invert=invert, image_format=main.image_format)
                if test_folder else None)
        return DataSource(dataset=narrow(main), test_dataset=narrow(test) if test is not None else None,
                          invert=invert)
    if download:
        loaded = datasets.load_fashion_mnist(data, download=True)
    else:
        loaded = datasets.load_default_data(data)
    if isinstance(loaded, Dataset):
        return DataSource(dataset=narrow(loaded))
    return DataSource(fashion_mnist=DataSplits(narrow(loaded.train), narrow(loaded.test)))


def recorded_folders(metadata: dict | None) -> tuple[str, str | None] | None:
    """The image folder (and separate test folder) a model's record says it trained on,
    or None for a model trained on Fashion-MNIST or one that records no folder."""
    record = (metadata or {}).get("split") or {}
    if record.get("kind") != "image_folder" or not record.get("root"):
        return None
    return str(record["root"]), (str(record["test_root"]) if record.get("test_root") else None)


def recorded_folders_to_open(source: DataSource | None, metadata: dict | None) -> tuple[str, str | None] | None:
    """The folder (and test folder) a model records, when the data in use is another:
    what opening the model loads, so it is scored on the data it records by default.
    None for a model that records no folder, or when its folder is the one in use."""
    recorded = recorded_folders(metadata)
    if recorded is None:
        return None
    data = source.dataset if source is not None else None
    if data is not None and data.root:
        try:
            if Path(data.root).expanduser().resolve() == Path(recorded[0]).expanduser().resolve():
                return None
        except OSError:
            pass
    return recorded


def load_model_data(
    models, classes=None, per_class: int | None = None, invert: bool | None = None,
    option: str = "--image-folder DIR",
) -> DataSource | None:
    """The data models are evaluated on by default: the folder they record.

    Args:
        models: the models' metadata dicts.
        classes, per_class, invert: as `load_source`.
        option: how the user names another folder, for the message.

    Returns:
        The recorded folder, loaded; None when no model records one (Fashion-MNIST's
        test split is then the default).

    Raises:
        DatasetError: when the recorded folder is gone (moved or deleted), or the models
            record different folders.
    """
    recorded = [recorded_folders(m) for m in models]
    folders = set(recorded) - {None}
    if not folders:
        return None
    if len(folders) > 1 or None in recorded:
        named = ", ".join(sorted(root for root, _ in folders))
        raise DatasetError(f"these models were trained on different data ({named}); pass the data to "
                           f"score them on with {option}")
    root, test_root = folders.pop()
    for folder in (root, test_root):
        if folder and not Path(folder).is_dir():
            raise DatasetError(f"{folder}: the image folder this model was trained on is missing "
                               f"(moved or deleted); pass its new place with {option}")
    return load_source(image_folder=root, test_folder=test_root, classes=classes, per_class=per_class,
                       invert=invert, image_format=format_of(models[0]))


def images_to_score(source: DataSource, model: ModelHandle | None) -> ScoredImages:
    """The images a model may be scored on, seen and unseen classes apart (the one rule).

    Fashion-MNIST: its test split. The folder the model trained on (by SHA-256, also
    after it grew, shrank or moved): every image its record does not put in training or
    validation, exactly the session's test images. Other data (a new folder, the
    bundled samples): every image, less any the model trained on.
    """
    own = own_splits(source, model)
    if own is not None:
        return scored_from_splits(own, len(own.train) + len(own.validation))
    if source.fashion_mnist is not None:
        return scored_from_splits(splits_for_model(source, model))
    data = source.test_dataset if source.test_dataset is not None else source.dataset
    record = model.metadata.get("split") if model is not None else None
    return scored_images(data, record, model.training_classes if model is not None else ())


def own_splits(source: DataSource, model: ModelHandle | None) -> Splits | None:
    """The splits of the folder `model` trained on, rebuilt from its record, when `source`
    is that folder (it holds some of its training or validation images); else None."""
    if source.fashion_mnist is not None or model is None:
        return None
    return recorded_splits(source.dataset, model.metadata.get("split"), source.test_dataset)


def split_data(
    source: DataSource,
    seed: int = 0,
    unseen: tuple[str, ...] = (),
    validation_fraction: float = VALIDATION_FRACTION,
) -> Splits:
    """The honest splits of a data source (see `core.splits`)."""
    if source.fashion_mnist is not None:
        return fashion_mnist_splits(source.fashion_mnist, validation_fraction, seed, unseen)
    return folder_splits(source.dataset, seed=seed, unseen=unseen, test_data=source.test_dataset)


def splits_for_model(source: DataSource, model: ModelHandle | None) -> Splits:
    """The splits a model was trained with, re-derived from its record where it has one.

    On the folder a model trained on (found by SHA-256, also after it grew) the record
    decides: its training and validation images, and every other image as a test image
    (`core.data.splits.recorded_splits`). Elsewhere a model trained with held-out
    classes is evaluated on them, and the data is split by the model's seed.
    """
    recorded = own_splits(source, model)
    if recorded is not None:
        return recorded
    record = (model.metadata.get("split") if model is not None else None) or {}
    unseen = tuple(c for c in record.get("unseen_classes") or () if _has_class(source, c))
    if unseen and source.fashion_mnist is None and len(source.dataset.class_names) - len(unseen) < 2:
        # Fewer than 2 of the classes it trained on: a folder of new classes, not the one it
        # trained on, split like any folder.
        unseen = ()
    config = (model.metadata.get("config") if model is not None else None) or {}
    seed = int(record.get("seed", config.get("seed", 0)) or 0)
    fraction = float(config.get("validation_fraction", VALIDATION_FRACTION) or VALIDATION_FRACTION)
    if source.fashion_mnist is None:
        fraction = VALIDATION_FRACTION
    return split_data(source, seed, unseen, fraction)


def _has_class(source: DataSource, name: str) -> bool:
    return name in source.training_pool.class_names


def _evaluate(
    model: ModelHandle | None,
    splits: Splits | None,
    role: Role,
    pairs: int | None = None,
    seed: int = 0,
    max_images: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation:
    if model is None:
        raise SiameseError("no model is loaded")
    if splits is None:
        raise SiameseError("no data is loaded")
    if role is Role.TRAIN:
        raise SiameseError("the model is never scored on its training images")
    if len(splits.dataset(role)) == 0:
        raise SiameseError(f"no {role.value} images: {splits.describe(role)}")
    return evaluate(
        model.embed,
        splits.dataset(role),
        splits.describe(role),
        pairs=pairs,
        seed=seed,
        max_images=max_images,
        should_stop=should_stop,
    )


class Session:
    """Model, data, threshold and evaluations of one app window (or one CLI run).

    Args:
        deliver: how worker results reach their callbacks (the GUI posts them to its
            event loop; by default they run on the worker thread).
        on_busy: told what the worker is doing ("" when idle).
    """

    def __init__(self, deliver: Deliver | None = None, on_busy: Callable[[str], None] | None = None):
        # The one thread that uses the model. The panels' evaluations run on it in the
        # background, so a comparison asked for meanwhile runs between two of their
        # batches instead of queueing behind thousands of images (`core.app.tasks`).
        self.executor = TaskExecutor(deliver, on_busy)
        self.model: ModelHandle | None = None
        self.source: DataSource | None = None
        self.splits: Splits | None = None
        self.threshold = fallback_threshold("no model is loaded")
        self._evaluations: dict[Role, Evaluation] = {}
        self._listeners: list[Callable[[Change], None]] = []

    # Listening ------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        """Call `listener(change)` after every change."""
        self._listeners.append(listener)

    def _notify(self, *changes: Change) -> None:
        for change in changes:
            for listener in list(self._listeners):
                listener(change)

    # State ----------------------------------------------------------------------------

    def set_model(self, model: ModelHandle | None, source: DataSource | None = None) -> None:
        """Use `model` everywhere and take over its recommended threshold; with `source`,
        use that data too, in the same change (data read again at the model's image
        format must never meet the previous model)."""
        self.model = model
        if source is not None:
            self.source = source
        self._cancel_evaluations()
        self._evaluations.clear()
        if model is not None:
            self.threshold = model.threshold
        changes = [Change.MODEL, Change.THRESHOLD, Change.EVALUATION]
        if self.source is not None:
            self.splits = splits_for_model(self.source, model)
            changes.insert(1, Change.DATA)
        self._notify(*changes)

    def set_data(self, source: DataSource, splits: Splits | None = None) -> None:
        """Use new data, split for the current model unless `splits` is given."""
        self.source = source
        self.splits = splits or splits_for_model(source, self.model)
        self._cancel_evaluations()
        self._evaluations.clear()
        self._notify(Change.DATA, Change.EVALUATION)

    def set_threshold(
        self, value: float, origin: ThresholdOrigin = ThresholdOrigin.USER, detail: str = ""
    ) -> Threshold:
        """Set the threshold every panel uses.

        Raises:
            SiameseError: if `value` is not finite and non-negative.
        """
        value = check_threshold(value, "threshold")
        threshold = Threshold(value, origin, detail)
        if threshold != self.threshold:
            self.threshold = threshold
            self._notify(Change.THRESHOLD)
        return threshold

    @property
    def data_kind(self) -> DataKind | None:
        return self.source.kind if self.source is not None else None

    # Evaluation -----------------------------------------------------------------------

    def evaluate(
        self,
        role: Role = Role.TEST,
        pairs: int | None = None,
        seed: int = 0,
        max_images: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Evaluation:
        """Score the model on one part of the split, with the one recipe.

        Raises:
            SiameseError: without a model or data, or for the training part (a figure
                measured on training images is not a result).
        """
        return _evaluate(self.model, self.splits, role, pairs, seed, max_images, should_stop)

    def scored_images(self) -> ScoredImages:
        """The images the model may be scored on: the test images, seen and unseen classes
        apart (see `images_to_score`)."""
        if self.splits is None:
            raise SiameseError("no data is loaded")
        return scored_from_splits(self.splits)

    def figures(
        self, threshold: Threshold | None = None, should_stop: Callable[[], bool] | None = None
    ) -> ModelFigures:
        """The model's figures on the test images at `threshold` (the session's when None),
        the same numbers `evaluate` and `report` print for this model and data."""
        if self.model is None:
            raise SiameseError("no model is loaded")
        return score_images(self.model.embed, self.scored_images(), threshold or self.threshold,
                            should_stop=should_stop)

    def evaluation(self, role: Role) -> Evaluation | None:
        """The panels' cached evaluation of `role`, once computed."""
        return self._evaluations.get(role)

    def refresh_evaluations(self, on_error: Callable[[BaseException], None] | None = None) -> Task | None:
        """Compute the test and validation evaluations the panels show, in the worker.

        The test evaluation comes first and is stored (and announced) as soon as it is
        done, so the Gallery and Threshold panels need not wait for the validation pairs;
        on a large test set a seeded sample of `PREVIEW_IMAGES` goes before it (its
        description says so), so those panels show figures within a second or two.
        A newer refresh (a new model or new data) supersedes this one, so results of a
        model that is no longer current are never stored.

        Returns:
            The last task (the validation evaluation), or None without model or data.
        """
        if self.model is None or self.splits is None:
            return None
        model, splits = self.model, self.splits
        if len(splits.test) and splits.test.image_format != model.image_format:
            # Data that cannot be read again at this model's format (Fashion-MNIST, the
            # samples, arrays): one message, not one failure per panel.
            if on_error is not None:
                on_error(SiameseError(
                    f"{model.name} sees {model.image_format.describe()} images; {splits.test.source} "
                    f"holds {splits.test.image_format.describe()} images, so it is not scored on them "
                    "(open an image folder to score it)"))
            return None

        def work(role: Role, images: int):
            return lambda should_stop: _evaluate(model, splits, role, max_images=images,
                                                 should_stop=should_stop)

        def done(role: Role):
            def store(evaluation: Evaluation) -> None:
                self._evaluations[role] = evaluation
                self._notify(Change.EVALUATION)

            return store

        steps = [(key, role, PANEL_IMAGES, role.value) for key, role in
                 ((_TEST_KEY, Role.TEST), (_VALIDATION_KEY, Role.VALIDATION)) if len(splits.dataset(role))]
        if len(splits.test) >= 2 * PREVIEW_IMAGES:
            steps.insert(0, (_PREVIEW_KEY, Role.TEST, PREVIEW_IMAGES, f"a first {PREVIEW_IMAGES:,} test"))
        task = None
        for key, role, images, words in steps:
            task = self.executor.submit(work(role, images), key, done(role), on_error,
                                        f"Evaluating on held-out {words} images…", background=True)
        return task

    def _cancel_evaluations(self) -> None:
        for key in (_PREVIEW_KEY, _TEST_KEY, _VALIDATION_KEY):
            self.executor.cancel(key)

    def preset_threshold(self, preset: ThresholdPreset) -> Threshold:
        """A threshold chosen by `preset` on the validation pairs (never the test pairs).

        Raises:
            SiameseError: if the validation evaluation is missing or has one kind of pair.
        """
        if preset is ThresholdPreset.MODEL:
            if self.model is None:
                raise SiameseError("no model is loaded")
            return self.model.threshold
        validation = self.evaluation(Role.VALIDATION)
        if validation is None:
            raise SiameseError("the validation pairs are not evaluated yet")
        if not validation.report.defined:
            raise SiameseError("the validation pairs hold only one kind of pair; no threshold can be chosen")
        d, same = validation.distances, validation.pairs.same
        if preset is ThresholdPreset.MAX_ACCURACY:
            value = max_accuracy_threshold(d, same)[1]
        elif preset is ThresholdPreset.EQUAL_ERROR:
            value = equal_error_rate(d, same)[1]
        else:
            value = threshold_for_far(d, same, 0.01)
        detail = f"{preset.value} on {len(validation.pairs):,} validation pairs ({validation.description})"
        return Threshold(max(float(value), 0.0), ThresholdOrigin.PRESET, detail)

    def apply_preset(self, preset: ThresholdPreset) -> Threshold:
        """Choose a threshold by `preset` and use it."""
        chosen = self.preset_threshold(preset)
        return self.set_threshold(chosen.value, chosen.origin, chosen.detail)

    # Work -----------------------------------------------------------------------------

    def submit(self, function, key: str = "task", on_done=None, on_error=None, description: str = "") -> Task:
        """Run `function(should_stop)` on the worker (see `TaskExecutor.submit`)."""
        return self.executor.submit(function, key, on_done, on_error, description)

    def cancel(self, key: str) -> None:
        """Cancel the unfinished task with `key`, if any."""
        self.executor.cancel(key)

    def busy(self) -> bool:
        """Whether any task waits or runs."""
        return self.executor.busy()

    @property
    def threads(self) -> tuple:
        """The worker thread (the one thread that uses the model), as a tuple."""
        return (self.executor.thread,)

    def close(self, timeout: float | None = None) -> None:
        """Cancel the work in progress and wait for the worker to end."""
        self.executor.shutdown(timeout)
