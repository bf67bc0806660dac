"""Pairs of images as index arrays (never copies of the images)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STANDARD_SEED = 0


@dataclass(frozen=True)
class Pairs:
    """Index pairs into one image array.

    Attributes:
        a: int64 indices of the first images.
        b: int64 indices of the second images.
        same: bool, True where both images have the same class.
    """

    a: np.ndarray
    b: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)

    def take(self, indices: np.ndarray) -> "Pairs":
        """Return the pairs at `indices`."""
        return Pairs(self.a[indices], self.b[indices], self.same[indices])


def _class_members(labels: np.ndarray) -> dict[int, np.ndarray]:
    return {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}


def balanced_pairs(
    labels: np.ndarray, anchors: np.ndarray | None = None, seed: int = STANDARD_SEED
) -> Pairs:
    """Give each anchor one same-class and one different-class partner.

    This is the tutorial's protocol (with its missing labels filled in): with every test
    image as an anchor and seed 0 it yields the standard 20,000 Fashion-MNIST test pairs.
    A same-class partner is never the anchor itself; anchors whose class has no other
    member get no same-class pair.

    Args:
        labels: class label of every image.
        anchors: indices to pair up; None uses every image.
        seed: seed of the `numpy.random.Generator` that draws the partners.

    Returns:
        Pairs ordered anchor by anchor: (same, different), (same, different), ...
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    anchors = np.arange(len(labels)) if anchors is None else np.asarray(anchors)
    members = _class_members(labels)
    others = {c: np.flatnonzero(labels != c) for c in members}
    a, b, same = [], [], []
    for i in anchors:
        label = int(labels[i])
        own = members[label]
        if len(own) > 1:
            k = rng.integers(len(own) - 1)
            if k >= np.searchsorted(own, i):  # skip the anchor itself, uniformly
                k += 1
            a.append(i), b.append(own[k]), same.append(True)
        if len(others[label]):
            a.append(i), b.append(others[label][rng.integers(len(others[label]))]), same.append(False)
    return Pairs(np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(same, bool))


def standard_pairs(labels: np.ndarray) -> Pairs:
    """The standard evaluation pairs: one same- and one different-class partner per
    image, seed 0 (20,000 pairs on the Fashion-MNIST test split)."""
    return balanced_pairs(labels, seed=STANDARD_SEED)


def probe_pairs(probe_labels: np.ndarray, gallery_labels: np.ndarray, seed: int) -> Pairs:
    """Pair each probe image with one same-class and one different-class gallery image.

    For held-out images too few to pair among themselves (a class with one held-out
    image has no same-class partner there): each is checked against the images the model
    knows, as a verifier checks a new image against an enrolled one. Indices refer to
    the probes followed by the gallery (`np.concatenate([probes, gallery])`).
    """
    probe_labels, gallery_labels = np.asarray(probe_labels), np.asarray(gallery_labels)
    rng = np.random.default_rng(seed)
    offset = len(probe_labels)
    a, b, same = [], [], []
    for i, label in enumerate(probe_labels):
        for wanted in (True, False):
            partners = np.flatnonzero((gallery_labels == label) == wanted)
            if len(partners):
                a.append(i)
                b.append(offset + int(partners[rng.integers(len(partners))]))
                same.append(wanted)
    return Pairs(np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(same, bool))


