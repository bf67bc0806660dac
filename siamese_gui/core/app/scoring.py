"""One model's figures on one set of images: the numbers every front end prints.

`evaluate`, `report`, the app's report, the Threshold panel and training all show a
`ModelFigures` (or one `FiguresPart` of it), so one model on one folder reads the same
everywhere. The images come from `core.data.splits.ScoredImages`: never images the model
trained on or chose its threshold on, and classes it trained on kept apart from classes
it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from siamese_gui.core.data.pairs import STANDARD_SEED
from siamese_gui.core.data.splits import ScoredImages
from siamese_gui.core.errors import SiameseError
from siamese_gui.core.evaluation.protocol import Evaluation, evaluate
from siamese_gui.core.evaluation.threshold import Threshold

# What each part's images are, in words, and its key in the CLI's JSON.
CLASS_WORDS = {"unseen": "classes it never trained on", "seen": "classes it trained on",
               "unknown": "classes it may have trained on; it does not record which"}


def evaluation_summary(evaluation: Evaluation, threshold: float) -> dict:
    """The numbers of one evaluation at `threshold`, with intervals, as plain data."""
    from siamese_gui.core.evaluation.retrieval import retrieval_summary

    at = evaluation.at(threshold)
    report = evaluation.report
    return {
        "data": evaluation.description,
        "pairs": len(evaluation.pairs),
        "same_pairs": report.same_pairs,
        "different_pairs": report.different_pairs,
        "seed": evaluation.seed,
        "threshold": threshold,
        **at.as_dict(),
        "auc": report.auc,
        "eer": report.eer,
        "eer_threshold": report.eer_threshold,
        "best_threshold_on_these_pairs": report.best_threshold,
        "breakdown": evaluation.breakdown(threshold).as_dict(),
        "retrieval": retrieval_summary(evaluation.embeddings, evaluation.data.labels),
    }


def part_headline(evaluation: Evaluation, threshold: float, classes: str) -> str:
    """One line: accuracy of one part at `threshold`, on how many pairs of which classes
    ("seen", "unseen", "unknown", or "" to leave the classes out)."""
    at = evaluation.at(threshold)
    rate = at.accuracy_rate
    accuracy = "accuracy not measured (too few pairs)" if rate.value is None else \
        f"{100 * rate.value:.2f} % judged right"
    prefix = f"{CLASS_WORDS.get(classes, classes)}: " if classes else ""
    return f"{prefix}{accuracy} of {len(evaluation.pairs):,} pairs at threshold {threshold:.4f}"


@dataclass(frozen=True)
class FiguresPart:
    """A model scored on the test images of one kind of class.

    Attributes:
        classes: "unseen", "seen" or "unknown" (the model records no classes).
        evaluation: the pairs, distances and embeddings.
    """

    classes: str
    evaluation: Evaluation

    def summary(self, threshold: float) -> dict:
        return {"classes": self.classes, **evaluation_summary(self.evaluation, threshold)}

    def headline(self, threshold: float) -> str:
        return part_headline(self.evaluation, threshold, self.classes)


@dataclass(frozen=True)
class ModelFigures:
    """This model's figures on this data: one part per kind of class, never mixed.

    Attributes:
        threshold: the threshold the figures are read at.
        parts: unseen classes first, then seen classes (each only when present).
        left_out: images of the data left out because the model trained or validated on them.
        known: whether the model records which files it trained on.
    """

    threshold: Threshold
    parts: tuple[FiguresPart, ...]
    left_out: int = 0
    known: bool = True

    @property
    def main(self) -> FiguresPart:
        """The headline part: unseen classes where there are any, else the seen ones."""
        return self.parts[0]

    def keys(self) -> list[str]:
        """The JSON key of each part: "test" alone, else "test_unseen_classes" and
        "test_seen_classes"."""
        if len(self.parts) == 1:
            return ["test"]
        return [f"test_{part.classes}_classes" for part in self.parts]

    def as_dict(self) -> dict:
        return {key: part.summary(self.threshold.value) for key, part in zip(self.keys(), self.parts)}

    def headline(self) -> str:
        """Every part's accuracy in one line ("classes it never trained on: 74.17 % ...; ...")."""
        return "; ".join(part.headline(self.threshold.value) for part in self.parts)


