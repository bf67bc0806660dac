"""Choose the gradient histograms' share of the distance, and whether to whiten them,
on classes held out of training.

What the learned part is worth on classes it never saw cannot be read from images of the
classes it trains on: there it always looks good. So a run with the automatic share keeps
a third of its training classes (at least two, seeded) out of the first `PROBE_FRACTION`
of its steps. At that step it embeds images of those classes and scores all pairs of them at
every share in `SHARES`, with the histograms as they are and whitened as learned from the
other training classes (`core.whitening`). The run takes the largest share whose AUC is
within half a standard error of the best, with the histograms as they are where any such
share has them so: on a few held-out classes the best alone is noisy, and the plain
histograms depend on no training class, so near-ties go to them.
Why late and why half a standard error: docs/decisions.md. Then training goes on over all
the classes. Runs aiming at the trained classes have no probe (the learned network
alone); runs on fewer than `MIN_CLASSES` classes keep `training.FALLBACK_HISTOGRAM_SHARE`
and plain histograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from siamese_gui.core.backend import keras
from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.evaluation.metrics import auc_standard_error, roc_auc

MIN_CLASSES = 4
PROBE_FRACTION = 0.8
# How many standard errors below the best AUC a larger share may score and still be chosen.
TOLERANCE = 0.5
PROBE_IMAGES = 1000
SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ShareProbe:
    """Where and on what a run chooses its share.

    Attributes:
        classes: labels of the classes kept out of the first `steps` steps.
        steps: optimiser steps trained without them, before the share is chosen.
        total_steps: the run's optimiser steps in all.
        images: indices (into the training dataset) of the images scored at the probe.
    """

    classes: np.ndarray
    steps: int
    total_steps: int
    images: np.ndarray


@dataclass(frozen=True)
class ShareChoice:
    """The share a probe chose, with its evidence (AUC on pairs of the held-out classes).

    Attributes:
        share: the chosen share of each squared distance from the histograms.
        auc: AUC at the chosen share.
        best_auc: the best AUC over `SHARES`, plain or whitened.
        standard_error: the best AUC's standard error (Hanley & McNeil, counting each
            image as one same-class and one different-class pair, as pairs share images).
        histograms_auc: AUC of the histograms alone.
        learned_auc: AUC of the learned part alone (at the probe step).
        pairs: how many pairs were scored.
        scores: AUC at each share in `SHARES`, plain histograms.
        whitened: whether the chosen distance whitens the histograms.
        whitened_scores: AUC at each share with whitened histograms (empty when the
            probe had no whitening to try).
        whitened_histograms_auc: AUC of the whitened histograms alone (None without).
    """

    share: float
    auc: float
    best_auc: float
    standard_error: float
    histograms_auc: float
    learned_auc: float
    pairs: int
    scores: dict[float, float]
    whitened: bool = False
    whitened_scores: dict[float, float] = field(default_factory=dict)
    whitened_histograms_auc: float | None = None


def plan_probe(labels: np.ndarray, train_idx: np.ndarray, total_steps: int, seed: int) -> ShareProbe | None:
    """The probe of a run on `labels[train_idx]`, or None when it has too few classes
    (or steps) to hold some out."""
    train_labels = labels[train_idx]
    classes = np.unique(train_labels)
    steps = int(round(PROBE_FRACTION * total_steps))
    if len(classes) < MIN_CLASSES or steps < 1 or steps >= total_steps:
        return None
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(classes, max(2, round(len(classes) / 3)), replace=False))
    candidates = train_idx[np.isin(train_labels, held)]
    if len(candidates) > PROBE_IMAGES:
        candidates = np.sort(rng.choice(candidates, PROBE_IMAGES, replace=False))
    return ShareProbe(held, steps, total_steps, candidates)


def joined_auc(learned_sq: np.ndarray, histograms_sq: np.ndarray, same: np.ndarray, share: float) -> float:
    """AUC of pairs whose squared distance takes `share` from the histograms, given each
    part's squared distance of every pair (share 1: the histograms alone; 0: learned)."""
    return roc_auc(np.sqrt((1.0 - share) * learned_sq + share * histograms_sq), same)


def auc_by_share(learned_sq: np.ndarray, histograms_sq: np.ndarray, same: np.ndarray) -> dict[float, float]:
    """`joined_auc` at every share in `SHARES`."""
    return {share: joined_auc(learned_sq, histograms_sq, same, share) for share in SHARES}


