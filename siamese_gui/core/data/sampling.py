"""Which images a training run may use: some classes, some images per class, a cap on all.

The Train panel and `siamese-gui train` both narrow the data with one `TrainingSample`,
so the same settings and seed pick the same images wherever a run starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamese_gui.core.data.datasets import Dataset, restrict


def names_from_text(text: str) -> tuple[str, ...] | None:
    """The comma-separated entries of a typed list ("Coat, 3" -> ("Coat", "3")), or None
    when nothing was typed (meaning: every class)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return names or None


@dataclass(frozen=True)
class TrainingSample:
    """How a run narrows its data before the data is split.

    Attributes:
        classes: class names or indices to train on, in this order; None keeps every class.
        per_class: at most this many images of each class (a seeded sample); None: all.
        limit: at most this many images in all, after the other two (a seeded sample);
            None: all.
    """

    classes: tuple[str, ...] | None = None
    per_class: int | None = None
    limit: int | None = None

    @property
    def keeps_everything(self) -> bool:
        """Whether it leaves the data as it is."""
        return self.classes is None and self.per_class is None and self.limit is None

    def pool(self, data: Dataset, seed: int) -> Dataset:
        """The images a run draws its training and validation images from.

        Raises:
            DatasetError: on an unknown class, or fewer than 2 classes left.
        """
        if self.keeps_everything:
            return data
        data = restrict(data, self.classes, self.per_class, seed)
        if self.limit is None or self.limit >= len(data):
            return data
        rng = np.random.default_rng(seed)
        return data.subset(np.sort(rng.choice(len(data), self.limit, replace=False)))

    def test(self, data: Dataset) -> Dataset:
        """A separate test set narrowed to the chosen classes (never sampled: the test
        figures keep every test image of those classes).

        Raises:
            DatasetError: on an unknown class, or fewer than 2 classes left.
        """
        return data if self.classes is None else restrict(data, self.classes)
