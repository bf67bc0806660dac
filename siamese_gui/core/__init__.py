"""Qt-free core: image files, data, models, training, evaluation, runtimes and use cases.

Sub-packages are layered (see ARCHITECTURE.md); importing any of them has no side
effects and does not import TensorFlow: the modules that need it import it themselves.
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
