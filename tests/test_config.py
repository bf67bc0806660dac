"""TrainingConfig: valid defaults, every out-of-range setting refused with ConfigError."""

import dataclasses

import pytest

from siamese_gui.core.config import PRESETS, TrainingConfig
from siamese_gui.core.errors import ConfigError, SiameseError


def test_defaults_are_valid_and_round_trip_through_a_dict():
    config = TrainingConfig()
    assert config.preset in PRESETS
    assert TrainingConfig.from_dict(config.as_dict()) == config


def test_from_dict_ignores_unknown_keys():
    config = TrainingConfig.from_dict({"epochs": 3, "colour": "blue"})
    assert config.epochs == 3


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainingConfig().epochs = 5


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 3}, "batch size"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": float("inf")}, "learning rate"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"margin": 0.0}, "margin"),
        ({"embedding_dim": 0}, "embedding"),
        ({"preset": "huge"}, "preset"),
        ({"validation_fraction": 0.0}, "validation"),
        ({"validation_fraction": 0.95}, "validation"),
    ],
)
def test_out_of_range_settings_raise_config_error(changes, words):
    with pytest.raises(ConfigError, match=words) as info:
        TrainingConfig(**changes)
    assert isinstance(info.value, SiameseError)
