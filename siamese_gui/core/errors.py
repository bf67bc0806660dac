"""Errors a user can cause. Each message names the file (if any) and what is wrong."""


class SiameseError(Exception):
    """Base class of every error the user can cause and the app reports."""


class DatasetError(SiameseError):
    """A dataset file or folder is missing, malformed or unusable."""


class ImageError(SiameseError):
    """An image file cannot be read or turned into the model's input."""


class ModelFileError(SiameseError):
    """A model file cannot be loaded, or saved, safely."""


class TrainingError(SiameseError):
    """Training failed (for example the loss became NaN)."""


class ConfigError(SiameseError):
    """A setting is out of its valid range."""
