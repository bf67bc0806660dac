"""Qt-free core: datasets, images, pairs, model, training, evaluation and storage.

Submodules that need TensorFlow (`model`, `training`, `store`) import it themselves,
so importing this package stays cheap. It tunes malloc first, before any
TensorFlow thread allocates (see `memory.tune_malloc`).
"""

from siamese_gui.core.memory import tune_malloc

from siamese_gui.core.errors import (
    ConfigError,
    DatasetError,
    ImageError,
    ModelFileError,
    SiameseError,
    TrainingError,
)

tune_malloc()

__all__ = [
    "ConfigError",
    "DatasetError",
    "ImageError",
    "ModelFileError",
    "SiameseError",
    "TrainingError",
]