def threshold_pairs(validation_labels: np.ndarray, training_labels: np.ndarray, seed: int) -> tuple[Pairs, np.ndarray]:
    """The pairs a threshold is chosen on: the validation images' own balanced pairs where
    they hold both kinds, else each validation image paired with training images
    (`probe_pairs`).

    Returns:
        The pairs, indexing `np.concatenate([validation, training[partners]])`, and
        `partners` (indices into the training images; empty when the validation images
        pair among themselves).
    """
    pairs = balanced_pairs(validation_labels, seed=seed)
    if pairs.same.any() and (~pairs.same).any():
        return pairs, np.zeros(0, np.int64)
    probes = probe_pairs(validation_labels, training_labels, seed)
    offset = len(validation_labels)
    partners, compact = np.unique(probes.b - offset, return_inverse=True)
    return Pairs(probes.a, offset + compact.astype(np.int64), probes.same), partners


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int = STANDARD_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held_out), holding out `fraction` of each class.

    Every class with at least 2 members keeps at least one and holds out at least one
    when `fraction` > 0.
    """
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for members in _class_members(np.asarray(labels)).values():
        members = rng.permutation(members)
        n_held = int(round(len(members) * fraction))
        if fraction > 0 and len(members) >= 2:
            n_held = min(max(n_held, 1), len(members) - 1)
        held.append(members[:n_held])
        kept.append(members[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def random_pairs(labels: np.ndarray, count: int, seed: int) -> Pairs:
    """Draw `count` pairs, half same-class and half different-class, in random order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    anchors = rng.choice(len(labels), size=(count + 1) // 2, replace=len(labels) < (count + 1) // 2)
    pairs = balanced_pairs(labels, anchors, seed=int(rng.integers(2**31)))
    order = rng.permutation(len(pairs))[:count]
    return pairs.take(order)


def random_pair(labels: np.ndarray, same: bool, rng: np.random.Generator) -> tuple[int, int] | None:
    """One random pair of images of the same class (`same`) or of two different classes.

    The first image is drawn uniformly among those that have such a partner, the second
    uniformly among its partners (never the first image itself).

    Returns:
        (index_a, index_b), or None when the labels hold no such pair.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    if same:
        eligible = np.flatnonzero(counts[labels] >= 2)
    else:
        eligible = np.arange(len(labels)) if np.count_nonzero(counts) >= 2 else np.zeros(0, np.int64)
    if not len(eligible):
        return None
    a = int(eligible[rng.integers(len(eligible))])
    partners = np.flatnonzero((labels == labels[a]) if same else (labels != labels[a]))
    partners = partners[partners != a]
    return a, int(partners[rng.integers(len(partners))])


def class_holdout_split(
    labels: np.ndarray,
    held_out=None,
    fraction: float | None = None,
    seed: int = STANDARD_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the classes (not the images) into seen and unseen ones, for open-set tests.

    Give either `held_out` (the classes to hold out) or `fraction` (a seeded random
    share of the classes, rounded, at least one held out and at least two seen). Images
    of an unseen class must never be trained on: select them with
    `np.isin(labels, unseen)`.

    Args:
        labels: class label of every image.
        held_out: class labels to hold out; each must occur in `labels`.
        fraction: share of the classes to hold out, in (0, 1).
        seed: seeds the choice when `fraction` is given.

    Returns:
        (seen, unseen): sorted int64 arrays of class labels.

    Raises:
        ValueError: if neither or both of `held_out` and `fraction` are given, a held-out
            class does not occur, or fewer than 2 classes would be seen or 1 unseen.
    """
    classes = np.unique(np.asarray(labels)).astype(np.int64)
    if (held_out is None) == (fraction is None):
        raise ValueError("give exactly one of held_out and fraction")
    if held_out is not None:
        unseen = np.unique(np.asarray(list(held_out), dtype=np.int64))
        missing = np.setdiff1d(unseen, classes)
        if len(missing):
            raise ValueError(f"held-out classes {missing.tolist()} do not occur in the labels")
    else:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        count = min(max(int(round(len(classes) * fraction)), 1), len(classes) - 2)
        rng = np.random.default_rng(seed)
        unseen = np.sort(rng.choice(classes, size=max(count, 0), replace=False))
    seen = np.setdiff1d(classes, unseen)
    if len(seen) < 2 or len(unseen) < 1:
        raise ValueError(
            f"need at least 2 seen classes and 1 unseen class, got {len(seen)} and {len(unseen)}"
        )
    return seen, unseen
