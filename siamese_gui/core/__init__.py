"""Qt-free core: datasets, images, pairs, model, training, evaluation and storage.

Submodules that need TensorFlow (`model`, `training`, `store`) import it themselves,
so importing this package stays cheap. It caps malloc arenas first, before any
TensorFlow thread allocates (see `memory.cap_malloc_arenas`).
"""

from siamese_gui.core.memory import cap_malloc_arenas

from siamese_gui.core.errors import (
    ConfigError,
    DatasetError,
    ImageError,
    ModelFileError,
    SiameseError,
    TrainingError,
)

cap_malloc_arenas()

__all__ = [
    "ConfigError",
    "DatasetError",
    "ImageError",
    "ModelFileError",
    "SiameseError",
    "TrainingError",
]
