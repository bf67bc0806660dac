"""Training settings, each declared once: value, range, help and widget.

The CLI's options and the Train panel's form are generated from these declarations,
so both offer the same settings with the same limits, checked before TensorFlow starts.
Plain Python: the CLI and the GUI use it without TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from siamese_gui.core.errors import ConfigError

ARCHITECTURES = ("default", "seed")
POLARITIES = ("auto", "on", "off")
COLOURS = ("auto", "on", "off")
# Image sides a model may be trained at (see `core.io.image_format`).
IMAGE_SIDES = (8, 128)
GOALS = ("auto", "trained-classes", "new-classes")
TRAINED_CLASSES, NEW_CLASSES = GOALS[1], GOALS[2]


def setting(
    default: Any,
    label: str,
    help: str,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    widget: str = "",
    step: float | None = None,
    decimals: int = 0,
    zero_text: str = "",
    percent: bool = False,
    plain: str = "",
) -> Any:
    """Declare one setting: a dataclass field whose metadata the CLI and the form read.

    Args:
        default: the value used when nobody sets it.
        label: the form's label (with an & for its keyboard shortcut).
        help: the setting in full, for those who know the terms (the CLI's help and the
            form's tooltip print it after `plain`).
        low: smallest allowed value (numbers).
        high: largest allowed value (numbers).
        choices: allowed values (text settings).
        widget: "spin", "float", "choice" or "check" (derived from the type if empty).
        step: the form's step for numbers.
        decimals: digits the form shows for floats.
        zero_text: what the form shows instead of 0 where 0 means something special.
        percent: a share, written as a percentage in words (`describe_settings`).
        plain: one line for someone new to the field, first in the CLI's help, the
            form's tooltip and the glossary (`core.app.glossary`).
    """
    if not widget:
        widget = (
            "check" if isinstance(default, bool)
            else "choice" if choices
            else "spin" if isinstance(default, int)
            else "float"
        )
    meta = dict(label=label, help=help, low=low, high=high, choices=choices, widget=widget,
                step=step, decimals=decimals, zero_text=zero_text, percent=percent,
                plain=plain or help)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainingConfig:
    """Every setting of a training run (see each field's declaration for its range)."""

    epochs: int = setting(
        0, "&Epochs:", "passes over the training images; 0 schedules by optimiser steps instead "
        "(see Steps)", 0, 10_000, zero_text="by steps",
        plain="How many times training goes through all the training images; 0 lets Steps decide "
        "instead.",
    )
    steps: int = setting(
        0, "S&teps:", "optimiser steps when Epochs is 0; 0 chooses them from the number of "
        "training images (see training.automatic_steps)", 0, 1_000_000, zero_text="automatic",
        plain="How many small learning steps to take when Epochs is 0; automatic picks a number to "
        "suit the amount of data.",
    )
    batch_size: int = setting(
        256, "&Batch size:", "images per batch; every pair inside a batch is a training pair", 4, 4096,
        plain="How many images the network looks at together in one learning step.",
    )
    learning_rate: float = setting(
        2e-3, "&Learning rate:", "Adam's initial step size, decayed to zero on a cosine",
        1e-5, 10.0, step=0.0005, decimals=5,
        plain="How big each learning step is: too big and training breaks down, too small and it "
        "learns slowly.",
    )
    margin: float = setting(
        1.0, "&Margin:", "different-class pairs are pushed at least this far apart",
        0.01, 100.0, step=0.1, decimals=2,
        plain="How far apart training pushes images of different classes; the default rarely needs "
        "changing.",
    )
    embedding_dim: int = setting(
        64, "Embedding si&ze:", "length of the embedding vector", 1, 1024,
        plain="How many numbers describe each image; more can hold finer detail but train slower.",
    )
    preset: str = setting(
        "default", "&Architecture:",
        "network: 'default' (fast, batch-normalised) or 'seed' (the tutorial's, bug fixed)",
        choices=ARCHITECTURES,
        plain="Which network design to train: 'default' is the faster one, 'seed' the original "
        "tutorial's.",
    )
    goal: str = setting(
        "auto", "&Goal:",
        "what the model is for: 'trained-classes' verifies new images of the classes it trains "
        "on (the learned network alone); 'new-classes' verifies classes it never saw (the "
        "learned network joined by the image's gradient histograms, see Histogram share); "
        "'auto' follows the split: new classes when classes are held out of training, else "
        "the trained classes",
        choices=GOALS,
        plain="What the model is for: new pictures of the kinds it trains on, or kinds it never "
        "saw; automatic decides from the split.",
    )
    histogram_share: float = setting(
        0.0, "&Histogram share:",
        "default architecture, goal new classes: share of each squared distance that comes "
        "from the image's gradient histograms, which hold for classes never trained on; 0 "
        "chooses it, and whether to whiten them, on a third of the training classes kept out "
        "of the first 4/5 of the steps (with fewer than 4 classes: 0.95, plain histograms)",
        0.0, 0.95, step=0.05, decimals=2, zero_text="automatic", percent=True,
        plain="How much the model also uses simple counts of edge directions, which work even on "
        "kinds of image it never saw; automatic picks it.",
    )
    seed: int = setting(
        0, "&Seed:", "seeds the weights, the shuffling and the data split", 0, 2**31 - 1,
        plain="A number that fixes the random choices: the same seed gives the same data split and "
        "the same starting point.",
    )
    validation_fraction: float = setting(
        0.1, "&Validation share:",
        "share of each class held out of training to validate and choose the threshold",
        0.01, 0.5, step=0.05, decimals=2, percent=True,
        plain="Part of each class's images set aside, not trained on, to choose the same/different cut-off.",
    )
    augment: bool = setting(
        False, "&Mirror images", "train on images mirrored left-right (and shifted by up to 2 px); "
        "the model then embeds each image as the mean of it and its mirror image. Off by "
        "default: mirroring turns a 2 into an S-like shape, and digits, letters and "
        "signatures are not symmetric",
        plain="Also train on left-right mirrored copies: helps with photos of objects, hurts with "
        "digits, letters and signatures.",
    )
    polarity: str = setting(
        "auto", "&Polarity:",
        "invert image files to light-on-dark: 'auto' decides per image from its border, "
        "'on' always, 'off' never; stored with the model and used whenever it reads files",
        choices=POLARITIES,
        plain="Whether image files are flipped to light-on-dark, as the network expects: auto decides "
        "for each image.",
    )
    image_size: int = setting(
        0, "&Image size:",
        "side in pixels of the square images the model sees, stored with it; 0 chooses it from "
        "the data (28 for grey images, 32 for colour ones); larger sizes keep more detail and "
        "cost more time (image folders only)",
        0, IMAGE_SIDES[1], zero_text="automatic",
        plain="How many pixels across the model looks at each image; automatic picks a size "
        "from your images.",
    )
    colour: str = setting(
        "auto", "C&olour:",
        "whether the model sees colour: 'auto' when the folder's images carry colour, 'on' "
        "always, 'off' never (grey); stored with the model (image folders only)",
        choices=COLOURS,
        plain="Whether the model sees colour or only light and dark; automatic uses colour when "
        "your images have it.",
    )

    def __post_init__(self):
        for spec in fields(self):
            check_setting(spec, getattr(self, spec.name))
        if 0 < self.image_size < IMAGE_SIDES[0]:
            raise ConfigError(f"image size must be 0 (automatic) or {IMAGE_SIDES[0]}-{IMAGE_SIDES[1]}, "
                              f"got {self.image_size}")

    def as_dict(self) -> dict:
        return asdict(self)

    def resolved_goal(self, open_set: bool) -> str:
        """The goal a run aims at: the setting, or for 'auto' the split's (`NEW_CLASSES`
        when classes are held out of training, `open_set`, else `TRAINED_CLASSES`)."""
        if self.goal != "auto":
            return self.goal
        return NEW_CLASSES if open_set else TRAINED_CLASSES

    @property
    def invert(self) -> bool | None:
        """The polarity as `core.images.load_image`'s `invert` argument."""
        return {"auto": None, "on": True, "off": False}[self.polarity]

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        """Build a config from a dict, ignoring keys it does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# (low, high) of each numeric setting, read off the declarations above.
LIMITS = {
    spec.name: (spec.metadata["low"], spec.metadata["high"])
    for spec in fields(TrainingConfig)
    if spec.metadata["low"] is not None
}


def settings() -> list:
    """The declared settings (dataclass fields with their metadata), in form order."""
    return list(fields(TrainingConfig))


def check_setting(spec, value) -> None:
    """Check one value against its declaration.

    Raises:
        ConfigError: naming the setting, the value and the allowed range.
    """
    meta = spec.metadata
    name = spec.name.replace("_", " ")
    if spec.type in ("bool", bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return
    if meta["choices"]:
        if value not in meta["choices"]:
            raise ConfigError(f"unknown {name} {value!r} (choose from {', '.join(meta['choices'])})")
        return
    integer = spec.type in ("int", int)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{name} must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    low, high = meta["low"], meta["high"]
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def setting_name(spec) -> str:
    """A setting's name as the form labels it, without its shortcut mark ("Batch size")."""
    return spec.metadata["label"].replace("&", "").rstrip(":")


def setting_help(spec) -> str:
    """A setting explained for the CLI's help and the form's tooltip: its plain line
    first, then its full description ("How many images ... In full: images per batch; ...")."""
    meta = spec.metadata
    if meta["plain"] == meta["help"]:
        return meta["plain"]
    return f"{meta['plain']} In full: {meta['help']}"


def setting_text(spec, value) -> str:
    """One setting's value in words, as the form shows it: "automatic" for a 0 that
    means so, "on"/"off", "10 %" for a share, "256", "0.002"."""
    meta = spec.metadata
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)) and math.isfinite(value):
        if value == 0 and meta["zero_text"]:
            return meta["zero_text"]
        if meta["percent"]:
            return f"{100 * value:.4g} %"
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return str(value)


