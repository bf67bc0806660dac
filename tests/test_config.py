"""TrainingConfig: valid defaults, every out-of-range setting refused with ConfigError."""

import dataclasses

import pytest

from siamese_gui.core.errors import ConfigError, SiameseError
from siamese_gui.core.model.config import ARCHITECTURES, TrainingConfig, settings


def test_defaults_are_valid_and_round_trip_through_a_dict():
    config = TrainingConfig()
    assert config.preset in ARCHITECTURES
    assert TrainingConfig.from_dict(config.as_dict()) == config


def test_from_dict_ignores_unknown_keys():
    config = TrainingConfig.from_dict({"epochs": 3, "hue": "blue"})
    assert config.epochs == 3


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainingConfig().epochs = 5


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"epochs": -1}, "epochs"),
        ({"steps": -1}, "steps"),
        ({"histogram_share": 0.99}, "histogram share"),
        ({"batch_size": 3}, "batch size"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": float("inf")}, "learning rate"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"margin": 0.0}, "margin"),
        ({"embedding_dim": 0}, "embedding"),
        ({"preset": "huge"}, "preset"),
        ({"validation_fraction": 0.0}, "validation"),
        ({"validation_fraction": 0.95}, "validation"),
        ({"embedding_dim": 100_000}, "embedding dim"),
        ({"epochs": 10**12}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"polarity": "sideways"}, "polarity"),
        ({"augment": "yes"}, "augment"),
    ],
)
def test_out_of_range_settings_raise_config_error(changes, words):
    with pytest.raises(ConfigError, match=words) as info:
        TrainingConfig(**changes)
    assert isinstance(info.value, SiameseError)


def test_every_setting_is_declared_with_label_help_and_range():
    for spec in settings():
        meta = spec.metadata
        assert meta["label"] and meta["help"], spec.name
        if meta["widget"] in ("spin", "float"):
            assert meta["low"] is not None and meta["high"] is not None, spec.name
        if meta["widget"] == "choice":
            assert getattr(TrainingConfig(), spec.name) in meta["choices"]


def test_cli_options_are_generated_from_the_declarations():
    from siamese_gui.cli.commands import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    options = {o for action in train._actions for o in action.option_strings}
    for spec in settings():
        assert "--" + spec.name.replace("_", "-") in options
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--out", "x.keras", "--embedding-dim", "1e9"])
    args = parser.parse_args(["train", "--out", "x.keras", "--no-augment", "--polarity", "on"])
    assert args.augment is False and args.polarity == "on"
