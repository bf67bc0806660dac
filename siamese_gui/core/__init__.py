"""Qt-free core: datasets, images, pairs, model, training, evaluation and storage.

Submodules that need TensorFlow (`model`, `training`, `store`) import it themselves,
so importing this package stays cheap.
"""

from siamese_gui.core.errors import (
    ConfigError,
    DatasetError,
    ImageError,
    ModelFileError,
    SiameseError,
    TrainingError,
)

__all__ = [
    "ConfigError",
    "DatasetError",
    "ImageError",
    "ModelFileError",
    "SiameseError",
    "TrainingError",
]
