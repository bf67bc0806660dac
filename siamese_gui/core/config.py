"""Training settings (plain Python, so the CLI and GUI can use them without TensorFlow)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from siamese_gui.core.errors import ConfigError

PRESETS = ("default", "seed")


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
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 4, f"batch size must be at least 4, got {self.batch_size}"),
            (
                0 < self.learning_rate < float("inf"),
                f"learning rate must be positive and finite, got {self.learning_rate}",
            ),
            (self.margin > 0, f"margin must be positive, got {self.margin}"),
            (self.embedding_dim >= 1, f"embedding size must be at least 1, got {self.embedding_dim}"),
            (self.preset in PRESETS, f"unknown preset {self.preset!r} (choose from {', '.join(PRESETS)})"),
            (
                0 < self.validation_fraction < 0.9,
                f"validation fraction must be in (0, 0.9), got {self.validation_fraction}",
            ),
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
