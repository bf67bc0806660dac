"""Training settings (plain Python, so the CLI and GUI can use them without TensorFlow)."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields

from siamese_gui.core.errors import ConfigError

PRESETS = ("default", "seed")

# Inclusive bounds of each numeric setting (learning rate, margin and validation fraction
# must also be above their lower bound; validation fraction below its upper one).
LIMITS = {
    "epochs": (1, 10_000),
    "batch_size": (4, 4096),
    "learning_rate": (0, 10),
    "margin": (0, 100),
    "embedding_dim": (1, 1024),
    "seed": (0, 2**32 - 1),
    "validation_fraction": (0, 0.9),
}


@dataclass(frozen=True)
class TrainingConfig:
    """Every setting of a training run.

    Attributes:
        epochs: passes over the training images.
        batch_size: images per batch; every pair inside a batch is a training pair.
        learning_rate: Adam's initial step size, decayed to zero on a cosine.
        margin: the contrastive margin (different pairs are pushed this far apart).
        embedding_dim: length of the embedding vector.
        preset: architecture preset, see `build_embedding_network`.
        seed: seeds weights, shuffling and the validation split.
        validation_fraction: share of each class held out to validate and pick the threshold.
        augment: randomly mirror training images left-right and shift them by up to
            2 pixels.
    """

    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 2e-3
    margin: float = 1.0
    embedding_dim: int = 64
    preset: str = "default"
    seed: int = 0
    validation_fraction: float = 0.1
    augment: bool = True

    def __post_init__(self):
        checks = [
            _int_in("epochs", self.epochs, "epochs"),
            _int_in("batch_size", self.batch_size, "batch size"),
            _float_in("learning_rate", self.learning_rate, "learning rate"),
            _float_in("margin", self.margin, "margin"),
            _int_in("embedding_dim", self.embedding_dim, "embedding size"),
            (self.preset in PRESETS, f"unknown preset {self.preset!r} (choose from {', '.join(PRESETS)})"),
            _int_in("seed", self.seed, "seed"),
            _float_in("validation_fraction", self.validation_fraction, "validation fraction", open_high=True),
            (isinstance(self.augment, bool), f"augment must be true or false, got {self.augment!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        """Build a config from a dict, ignoring keys it does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _int_in(name: str, value, label: str) -> tuple[bool, str]:
    low, high = LIMITS[name]
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value <= high
    shown = value if not isinstance(value, numbers.Integral) or abs(value) < 10**30 else "a huge number"
    return ok, f"{label} must be a whole number from {low} to {high:,}, got {shown!r}"


def _float_in(name: str, value, label: str, open_high: bool = False) -> tuple[bool, str]:
    low, high = LIMITS[name]
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        try:
            value = float(value)
        except OverflowError:
            value = float("inf")
        ok = low < value < high if open_high else low < value <= high
    relation = "below" if open_high else "at most"
    return ok, f"{label} must be above {low:g} and {relation} {high:g}, got {value!r}"
