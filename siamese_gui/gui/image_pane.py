"""One side of the Compare panel: an image as given and the 28x28 the model sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, Signal
from PySide6.QtGui import QAction, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.errors import ImageError
from siamese_gui.core.images import decode_image, load_image
from siamese_gui.gui.common import MUTED_COLOR, array_to_pixmap, array_to_qimage, show_error
from siamese_gui.gui.state import AppState

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
VIEW_SIZE = 240
MODEL_VIEW_SIZE = 84
MAX_PREVIEW_SIDE = 1024


@dataclass(frozen=True)
class PaneImage:
    """An image in a pane.

    Attributes:
        array: the model's float32 (28, 28) input in [0, 1].
        original: the image as given, for display.
        caption: where it came from (file name, "clipboard", dataset class).
        label: its class index in the current dataset, or None when unknown.
    """

    array: np.ndarray
    original: QImage
    caption: str
    label: int | None = None


def _preview(path: Path, fallback: np.ndarray) -> QImage:
    """Read a file for display with Qt (upright, at most MAX_PREVIEW_SIDE), else the 28x28."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > MAX_PREVIEW_SIDE:
        reader.setScaledSize(size.scaled(MAX_PREVIEW_SIDE, MAX_PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return image if not image.isNull() else array_to_qimage(fallback)


def qimage_to_png(image: QImage) -> bytes:
    """Encode a QImage as PNG bytes."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def heat_overlay(image: np.ndarray, heat: np.ndarray, scale: float) -> QImage:
    """The gray image with `heat` (0..scale) blended on top in red to yellow."""
    gray = np.clip(np.asarray(image, np.float32), 0.0, 1.0)[..., None] * 0.75
    strength = np.clip(np.asarray(heat, np.float32) / max(float(scale), 1e-12), 0.0, 1.0)[..., None]
    # Red at low strength, yellow at full: (1, strength, 0).
    color = np.concatenate([np.ones_like(strength), strength, np.zeros_like(strength)], axis=2)
    alpha = 0.85 * strength
    rgb = np.round((gray * (1 - alpha) + color * alpha) * 255).astype(np.uint8)
    height, width = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class _ImageView(QLabel):
    def __init__(self, size: int, placeholder: str):
        super().__init__(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(size, size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet(
            f"background: #f4f5f7; border: 1px dashed #b8bcc4; border-radius: 6px; color: {MUTED_COLOR};"
        )
        self.setWordWrap(True)
        self._image: QImage | None = None

    def set_image(self, image: QImage | None, smooth: bool = True) -> None:
        self._image = image
        self._smooth = smooth
        self._render()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self._image is None:
            self.setPixmap(QPixmap())
            return
        side = max(min(self.width(), self.height()) - 12, 16)
        mode = Qt.TransformationMode.SmoothTransformation if self._smooth else Qt.TransformationMode.FastTransformation
        scaled = self._image.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(QPixmap.fromImage(scaled))


class ImagePane(QFrame):
    """Takes an image by drag and drop, Open…, Paste or From dataset.

    A bad image shows the core's message in a dialog and the previous image stays.

    Signals:
        imageChanged: a new image was accepted.
    """

    imageChanged = Signal()

    def __init__(self, title: str, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.title = title
        self.image: PaneImage | None = None
        self.overlay: np.ndarray | None = None
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("imagePane")
        self.setStyleSheet("#imagePane { background: white; border: 1px solid #d5d8dd; border-radius: 8px; }")

        heading = QLabel(title)
        heading.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.caption = QLabel("No image")
        self.caption.setStyleSheet(f"color: {MUTED_COLOR};")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = _ImageView(VIEW_SIZE, "Drop an image here\nor use the buttons below")
        self.model_view = QLabel()
        self.model_view.setFixedSize(MODEL_VIEW_SIZE + 4, MODEL_VIEW_SIZE + 4)
        self.model_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_view.setStyleSheet("background: black; border: 1px solid #999;")
        self.model_view.setToolTip("The 28x28 grayscale image the model sees")
        model_caption = QLabel("What the model sees\n(28 × 28, light on dark)")
        model_caption.setStyleSheet(f"color: {MUTED_COLOR}; font-size: 11px;")

        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip(f"Open an image file for {title}")
        self.open_button.clicked.connect(lambda: self.open_file())
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Paste an image from the clipboard")
        self.paste_button.clicked.connect(self.paste)
        self.dataset_button = QToolButton()
        self.dataset_button.setText("From dataset")
        self.dataset_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.dataset_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.dataset_menu = QMenu(self)
        self.dataset_menu.aboutToShow.connect(self._fill_dataset_menu)
        self.dataset_button.setMenu(self.dataset_menu)

        header = QHBoxLayout()
        header.addWidget(heading)
        header.addStretch(1)
        header.addWidget(self.caption)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_view)
        model_row.addWidget(model_caption)
        model_row.addStretch(1)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.paste_button, self.dataset_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addLayout(model_row)
        layout.addLayout(buttons)
        self._show_model_input(None)

    # Taking images -------------------------------------------------------------------

    def open_file(self, path: str | Path | None = None) -> bool:
        """Load an image file (asking for one when `path` is None).

        Returns:
            Whether the image was accepted.
        """
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"Open image for {self.title}", "", IMAGE_FILTER)
            if not path:
                return False
        path = Path(path)
        try:
            array = load_image(path)
        except ImageError as exc:
            show_error(self, "Cannot open image", str(exc))
            return False
        self.set_image(PaneImage(array, _preview(path, array), path.name))
        return True

    def load_qimage(self, image: QImage, name: str = "pasted image") -> bool:
        """Use an in-memory image (from the clipboard or a drop)."""
        try:
            array = decode_image(qimage_to_png(image), name)
        except ImageError as exc:
            show_error(self, "Cannot use image", str(exc))
            return False
        self.set_image(PaneImage(array, image.copy(), name))
        return True

    def paste(self) -> bool:
        """Take the image (or image file) on the clipboard."""
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                return self.load_qimage(image, "pasted image")
        if mime is not None and mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if local:
                return self.open_file(local[0])
        show_error(self, "Nothing to paste", "The clipboard holds no image or image file.")
        return False

    def set_from_dataset(self, index: int) -> None:
        """Show image `index` of the current evaluation data."""
        data = self.state.test_data
        if data is None:
            return
        array = data.images[index].astype(np.float32) / 255.0
        label = int(data.labels[index])
        caption = f"{data.class_names[label]} · #{index}"
        self.set_image(PaneImage(array, array_to_qimage(data.images[index]), caption, label))

    def random_from_dataset(self, label: int | None = None) -> bool:
        """Show a random dataset image, of class `label` when given."""
        data = self.state.test_data
        if data is None:
            show_error(self, "No data", "No dataset is loaded yet.")
            return False
        rng = np.random.default_rng()
        candidates = np.flatnonzero(data.labels == label) if label is not None else np.arange(len(data))
        if not len(candidates):
            return False
        self.set_from_dataset(int(rng.choice(candidates)))
        return True

    def set_overlay(self, heat: np.ndarray | None, scale: float = 1.0) -> None:
        """Draw a (28, 28) heat map over the model's input in the large view; None removes it.

        Args:
            heat: non-negative values; `scale` maps to full colour.
            scale: the value drawn at full strength (shared by both panes of a pair).
        """
        self.overlay = None if heat is None or self.image is None else np.asarray(heat, np.float32)
        if self.image is None:
            return
        if self.overlay is None:
            small = self.image.original.width() <= 64 and self.image.original.height() <= 64
            self.view.set_image(self.image.original, smooth=not small)
        else:
            self.view.set_image(heat_overlay(self.image.array, self.overlay, scale), smooth=False)

    def set_image(self, image: PaneImage | None) -> None:
        """Show `image` (None clears the pane) and announce the change."""
        self.image = image
        self.overlay = None
        if image is None:
            self.view.set_image(None)
            self.view.setText("Drop an image here\nor use the buttons below")
            self.caption.setText("No image")
        else:
            self.view.setText("")
            small = image.original.width() <= 64 and image.original.height() <= 64
            self.view.set_image(image.original, smooth=not small)
            self.caption.setText(image.caption)
        self._show_model_input(image.array if image else None)
        self.imageChanged.emit()

    def _show_model_input(self, array: np.ndarray | None) -> None:
        if array is None:
            self.model_view.setPixmap(QPixmap())
        else:
            self.model_view.setPixmap(array_to_pixmap(array, MODEL_VIEW_SIZE))

    def _fill_dataset_menu(self) -> None:
        self.dataset_menu.clear()
        data = self.state.test_data
        if data is None:
            action = self.dataset_menu.addAction("No dataset loaded yet")
            action.setEnabled(False)
            return
        random_action = self.dataset_menu.addAction("Random image")
        random_action.triggered.connect(lambda: self.random_from_dataset())
        self.dataset_menu.addSeparator()
        for label, name in enumerate(data.class_names):
            action = QAction(f"Random {name}", self.dataset_menu)
            action.triggered.connect(lambda _=False, label=label: self.random_from_dataset(label))
            self.dataset_menu.addAction(action)

    # Drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if mime.hasImage() or any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if local:
            self.open_file(local[0])
        elif mime.hasImage():
            self.load_qimage(QImage(mime.imageData()), "dropped image")
        event.acceptProposedAction()
