"""The model against the best training-free baseline, as the Train result, `evaluate`
and the report all say it (`core.app.scoring.compare_with_baseline`)."""

from __future__ import annotations

import numpy as np
from helpers import make_dataset

from siamese_gui.core.app.scoring import compare_with_baseline, figures_from
from siamese_gui.core.evaluation.baselines import HOGEmbedder
from siamese_gui.core.evaluation.protocol import evaluate
from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin


def _figures(embed, classes: str):
    data = make_dataset(per_class=10, num_classes=4)
    evaluation = evaluate(lambda images, should_stop=None: embed(images), data, "shapes")
    return figures_from(evaluation, classes, Threshold(0.5, ThresholdOrigin.USER, "test"))


def test_a_model_no_better_than_hog_is_told_so_with_what_to_try():
    figures = _figures(lambda images: HOGEmbedder().embed(images), "unseen")
    comparison = compare_with_baseline(figures)
    assert comparison.pairs == len(figures.main.evaluation.pairs)
    assert comparison.model_auc <= comparison.baseline_auc and not comparison.beaten
    text = comparison.text()
    assert text.startswith("Training did not beat the best training-free baseline")
    assert "classes it never trained on" in text and "--goal new-classes" in text


def test_a_model_that_separates_the_classes_is_said_to_help():
    data = make_dataset(per_class=10, num_classes=4)
    label_of = {image.tobytes(): label for image, label in zip(data.images, data.labels)}
    comparison = compare_with_baseline(_figures(
        lambda images: np.eye(4, dtype=np.float32)[[label_of[i.tobytes()] for i in images]], "seen"))
    assert comparison.model_auc == 1.0 and comparison.beaten
    assert comparison.text().startswith("Training helped") and comparison.as_dict()["beaten"] is True
