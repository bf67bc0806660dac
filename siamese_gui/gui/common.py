"""Small helpers shared by the panels: image conversion, colours, message dialogs."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QMessageBox, QWidget

RIGHT_COLOR = "#1e8e3e"
WRONG_COLOR = "#d93025"
SAME_COLOR = "#1e8e3e"
DIFFERENT_COLOR = "#c5221f"
MUTED_COLOR = "#6b6b6b"


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a uint8 copy of a uint8 or [0, 1] float image."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    return np.ascontiguousarray(np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8))


def array_to_qimage(image: np.ndarray) -> QImage:
    """Convert a gray (H, W) uint8 or [0, 1] float array to a QImage that owns its pixels."""
    pixels = to_uint8(image)
    height, width = pixels.shape
    return QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


def array_to_pixmap(image: np.ndarray, size: int) -> QPixmap:
    """Return an image scaled to `size` x `size` pixels with sharp, unsmoothed pixels."""
    return QPixmap.fromImage(
        array_to_qimage(image).scaled(
            size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
    )


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """Show an error message from the core in a modal dialog."""
    QMessageBox.warning(parent, title, message)


def show_info(parent: QWidget | None, title: str, message: str) -> None:
    """Show an informational message in a modal dialog."""
    QMessageBox.information(parent, title, message)


def verdict_text(same: bool) -> str:
    return "Same" if same else "Different"
