"""The threshold as one object: its value, how it was chosen and on which pairs.

A model file stores it in three fields, written by `write_threshold` and read back by
`read_threshold` (every save, export card and report goes through these two):
`threshold` (the number), `threshold_origin` (`ThresholdOrigin` name, lower case) and
`threshold_detail` (on which pairs and how, in words). Files written before the origin
was stored hold the number and at most the detail; they read as "stored with the model".
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, fields

from siamese_gui.core.errors import ModelFileError
from siamese_gui.core.evaluation.metrics import ThresholdMetrics, validate_threshold

# The threshold used when a model file carries none (distances of unit-length
# embeddings lie in [0, 2]; 0.5 is a conservative "same").
FALLBACK_THRESHOLD = 0.5

# The metadata fields of a threshold.
VALUE_FIELD, ORIGIN_FIELD, DETAIL_FIELD = "threshold", "threshold_origin", "threshold_detail"
# Figures at the threshold in a model file's `metrics`.
AT_THRESHOLD = "at_threshold"


class ThresholdOrigin(enum.Enum):
    """Where a threshold came from."""

    MODEL = "stored with the model"
    USER = "set by hand"
    PRESET = "chosen by a preset"
    FALLBACK = "no threshold stored; fallback"

    @property
    def key(self) -> str:
        """The name stored in files and cards ("model", "user", "preset", "fallback")."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key, source: str) -> "ThresholdOrigin":
        """The origin a file names.

        Raises:
            ModelFileError: naming `source`, if `key` is not one of the stored names.
        """
        for origin in cls:
            if key == origin.key:
                return origin
        names = ", ".join(o.key for o in cls)
        raise ModelFileError(f"{source}: unknown threshold origin {str(key)[:40]!r} (one of {names})")


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

    def lead(self) -> str:
        """Where it came from in one short plain sentence, before the detail
        (`describe`): "Chosen on 4,000 held-out pairs to keep false matches to 1 % at
        most." (see `threshold_lead`)."""
        return threshold_lead(self)

    def as_dict(self) -> dict:
        return {"value": self.value, "origin": self.origin.key, "detail": self.detail}


# How a detail names the way a threshold was chosen (a preset's name, or training's
# "max accuracy"), and why, in plain words.
_AIMS = (
    ("max accuracy", "to judge the most pairs right"),
    ("equal error rate", "so both kinds of mistake are equally common"),
    ("far ≤ 1 %", "to keep false matches to 1 % at most"),
)
_PAIRS = re.compile(r"\bon ([\d,]+) (?:validation )?pairs\b")


def threshold_lead(threshold: Threshold) -> str:
    """A threshold's provenance in one short plain sentence, for someone who has never
    heard of FAR; `Threshold.describe` keeps the full detail.

    "Chosen on 4,000 held-out pairs to keep false matches to 1 % at most." (a preset),
    "The model's own, chosen on 12,000 held-out pairs to judge the most pairs right."
    (training's), "Set by you." (typed or dragged), "A default of 0.5: the model file
    records no threshold." (fallback). Held-out pairs are pairs of images kept out of
    training (the validation pairs).
    """
    detail = threshold.detail.strip()
    if threshold.origin is ThresholdOrigin.USER:
        return "Set by you."
    if threshold.origin is ThresholdOrigin.FALLBACK:
        return f"A default of {threshold.value:g}" + (f": {detail}." if detail else ".")
    aim = next((words for name, words in _AIMS if detail.lower().startswith(name)), None)
    pairs = _PAIRS.search(detail)
    if aim is None:
        chosen = ""
    elif pairs is None:
        chosen = f"chosen on held-out pairs {aim}"
    else:
        chosen = f"chosen on {pairs.group(1)} held-out pairs {aim}"
    if threshold.origin is ThresholdOrigin.PRESET:
        return (chosen[:1].upper() + chosen[1:] + ".") if chosen else "Chosen by a preset."
    if chosen:
        return f"The model's own, {chosen}."
    return "The model's own; how it was chosen is not recorded." if not detail or \
        detail == "how it was chosen is not recorded" else "The model's own (see the details)."


def check_threshold(value, source: str) -> float:
    """Return `value` as a float if it is a usable threshold (see `validate_threshold`).

    Raises:
        ConfigError: if it is not a finite number from 0 to `THRESHOLD_MAX`.
    """
    return validate_threshold(value, source)