def score_images(
    embed: Callable,
    images: ScoredImages,
    threshold: Threshold,
    pairs: int | None = None,
    seed: int = STANDARD_SEED,
    max_images: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ModelFigures:
    """Score a model on the images it may be scored on, each kind of class apart.

    Args:
        embed: the model's `embed` (`ModelHandle.embed`).
        images: the held-out images (`core.data.splits.scored_images` or
            `scored_from_splits`).
        threshold: the threshold to read the figures at.
        pairs, seed, max_images, should_stop: as `core.evaluation.protocol.evaluate`.

    Raises:
        SiameseError: when no image is left to score.
    """
    found = images.parts()
    if not found:
        raise SiameseError("every image was used in training or to choose the threshold; nothing is "
                           "left to score")
    parts = []
    for classes, data in found:
        classes = classes if images.classes_known else "unknown"
        words = CLASS_WORDS[classes]
        parts.append(FiguresPart(classes, evaluate(
            embed, data, f"{len(data):,} test images of {words} ({data.source})", pairs, seed,
            max_images, should_stop)))
    return ModelFigures(threshold, tuple(parts), images.left_out, images.known)


def figures_from(evaluation: Evaluation, classes: str, threshold: Threshold) -> ModelFigures:
    """The figures of an evaluation already made (a panel's)."""
    return ModelFigures(threshold, (FiguresPart(classes, evaluation),))


BASELINE_NAMES = {"pixels": "raw pixels", "hog": "HOG"}


@dataclass(frozen=True)
class BaselineComparison:
    """A model against the best training-free baseline on the same test pairs, by AUC
    (no threshold: the baselines have none chosen for them).

    Attributes:
        model_auc: the model's AUC on the pairs.
        baseline: the best baseline's name ("hog", "pixels").
        baseline_auc: its AUC on the same pairs.
        pairs: how many pairs.
        classes: the pairs' classes ("seen", "unseen" or "unknown").
    """

    model_auc: float
    baseline: str
    baseline_auc: float
    pairs: int
    classes: str

    @property
    def beaten(self) -> bool:
        """Whether the model scored higher than the baseline."""
        return self.model_auc > self.baseline_auc

    def advice(self) -> str:
        """What to try when training did not beat the baseline, in words."""
        if self.classes == "unseen":
            return ("train with the goal 'new classes' (--goal new-classes; it joins the image's "
                    "gradient histograms), on more classes, or compare images with "
                    f"{BASELINE_NAMES.get(self.baseline, self.baseline)} instead of a trained model")
        return ("train longer (Steps or Epochs), on more images per class, or with Mirror images "
                "(--augment) where the objects are left-right symmetric")

    def text(self) -> str:
        """The comparison in one plain sentence (with what to try when training lost)."""
        name = BASELINE_NAMES.get(self.baseline, self.baseline)
        which = f"{self.pairs:,} test pairs of {CLASS_WORDS.get(self.classes, self.classes)}"
        if self.beaten:
            return (f"Training helped: on the same {which}, the model's AUC is {self.model_auc:.4f}, "
                    f"above the best training-free baseline ({name}, {self.baseline_auc:.4f}).")
        return (f"Training did not beat the best training-free baseline: on the same {which}, "
                f"{name} scores AUC {self.baseline_auc:.4f} and the model {self.model_auc:.4f}. "
                f"Try: {self.advice()}.")

    def as_dict(self) -> dict:
        return {"model_auc": self.model_auc, "baseline": self.baseline, "baseline_auc": self.baseline_auc,
                "pairs": self.pairs, "classes": self.classes, "beaten": self.beaten, "text": self.text()}


def compare_with_baseline(figures: ModelFigures) -> BaselineComparison | None:
    """The model against the best training-free baseline (raw pixels or HOG, neither
    fitted to any data) on the pairs of the figures' headline part; None where the pairs
    hold one kind only, so no AUC is defined.

    The one comparison the Train result, `evaluate` and the report all show.
    """
    from siamese_gui.core.evaluation.baselines import rank_baselines

    evaluation = figures.main.evaluation
    if evaluation.report is None or evaluation.report.auc is None:
        return None
    ranked = {name: report.auc for name, report in rank_baselines(evaluation.data.images, evaluation.pairs).items()
              if report is not None and report.auc is not None}
    if not ranked:
        return None
    best = max(ranked, key=ranked.get)
    return BaselineComparison(float(evaluation.report.auc), best, float(ranked[best]), len(evaluation.pairs),
                              figures.main.classes)
