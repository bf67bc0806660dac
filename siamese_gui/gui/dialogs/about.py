"""The About dialog: what the app is and the versions it runs on."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

import siamese_gui


def _installed_version(package: str) -> str:
    module = sys.modules.get(package)
    if module is not None and hasattr(module, "__version__"):
        return module.__version__
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of the app and the libraries it uses, without importing TensorFlow."""
    return {
        "Siamese GUI": siamese_gui.__version__,
        "TensorFlow": _installed_version("tensorflow"),
        "Keras": _installed_version("keras"),
        "Qt": qVersion(),
        "PySide6": pyside_version,
        "NumPy": _installed_version("numpy"),
        "Matplotlib": _installed_version("matplotlib"),
        "OpenCV": _installed_version("opencv-python-headless"),
        "Python": platform.python_version(),
    }


class AboutDialog(QDialog):
    """Shows the app's purpose and versions."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Siamese GUI")
        rows = "".join(f"<tr><td>{name}</td><td><b>{value}</b></td></tr>" for name, value in versions().items())
        text = QLabel(
            "<h2>Siamese GUI</h2>"
            "<p>Train a Siamese network on images, compare two images and tune the "
            "same/different threshold.</p>"
            f"<table cellspacing='0' cellpadding='3'>{rows}</table>"
        )
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
