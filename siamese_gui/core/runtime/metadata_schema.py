"""The fields of a model's metadata: their types and ranges, checked where a file is read.

No hash covers a value that is wrong from the start (a threshold of 9999 saved by a
script, a config written as a string), so every model file's metadata passes
`check_metadata` before anything uses it: a wrong field is one line naming the file and
the field, never an internal error later. Unknown fields are left alone, so files
written by newer versions still open.
"""

from __future__ import annotations

import math
import numbers

from siamese_gui.core.errors import ConfigError, ModelFileError
from siamese_gui.core.evaluation.metrics import THRESHOLD_MAX, validate_threshold
from siamese_gui.core.evaluation.threshold import ORIGIN_FIELD, ThresholdOrigin
from siamese_gui.core.io.image_format import FIELD as FORMAT_FIELD
from siamese_gui.core.io.image_format import ImageFormat

# Embeddings of the default architecture are unit-length (or a mean of unit vectors), so
# two of them are at most 2 apart; a threshold above that would call every pair "same".
UNIT_LENGTH_PRESETS = ("default",)
UNIT_DISTANCE_MAX = 2.0
_MAX_NAMES = 1_000_000


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, numbers.Real) else type(value).__name__
    )


def _fail(source: str, field: str, wanted: str, value) -> ModelFileError:
    return ModelFileError(f"{source}: its metadata field '{field}' must be {wanted}, not {_kind(value)}")


def _object(metadata: dict, field: str, source: str, optional: bool = True) -> dict:
    value = metadata.get(field)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _fail(source, field, "an object", value)
    return value


def _text(container: dict, field: str, source: str, name: str | None = None) -> None:
    value = container.get(field)
    if value is not None and not isinstance(value, str):
        raise _fail(source, name or field, "text", value)


def _number(container: dict, field: str, source: str, name: str | None = None) -> None:
    value = container.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise _fail(source, name or field, "a finite number", value)
    if float(value) < 0:
        raise ModelFileError(f"{source}: its metadata field '{name or field}' must not be negative")


def _names(container: dict, field: str, source: str, name: str | None = None) -> None:
    value = container.get(field)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(source, name or field, "a list of names", value)
    if len(value) > _MAX_NAMES:
        raise ModelFileError(f"{source}: its metadata field '{name or field}' lists {len(value):,} names")


def threshold_limit(metadata: dict) -> float:
    """The largest distance the model's embeddings allow (so the largest useful threshold)."""
    config = metadata.get("config")
    preset = config.get("preset", "default") if isinstance(config, dict) else None
    return UNIT_DISTANCE_MAX if preset in UNIT_LENGTH_PRESETS else THRESHOLD_MAX


def check_metadata(metadata: dict, source: str) -> None:
    """Refuse metadata whose known fields have the wrong type or an impossible value.

    Raises:
        ModelFileError: naming `source` and the field.
    """
    config = _object(metadata, "config", source)
    if config:
        from siamese_gui.core.model.config import TrainingConfig

        try:
            TrainingConfig.from_dict(config)
        except (ConfigError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: its metadata field 'config' holds {exc}") from None
    if metadata.get(FORMAT_FIELD) is not None:
        try:
            ImageFormat.from_dict(metadata[FORMAT_FIELD], f"{source}: its metadata field '{FORMAT_FIELD}'")
        except ConfigError as exc:
            raise ModelFileError(str(exc)) from None
    _names(metadata, "class_names", source)
    for field in ("data_source", "threshold_detail", "model_file", "created"):
        _text(metadata, field, source)
    split = _object(metadata, "split", source)
    for field in ("seen_classes", "held_out_classes"):
        _names(split, field, source, f"split.{field}")
    training = _object(metadata, "training", source)
    for field in ("status", "schedule", "goal", "histograms"):
        _text(training, field, source, f"training.{field}")
    _number(training, "seconds", source, "training.seconds")
    for field in ("history", "share_choice"):
        if training.get(field) is not None and not isinstance(training[field], dict):
            raise _fail(source, f"training.{field}", "an object", training[field])
    metrics = _object(metadata, "metrics", source)
    for field in ("validation", "at_threshold", "test"):
        if metrics.get(field) is not None and not isinstance(metrics[field], dict):
            raise _fail(source, f"metrics.{field}", "an object", metrics[field])
    versions = _object(metadata, "versions", source)
    for field in versions:
        _text(versions, field, source, f"versions.{field}")
    if metadata.get(ORIGIN_FIELD) is not None:
        ThresholdOrigin.from_key(metadata[ORIGIN_FIELD], source)
    if metadata.get("threshold") is not None:
        value = validate_threshold(metadata["threshold"], source, ModelFileError)
        limit = threshold_limit(metadata)
        if value > limit:
            raise ModelFileError(
                f"{source}: its stored threshold {value:g} is above {limit:g}, the largest distance "
                "this model can give (every pair would be judged the same)"
            )
