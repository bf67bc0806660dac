"""Honest data splits: what a model trains on, picks its threshold on, and is tested on.

- Fashion-MNIST: validation is a stratified share of the training split; test is the
  test split.
- An image folder: a seeded, stratified train/validation/test split of its files
  (70/15/15 by default), or a separate test folder.
- Held-out classes (the open-set protocol): whole classes never touch training; they
  are the test data, and the closed-set test keeps the seen classes.

A split is recorded with the model (`Splits.metadata`): for folders, which files went
where (relative path and SHA-256), so a later evaluation can leave the training
images out. The record keeps them per role as two lists, `{"paths": [...], "sha256":
[...]}`, read through `recorded_files` (a model file stores them in its own member,
see `core.runtime.data_record`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from siamese_gui.core.data.datasets import DataKind, Dataset, DataSplits, class_index
from siamese_gui.core.data.pairs import stratified_split
from siamese_gui.core.errors import ConfigError

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


class Role(enum.Enum):
    """The part a set of images plays."""

    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


@dataclass(frozen=True)
class Splits:
    """Train, validation and test images of one data source.

    Attributes:
        kind: the kind of data.
        train: images the model learns from.
        validation: held-out images of the training classes; thresholds are chosen here.
        test: images the model never saw, for the figures people read.
        seed: the seed of the split.
        unseen_classes: names of classes held out of training entirely (open set); the
            test set then holds only these, and `closed_test` the seen classes' test
            images.
        closed_test: with held-out classes, test images of the seen classes.
        validation_classes: classes kept out of training to validate on, whole (see
            `folder_splits`: a folder whose classes are too small to lend each a few
            validation images); empty when validation holds images of the training classes.
    """

    kind: DataKind
    train: Dataset
    validation: Dataset
    test: Dataset
    seed: int = 0
    unseen_classes: tuple[str, ...] = ()
    closed_test: Dataset | None = None
    validation_classes: tuple[str, ...] = ()

    @property
    def open_set(self) -> bool:
        return bool(self.unseen_classes)

    def dataset(self, role: Role) -> Dataset:
        return {Role.TRAIN: self.train, Role.VALIDATION: self.validation, Role.TEST: self.test}[role]

    def describe(self, role: Role) -> str:
        """Which images a role holds, in words ("validation: 6,000 held-out images of ...")."""
        data = self.dataset(role)
        what = {
            Role.TRAIN: "training images",
            Role.VALIDATION: "held-out validation images",
            Role.TEST: "test images the model did not train on",
        }[role]
        classes = " of unseen classes" if role is Role.TEST and self.open_set else ""
        if role is Role.VALIDATION and self.validation_classes:
            classes = f" of {len(self.validation_classes)} classes kept out of training"
        return f"{len(data):,} {what}{classes} ({data.source})"

    def metadata(self) -> dict:
        """What a saved model records about its data split."""
        record = {
            "kind": self.kind.name.lower(),
            "seed": self.seed,
            "counts": {r.value: len(self.dataset(r)) for r in Role},
            "seen_classes": [c for c in self.train.class_names
                             if c not in self.unseen_classes and c not in self.validation_classes],
            "unseen_classes": list(self.unseen_classes),
            "validation_classes": list(self.validation_classes),
        }
        if self.train.files:
            record["root"] = self.train.root
            if self.test.root and self.test.root != self.train.root:
                record["test_root"] = self.test.root  # a separate test folder
            record["files"] = {
                r.value: {"paths": list(self.dataset(r).files), "sha256": list(self.dataset(r).hashes)}
                for r in Role
            }
        return record


def _subset(data: Dataset, indices: np.ndarray, role: Role) -> Dataset:
    return data.subset(np.sort(indices), f"{data.source}, {role.value}")


def _class_indices(names: tuple[str, ...], wanted, what: str) -> list[int]:
    indices = []
    for name in wanted:
        index = class_index(names, name)
        if index is None:
            raise ConfigError(f"{what}: unknown class {str(name)!r} (classes: {', '.join(names)})")
        indices.append(index)
    return sorted(set(indices))


def choose_held_out_classes(
    class_names: tuple[str, ...], held_out=None, fraction: float | None = None, seed: int = 0
) -> tuple[str, ...]:
    """Pick the classes kept out of training.

    Args:
        class_names: every class of the data.
        held_out: class names or indices to hold out, or None.
        fraction: share of classes to hold out at random (seeded), if `held_out` is None.
        seed: seeds the random choice.

    Raises:
        ConfigError: on an unknown class, or when fewer than 2 classes would be left on
            either side.
    """
    if held_out is not None:
        picked = _class_indices(class_names, held_out, "held-out classes")
    elif fraction is not None:
        if not 0 < fraction < 1:
            raise ConfigError(f"held-out class fraction must be in (0, 1), got {fraction}")
        count = int(round(len(class_names) * fraction))
        rng = np.random.default_rng(seed)
        picked = sorted(int(i) for i in rng.choice(len(class_names), count, replace=False))
    else:
        return ()
    if len(picked) < 2 or len(class_names) - len(picked) < 2:
        raise ConfigError(
            f"holding out {len(picked)} of {len(class_names)} classes leaves fewer than 2 on one "
            "side; both training and testing need at least 2 classes"
        )
    return tuple(class_names[i] for i in picked)


def held_out_from_text(class_names: tuple[str, ...], text: str, seed: int = 0) -> tuple[str, ...]:
    """The classes a typed entry holds out: class names or numbers separated by commas,
    or one share of the classes, picked at random (seeded), as "0.3" or "30%".

    Raises:
        ConfigError: as `choose_held_out_classes`.
    """
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        return ()
    fraction = _fraction(entries[0]) if len(entries) == 1 else None
    if fraction is not None and class_index(class_names, entries[0]) is None:
        return choose_held_out_classes(class_names, None, fraction, seed)
    return choose_held_out_classes(class_names, entries, None, seed)


def _fraction(entry: str) -> float | None:
    """0.3 for "0.3" or "30%"; None for anything else (a class number such as "3")."""
    percent = entry.endswith("%")
    number = entry[:-1].strip() if percent else entry
    if not percent and "." not in number:
        return None
    try:
        value = float(number)
    except ValueError:
        return None
    return value / 100 if percent else value


def seen_mask(data: Dataset, unseen: tuple[str, ...]) -> np.ndarray:
    """True for the images of `data` whose class is not among the `unseen` class names."""
    unseen_ids = [data.class_names.index(c) for c in unseen]
    return ~np.isin(data.labels, unseen_ids)


def fashion_mnist_splits(
    data: DataSplits, validation_fraction: float = 0.1, seed: int = 0, unseen: tuple[str, ...] = ()
) -> Splits:
    """Fashion-MNIST's splits: validation from the training split, test = the test split."""
    seen_train = np.flatnonzero(seen_mask(data.train, unseen))
    keep, held = stratified_split(data.train.labels[seen_train], validation_fraction, seed)
    test_seen = seen_mask(data.test, unseen)
    test = data.test
    closed = None
    if unseen:
        test = _subset(data.test, np.flatnonzero(~test_seen), Role.TEST)
        closed = _subset(data.test, np.flatnonzero(test_seen), Role.TEST)
    return Splits(
        data.train.kind,
        _subset(data.train, seen_train[keep], Role.TRAIN),
        _subset(data.train, seen_train[held], Role.VALIDATION),
        test,
        seed,
        unseen,
        closed,
    )