def choose_share(
    learned: np.ndarray, histograms: np.ndarray, labels: np.ndarray, whitened: np.ndarray | None = None
) -> ShareChoice:
    """Score all pairs of the probe images at every share in `SHARES` and choose one.

    Args:
        learned: unit-length learned vectors of the probe images.
        histograms: their unit-length gradient histograms.
        labels: their classes.
        whitened: their whitened histograms (`whitening.Whitening.apply`), or None.

    Returns:
        The largest share whose AUC is within half a standard error of the best, plain
        histograms first: whitened ones only where no plain share comes that close.
    """
    first, second = np.triu_indices(len(labels), k=1)
    same = labels[first] == labels[second]
    learned_sq = _squared_distances(learned)[first, second]
    histograms_sq = _squared_distances(histograms)[first, second]
    scores = auc_by_share(learned_sq, histograms_sq, same)
    whitened_scores, whitened_alone = {}, None
    if whitened is not None:
        whitened_sq = _squared_distances(whitened)[first, second]
        whitened_scores = auc_by_share(learned_sq, whitened_sq, same)
        whitened_alone = joined_auc(learned_sq, whitened_sq, same, 1.0)
    best = max([*scores.values(), *whitened_scores.values()])
    error = auc_standard_error(best, len(labels), len(labels))
    floor = best - TOLERANCE * error
    plain = [share for share in SHARES if scores[share] >= floor]
    use_whitened = not plain
    chosen = max(plain) if plain else max(share for share in SHARES if whitened_scores[share] >= floor)
    alone = [joined_auc(learned_sq, histograms_sq, same, share) for share in (1.0, 0.0)]
    auc = whitened_scores[chosen] if use_whitened else scores[chosen]
    return ShareChoice(
        chosen, auc, best, error, *alone, len(same), scores, use_whitened, whitened_scores, whitened_alone
    )


def _squared_distances(vectors: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all rows of `vectors`."""
    vectors = np.asarray(vectors, np.float64)
    norms = np.sum(vectors * vectors, axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * vectors @ vectors.T, 0.0)


class ShareProbeCallback(keras.callbacks.Callback):
    """Chooses the share at the probe step of a run (see the module docstring).

    Args:
        probe: the run's probe.
        images: the probe images as the network takes them.
        labels: their classes.
        histogram_network: the network of the gradient histograms alone.
        embed: embeds images with a network (`training.embed`; raises `ModelFileError`
            on non-finite vectors).
        learn_whitening: learns the histograms' whitening from the training classes
            outside the probe (None where there is none), called at the probe step only.
    """

    def __init__(
        self, probe: ShareProbe, images, labels, histogram_network, embed: Callable,
        learn_whitening: Callable = lambda: None,
    ):
        super().__init__()
        self.probe = probe
        self.images = images
        self.labels = labels
        self.histogram_network = histogram_network
        self.embed = embed
        self.learn_whitening = learn_whitening
        self.steps = 0
        self.choice: ShareChoice | None = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.probe.steps:
            try:
                learned = self.embed(self.model, self.images)
                histograms = self.embed(self.histogram_network, self.images)
            except ModelFileError:  # non-finite: the run fails on its own loss
                return
            whitening = self.learn_whitening()
            whitened = None if whitening is None else whitening.apply(histograms)
            self.choice = choose_share(learned, histograms, self.labels, whitened)


def record(choice: ShareChoice, probe: ShareProbe, class_names) -> dict:
    """A chosen share and its evidence, for the model's metadata and `--json`."""
    return {
        "share": choice.share,
        "whitened": choice.whitened,
        "held_out_classes": [str(class_names[c]) for c in probe.classes],
        "held_out_for_steps": probe.steps,
        "steps": probe.total_steps,
        "pairs": choice.pairs,
        "auc": round(choice.auc, 6),
        "best_auc": round(choice.best_auc, 6),
        "standard_error": round(choice.standard_error, 6),
        "histograms_auc": round(choice.histograms_auc, 6),
        "learned_auc": round(choice.learned_auc, 6),
        "auc_by_share": _rounded(choice.scores),
        "whitened_histograms_auc": (
            None if choice.whitened_histograms_auc is None else round(choice.whitened_histograms_auc, 6)
        ),
        "whitened_auc_by_share": _rounded(choice.whitened_scores),
    }


def _rounded(scores: dict[float, float]) -> dict[str, float]:
    return {f"{share:g}": round(value, 6) for share, value in scores.items()}


def describe(choice: ShareChoice, probe: ShareProbe, class_names) -> str:
    """A chosen share and its evidence, in words."""
    names = ", ".join(str(class_names[c]) for c in probe.classes[:4])
    if len(probe.classes) > 4:
        names += f" and {len(probe.classes) - 4} more"
    what = "whitened gradient histograms" if choice.whitened else "gradient histograms"
    whitened = ""
    if choice.whitened_histograms_auc is not None:
        whitened = f", whitened {choice.whitened_histograms_auc:.3f}"
    return (
        f"{choice.share:.0%} of each squared distance from the {what} "
        f"(automatic: the largest share within half a standard error of the best, whitened only "
        f"where no plain share comes that close, on {choice.pairs:,} pairs of classes kept out of "
        f"the first {probe.steps:,} of {probe.total_steps:,} steps ({names}): AUC {choice.auc:.3f}, "
        f"best {choice.best_auc:.3f} ± {choice.standard_error:.3f}, histograms alone "
        f"{choice.histograms_auc:.3f}{whitened}, learned part alone {choice.learned_auc:.3f})"
    )
