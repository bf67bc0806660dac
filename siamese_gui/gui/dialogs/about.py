"""The About dialog: what the app is and the versions it runs on."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

import siamese_gui


def _installed_version(package: str, *distributions: str) -> str:
    """The version of an imported `package`, else of the first installed distribution
    among `distributions` (the package's own name when none are given)."""
    module = sys.modules.get(package)
    if module is not None and hasattr(module, "__version__"):
        return module.__version__
    for distribution in distributions or (package,):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def versions() -> dict[str, str]:
    """Versions of the app and the libraries it uses, without importing TensorFlow."""
    return {
        "Siamese GUI": siamese_gui.__version__,
        # The CPU build (tensorflow-cpu) on x86-64 Linux; the full one elsewhere.
        "TensorFlow": _installed_version("tensorflow", "tensorflow-cpu", "tensorflow"),
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