# A class lends a stratified share of its images to validation and test; below this many
# validation images in a typical class, that share holds hardly any same-class pair.
MIN_PAIRED = 2
# Images a class needs to lend MIN_PAIRED to a held-out part and keep MIN_PAIRED to train on.
PAIRED_CLASS = 2 * MIN_PAIRED


def small_classes(counts: np.ndarray, share: float) -> bool:
    """Whether a typical class is too small for a stratified `share` to give it
    `MIN_PAIRED` held-out images (so held-out pairs would be nearly all different-class)."""
    return float(np.median(counts)) * share < MIN_PAIRED


def _paired_split(
    labels: np.ndarray, share: float, seed: int, spare_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`stratified_split`, except that every class of at least `PAIRED_CLASS` images
    holds out at least `MIN_PAIRED` (a same-class pair) and keeps as many; with
    `spare_only`, smaller classes hold out nothing."""
    kept, held = stratified_split(labels, share, seed)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < PAIRED_CLASS:
            if spare_only:
                kept, held = np.union1d(kept, members), np.setdiff1d(held, members)
        elif np.isin(members, held).sum() < MIN_PAIRED:
            chosen = rng.permutation(members)[:MIN_PAIRED]
            held = np.union1d(held, chosen)
            kept = np.setdiff1d(kept, chosen)
    return kept, held


def _pick_classes(labels: np.ndarray, share: float, seed: int, keep_at_least: int) -> np.ndarray:
    """A seeded `share` of the classes present in `labels` (at least 2), leaving at least
    `keep_at_least`; empty when there are not enough classes for that."""
    present = np.unique(labels)
    count = max(2, int(round(len(present) * share)))
    if len(present) - count < keep_at_least:
        return np.array([], dtype=present.dtype)
    return np.sort(np.random.default_rng(seed).choice(present, count, replace=False))


def folder_splits(
    data: Dataset,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    unseen: tuple[str, ...] = (),
    test_data: Dataset | None = None,
) -> Splits:
    """A seeded train/validation/test split of one folder's images.

    Classes of many images are split stratified (each class lends `fractions` of its
    images). Where a typical class is too small for that to hold same-class pairs
    (`small_classes`: with 4 images a class, 15 % is one image), whole classes are held
    out instead, so validation and test pairs come in both kinds: with at least 4
    classes to train on, validation takes whole classes kept out of training; with at
    least 6 and no held-out classes asked for, so does test (its classes are then new to
    the model, as the split says). Fewer classes keep the stratified split, validation
    holding a same-class pair of every class that can spare one (`_paired_split`).

    Args:
        data: the folder's images.
        fractions: shares of train, validation and test (they must sum to 1).
        seed: seeds the split.
        unseen: classes held out of training; their images all become test images.
        test_data: a separate test folder; `data` then splits into train and
            validation only.

    Raises:
        ConfigError: on bad fractions, or when a part would have no images.
    """
    train_share, val_share, test_share = fractions
    if min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or train_share <= 0 or val_share <= 0:
        raise ConfigError(f"split fractions must be positive and sum to 1, got {fractions}")
    seen = np.flatnonzero(seen_mask(data, unseen))
    if len(np.unique(data.labels[seen])) < 2:
        raise ConfigError(f"{data.source}: holding out {', '.join(unseen)} leaves fewer than 2 "
                          "classes to train and validate on")
    small = small_classes(np.bincount(data.labels[seen])[np.unique(data.labels[seen])], val_share)
    if small and not unseen and test_data is None and test_share > 0:
        # Test classes first: they need 2 for validation and 2 to train on left over.
        test_labels = _pick_classes(data.labels[seen], test_share, seed + 2, keep_at_least=4)
        if len(test_labels):
            unseen = tuple(data.class_names[i] for i in test_labels)
            seen = np.flatnonzero(seen_mask(data, unseen))
    closed = None
    if test_data is not None:
        rest, test_idx = seen, None
        test = test_data
    elif test_share > 0:
        if small and unseen:  # with test classes, the seen classes' own test images are a bonus
            rest_local, test_local = _paired_split(data.labels[seen], test_share, seed, spare_only=True)
        else:  # a few small classes: training keeps its images first, test takes one a class
            rest_local, test_local = stratified_split(data.labels[seen], test_share, seed)
        rest, test_idx = seen[rest_local], seen[test_local]
        test = None
    else:
        raise ConfigError("a folder split needs a test share or a separate test folder")
    validation_classes: tuple[str, ...] = ()
    val_labels = _pick_classes(data.labels[rest], val_share / (train_share + val_share), seed + 1,
                               keep_at_least=2) if small else np.array([], dtype=np.int64)
    if len(val_labels):
        held_mask = np.isin(data.labels[rest], val_labels)
        keep, held = np.flatnonzero(~held_mask), np.flatnonzero(held_mask)
        validation_classes = tuple(data.class_names[i] for i in val_labels)
    else:
        split = _paired_split if small else stratified_split
        keep, held = split(data.labels[rest], val_share / (train_share + val_share), seed + 1)
    if unseen:
        unseen_idx = np.flatnonzero(~seen_mask(data, unseen))
        if test_idx is not None and len(test_idx):
            closed = _subset(data, test_idx, Role.TEST)
        test = _subset(data, unseen_idx, Role.TEST)
    elif test is None:
        test = _subset(data, test_idx, Role.TEST)
    splits = Splits(
        DataKind.IMAGE_FOLDER if data.kind is DataKind.SYNTHETIC else data.kind,
        _subset(data, rest[keep], Role.TRAIN),
        _subset(data, rest[held], Role.VALIDATION),
        test,
        seed,
        unseen,
        closed,
        validation_classes,
    )
    for role in Role:
        if len(splits.dataset(role)) == 0:
            raise ConfigError(f"{data.source}: too few images for a {role.value} part")
    return splits


@dataclass(frozen=True)
class HeldOut:
    """The images of a dataset that a model did not train on.

    Attributes:
        data: those images.
        overlap: how many images of the dataset the model trained on or chose its
            threshold on (left out).
        known: whether the model records its training files at all (models trained on
            Fashion-MNIST or saved before splits were recorded do not).
    """

    data: Dataset
    overlap: int
    known: bool


def test_classes_in_words(splits: Splits, training_classes: tuple[str, ...]) -> str:
    """Whether the test images of `splits` are of classes a model trained on, in words.

    Args:
        training_classes: the classes the model trained on (`ModelHandle.training_classes`);
            empty when it does not record them.
    """
    if splits.open_set:
        return "unseen classes"
    present = {splits.test.class_names[i] for i in np.unique(splits.test.labels)}
    if not training_classes:
        return "classes it may have trained on; it does not record which"
    new = present - set(training_classes)
    if not new:
        return "the classes it trained on"
    if new == present:
        return "classes it never trained on"
    return f"{len(new)} of {len(present)} classes it never trained on"


def recorded_files(split_record: dict | None, role: Role) -> tuple[list[str], list[str]]:
    """The relative paths and the SHA-256 (hex) of the images a model's split record puts
    in `role`; both empty for data without files (Fashion-MNIST) or a record without them.

    Models saved before this form listed `[path, sha256]` pairs; loading converts them
    (`core.runtime.data_record`), so a record in memory always has this one.
    """
    files = (split_record or {}).get("files") or {}
    entry = files.get(role.value) or {}
    return list(entry.get("paths") or []), list(entry.get("sha256") or [])


def recorded_hashes(split_record: dict | None, role: Role) -> list[str]:
    """The SHA-256 of each image a model's split record puts in `role` (none for data
    without files, such as Fashion-MNIST)."""
    return recorded_files(split_record, role)[1]


def held_out_images(data: Dataset, split_record: dict | None) -> HeldOut:
    """Leave out of `data` every image the model trained on or chose its threshold on.

    Images are matched by SHA-256, so a copied or renamed training file is still found.
    """
    trained = {h for role in (Role.TRAIN, Role.VALIDATION) for h in recorded_hashes(split_record, role)}
    if not trained or not data.hashes:
        return HeldOut(data, 0, bool(trained))
    keep = np.array([h not in trained for h in data.hashes], dtype=bool)
    overlap = int((~keep).sum())
    if overlap == 0:
        return HeldOut(data, 0, True)
    return HeldOut(data.subset(np.flatnonzero(keep), f"{data.source}, images not trained on"), overlap, True)


def recorded_splits(data: Dataset, split_record: dict | None, test_data: Dataset | None = None) -> Splits | None:
    """The splits of a folder a model trained on, rebuilt from its record by SHA-256.

    Training and validation are the images the record puts there; every other image
    (new ones too, in a folder that grew since training) is a test image, of the
    classes it trained on (`closed_test` when it has unseen ones) or of classes it never
    trained on (`test`, with `unseen_classes`). So no test image is one the model
    trained on or chose its threshold on.

    Args:
        data: the folder's images.
        split_record: the model's record (`Splits.metadata`).
        test_data: a separate test folder; its images not trained on are the test images.

    Returns:
        None when `data` holds none of the record's training or validation images
        (another folder, or a model that records no files): split it as any folder.
    """
    trained = set(recorded_hashes(split_record, Role.TRAIN))
    validated = set(recorded_hashes(split_record, Role.VALIDATION)) - trained
    if not data.hashes or not (trained | validated) & set(data.hashes):
        return None
    roles = np.array([Role.TRAIN if h in trained else Role.VALIDATION if h in validated else Role.TEST
                      for h in data.hashes])
    pool = data.subset(np.flatnonzero(roles == Role.TEST)) if test_data is None \
        else held_out_images(test_data, split_record).data
    record = split_record or {}
    seen_names = set(record.get("seen_classes") or ()) or (
        set(data.class_names) - set(record.get("unseen_classes") or ()))
    present = [pool.class_names[i] for i in np.unique(pool.labels)]
    unseen = tuple(c for c in pool.class_names if c in present and c not in seen_names)
    seen_test = seen_mask(pool, unseen)
    test, closed = _subset(pool, np.flatnonzero(seen_test), Role.TEST), None
    if unseen:
        test = _subset(pool, np.flatnonzero(~seen_test), Role.TEST)
        closed = _subset(pool, np.flatnonzero(seen_test), Role.TEST) if seen_test.any() else None
    return Splits(
        DataKind.IMAGE_FOLDER if data.kind is DataKind.SYNTHETIC else data.kind,
        _subset(data, np.flatnonzero(roles == Role.TRAIN), Role.TRAIN),
        _subset(data, np.flatnonzero(roles == Role.VALIDATION), Role.VALIDATION),
        test,
        int(record.get("seed", 0) or 0),
        unseen,
        closed,
    )


@dataclass(frozen=True)
class ScoredImages:
    """The images a model may be scored on, the classes it trained on and the others apart.

    Attributes:
        seen: test images of classes the model trained on (None if there are none).
        unseen: test images of classes it never trained on (None if there are none).
        left_out: images of the data left out because the model trained on them or
            chose its threshold on them.
        known: whether the model records which files it trained on.
        classes_known: whether it records which classes it trained on (if not, every
            image counts as `seen`).
    """

    seen: Dataset | None
    unseen: Dataset | None
    left_out: int = 0
    known: bool = True
    classes_known: bool = True

    def parts(self) -> list[tuple[str, Dataset]]:
        """("unseen", images) and ("seen", images), unseen first, each only if present."""
        return [(k, d) for k, d in (("unseen", self.unseen), ("seen", self.seen)) if d is not None and len(d)]


def scored_from_splits(splits: Splits, left_out: int = 0, known: bool = True) -> ScoredImages:
    """The test images of `splits`, seen and unseen classes apart."""
    if splits.open_set:
        return ScoredImages(splits.closed_test, splits.test, left_out, known)
    return ScoredImages(splits.test, None, left_out, known)


def scored_images(data: Dataset, split_record: dict | None, training_classes: tuple[str, ...]) -> ScoredImages:
    """Every image of `data` a model may be scored on: all but the ones its record puts in
    training or validation (by SHA-256), the classes it trained on and the others apart.

    Args:
        data: held-out images (a test split, or a folder the model did not train on).
        split_record: the model's record (`Splits.metadata`), or None.
        training_classes: the classes the model trained on; empty when unknown.
    """
    held = held_out_images(data, split_record)
    pool = held.data
    unseen = tuple(c for c in pool.class_names if training_classes and c not in training_classes)
    seen = seen_mask(pool, unseen)

    def part(mask: np.ndarray, words: str) -> Dataset | None:
        if not mask.any():
            return None
        return pool if mask.all() else pool.subset(np.flatnonzero(mask), f"{pool.source}, {words}")

    return ScoredImages(part(seen, "classes it trained on"), part(~seen, "classes it never trained on"),
                        held.overlap, held.known, bool(training_classes))