def fallback_threshold(detail: str = "") -> Threshold:
    """The threshold of a model that has none of its own."""
    return Threshold(FALLBACK_THRESHOLD, ThresholdOrigin.FALLBACK, detail)


def threshold_fields(threshold: Threshold) -> dict:
    """The metadata (or card) fields that record `threshold`: value, origin, detail."""
    return {
        VALUE_FIELD: float(threshold.value),
        ORIGIN_FIELD: threshold.origin.key,
        DETAIL_FIELD: threshold.detail,
    }


def read_threshold(metadata: dict, source: str) -> Threshold:
    """The threshold a model's metadata (or an export card) records.

    A file without a threshold gives the fallback, saying so. A file written before the
    origin was stored reads as stored with the model, with its detail; where it has none,
    the detail is what its own validation figures show (the max-accuracy threshold of
    its validation pairs), else "how it was chosen is not recorded".

    Raises:
        ModelFileError: naming `source`, if the value or the origin is not usable.
    """
    stored = metadata.get(VALUE_FIELD)
    detail = metadata.get(DETAIL_FIELD)
    detail = str(detail) if detail else ""
    if stored is None:
        return fallback_threshold(detail or "the model file records no threshold")
    value = validate_threshold(stored, source, ModelFileError)
    if metadata.get(ORIGIN_FIELD) is not None:
        return Threshold(value, ThresholdOrigin.from_key(metadata[ORIGIN_FIELD], source), detail)
    return Threshold(value, ThresholdOrigin.MODEL, detail or _legacy_detail(metadata, value))


def _legacy_detail(metadata: dict, value: float) -> str:
    validation = (metadata.get("metrics") or {}).get("validation") or {}
    best, pairs = validation.get("best_threshold"), validation.get("pairs")
    if _same_number(best, value):
        return f"max accuracy on {pairs:,} validation pairs" if isinstance(pairs, int) else (
            "max accuracy on validation pairs")
    return "how it was chosen is not recorded"


def _same_number(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


# Fields of an evaluation summary that hold for one threshold only.
_AT_THRESHOLD_FIELDS = frozenset(f.name for f in fields(ThresholdMetrics)) | {
    "accuracy_ci95", "far_ci95", "frr_ci95", "breakdown"}


def write_threshold(metadata: dict, threshold: Threshold, at_threshold: dict | None = None) -> dict:
    """A copy of a model's metadata that records `threshold` (value, origin, detail).

    No figure is left describing another threshold: `metrics.at_threshold` becomes
    `at_threshold` where given (the figures at `threshold`, see
    `core.evaluation.validation.figures_at`), stays where it was measured at this very
    value, and is dropped otherwise, with a note saying why. Other entries of `metrics`
    measured at another threshold keep their threshold-free figures (AUC, EER, ...) and
    lose the ones at that threshold, with the same note.

    Args:
        metadata: the model's metadata (not changed).
        threshold: the threshold to record.
        at_threshold: figures at `threshold` (`ThresholdMetrics.as_dict()` plus what
            they were measured on), or None.
    """
    written = {**metadata, **threshold_fields(threshold)}
    metrics = dict(metadata.get("metrics") or {})
    if not metrics and at_threshold is None:
        return written
    note = (f"figures at the threshold were measured at another threshold; dropped when "
            f"{threshold.value:.4f} ({threshold.origin.value}) was saved")
    if at_threshold is not None:
        metrics[AT_THRESHOLD] = at_threshold
        metrics.pop(f"{AT_THRESHOLD}_note", None)
    elif isinstance(metrics.get(AT_THRESHOLD), dict) and not _same_number(
            metrics[AT_THRESHOLD].get("threshold"), threshold.value):
        metrics[AT_THRESHOLD] = None
        metrics[f"{AT_THRESHOLD}_note"] = note + " (the validation pairs it was chosen on were not at hand)"
    for name, entry in list(metrics.items()):
        if name == AT_THRESHOLD or not isinstance(entry, dict) or entry.get("threshold") is None:
            continue
        if not _same_number(entry["threshold"], threshold.value):
            kept = {k: v for k, v in entry.items() if k not in _AT_THRESHOLD_FIELDS}
            metrics[name] = {**kept, "threshold": None, "at_threshold_note": note}
    written["metrics"] = metrics
    return written