# Settings that mean nothing under some others, left out of the description there.
_APPLIES = {
    "steps": lambda values: not values.get("epochs"),
    "histogram_share": lambda values: (values.get("preset", "default") == "default"
                                       and values.get("goal", NEW_CLASSES) != TRAINED_CLASSES),
}


def describe_settings(values: Mapping) -> str:
    """A model's training settings in words, in the form's order and with its names:
    "Epochs: by steps; Steps: automatic; Batch size: 256; ...; Mirror images: off".

    The one description of settings: the report, the command line and the app print
    this. Settings `values` lacks are left out, and so are those that do not apply
    (Steps when Epochs is set, Histogram share for the 'seed' architecture or the
    trained classes' goal); keys no
    setting declares (a newer version's) follow under their own names.

    Args:
        values: a `TrainingConfig.as_dict()`, or the "config" a model file records.
    """
    if not isinstance(values, Mapping):
        return ""
    declared = {spec.name: spec for spec in fields(TrainingConfig)}
    parts = [f"{setting_name(spec)}: {setting_text(spec, values[name])}"
             for name, spec in declared.items()
             if name in values and _APPLIES.get(name, lambda _: True)(values)]
    parts += [f"{str(name).replace('_', ' ')}: {value}" for name, value in values.items() if name not in declared]
    return "; ".join(parts)
