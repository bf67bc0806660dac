"""Find the shipped `models/` and `resources/` folders, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[2]
_DEFAULT_MODEL_NAME = "fashion_mnist.keras"


def data_dir(name: str) -> Path:
    """Return the shipped top-level folder `name` ("models" or "resources").

    A wheel carries it inside the package as `siamese_gui/_data/<name>`; a source
    checkout has it beside the package.

    Raises:
        FileNotFoundError: if neither place holds it.
    """
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped folder {name!r} was not found next to {_PACKAGE_DIR}")


def resource_path(*parts: str) -> Path:
    """Return the path of a file under the shipped `resources/` folder."""
    return data_dir("resources").joinpath(*parts)


def default_model_path() -> Path:
    """Return the path of the shipped default model."""
    return data_dir("models") / _DEFAULT_MODEL_NAME


def samples_dir() -> Path:
    """Return the folder of bundled sample images (one sub-folder per class)."""
    return resource_path("samples")
