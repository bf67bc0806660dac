"""The threshold as one object: its value, how it was chosen and on which pairs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from siamese_gui.core.evaluation.metrics import validate_threshold

# The threshold used when a model file carries none (distances of unit-length
# embeddings lie in [0, 2]; 0.5 is a conservative "same").
FALLBACK_THRESHOLD = 0.5


class ThresholdOrigin(enum.Enum):
    """Where a threshold came from."""

    MODEL = "stored with the model"
    USER = "set by hand"
    PRESET = "chosen by a preset"
    FALLBACK = "no threshold stored; fallback"


@dataclass(frozen=True)
class Threshold:
    """A threshold and its provenance.

    Attributes:
        value: pairs closer than this are judged "same".
        origin: where it came from.
        detail: on which pairs it was chosen and how, in words.
    """

    value: float
    origin: ThresholdOrigin
    detail: str = ""

    def describe(self) -> str:
        """One line for people: the value and where it came from."""
        text = f"{self.value:.4f} ({self.origin.value}"
        return text + (f": {self.detail})" if self.detail else ")")

    def as_dict(self) -> dict:
        return {"value": self.value, "origin": self.origin.name.lower(), "detail": self.detail}


def check_threshold(value, source: str) -> float:
    """Return `value` as a float if it is a usable threshold (see `validate_threshold`).

    Raises:
        ConfigError: if it is not a finite number from 0 to `THRESHOLD_MAX`.
    """
    return validate_threshold(value, source)

