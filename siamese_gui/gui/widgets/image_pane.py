"""One side of the Compare panel: an image as given and the input the model sees (its
size, grey or colour)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, Qt, QUrl, Signal
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

from siamese_gui.core.data.datasets import IMAGE_SUFFIXES
from siamese_gui.core.io.image_format import GREY_28, ImageFormat
from siamese_gui.core.io.images import decode_image, is_blank, load_image
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    array_to_pixmap,
    array_to_qimage,
    device_pixel_ratio,
    last_folder,
    remember_folder,
    scaled_pixmap,
    show_error,
)
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.elided_label import ElidedLabel
from siamese_gui.gui.workers import error_text

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
VIEW_SIZE = 240
MODEL_VIEW_SIZE = 84
MAX_PREVIEW_SIDE = 1024
# Class folders may carry a sort index, as the bundled samples do ("7_Sneaker").
_INDEX_PREFIX = re.compile(r"^\d+_")


@dataclass(frozen=True)
class PaneImage:
    """An image in a pane.

    Attributes:
        array: the model's float32 input in [0, 1]: (H, W) grey or (H, W, 3) colour.
        original: the image as given, for display.
        caption: where it came from (file name, "clipboard", dataset class).
        label: its class index in the current dataset, or None when unknown.
        index: its index in the current dataset, for a dataset image.
    """

    array: np.ndarray
    original: QImage
    caption: str
    label: int | None = None
    index: int | None = None


def _comparable(name: str) -> str:
    return name.casefold().replace("/", "-").replace(" ", "")


def folder_class(path: Path, class_names: tuple[str, ...] = ()) -> tuple[str | None, int | None]:
    """The class an image file's folder stands for, and its index in `class_names`.

    The folder counts as a class folder when its name (without an "N_" index prefix)
    is one of `class_names`, or when it carries such a prefix.

    Returns:
        (class name, index in `class_names`), each None when unknown.
    """
    folder = path.parent.name
    name = _INDEX_PREFIX.sub("", folder)
    for index, known in enumerate(class_names):
        if _comparable(known) == _comparable(name):
            return known, index
    if name and name != folder:
        return name, None
    return None, None


def path_from_text(text: str) -> Path | None:
    """The image file a pasted text names (a plain path or a file:// URL), if it exists."""
    text = text.strip().strip('"').strip("'")
    if not text or "\n" in text:
        return None
    if text.startswith("file:"):
        url = QUrl(text)
        if not url.isLocalFile():
            return None
        text = url.toLocalFile()
    path = Path(text).expanduser()
    try:
        return path if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES else None
    except OSError:
        return None


def _preview(path: Path, fallback: np.ndarray) -> QImage:
    """Read a file for display with Qt (upright, at most MAX_PREVIEW_SIDE), else the model's input."""
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
    """The image (grey or RGB) with `heat` (0..scale) blended on top in red to yellow."""
    gray = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    gray = (gray if gray.ndim == 3 else gray[..., None]) * 0.75
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
        self.placeholder = placeholder
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(size, size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        theme.set_style(self, lambda c: f"background: {c.drop_zone}; border: 1px dashed {c.drop_border}; "
                        f"border-radius: 6px; color: {c.muted};")
        self.setWordWrap(True)
        self._image: QImage | None = None

    def set_image(self, image: QImage | None, smooth: bool = True) -> None:
        self._image = image
        self._smooth = smooth
        self._render()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._render()

    def event(self, event) -> bool:
        # Moved to a screen of another pixel ratio: drawn again with that many pixels.
        if event.type() == getattr(QEvent.Type, "DevicePixelRatioChange", None):
            self._render()
        return super().event(event)

    def _render(self) -> None:
        if self._image is None:
            # setPixmap would clear the placeholder text, so only text is set here.
            if self.text() != self.placeholder:
                self.setText(self.placeholder)
            return
        side = max(min(self.width(), self.height()) - 12, 16)
        self.setPixmap(scaled_pixmap(self._image, side, device_pixel_ratio(self), self._smooth))


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
        theme.set_style(self, lambda c: f"#imagePane {{ background: {c.pane}; border: 1px solid {c.frame}; "
                        "border-radius: 8px; }")

        heading = QLabel(title)
        heading.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.caption = ElidedLabel("No image")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        theme.set_style(self.caption, lambda c: f"color: {c.muted};")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = _ImageView(VIEW_SIZE, "Drop an image here\nor use the buttons below")
        self.model_view = QLabel()
        self.model_view.setFixedSize(MODEL_VIEW_SIZE + 4, MODEL_VIEW_SIZE + 4)
        self.model_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_style(self.model_view, lambda c: f"background: {c.model_input}; border: 1px solid {c.frame};")
        self.model_caption = model_caption = QLabel()
        theme.set_style(model_caption, lambda c: f"color: {c.muted}; font-size: 11px;")

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
        header.addWidget(self.caption, 1)
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
            path, _ = QFileDialog.getOpenFileName(
                self, f"Open image for {self.title}", last_folder("images"), IMAGE_FILTER
            )
            if not path:
                return False
            remember_folder("images", path)
        path = Path(path)
        invert, fmt = self._invert(), self._format()
        data = self.state.test_data
        name, label = folder_class(path, data.class_names if data is not None else ())
        caption = f"{name} · {path.name}" if name else path.name

        def read():  # on the worker: a 6000 x 6000 photo must not freeze the window
            array = load_image(path, invert=invert, image_format=fmt)
            return array, _preview(path, array)

        self._decode(read, lambda result: PaneImage(result[0], result[1], caption, label),
                     "Cannot open image", f"Reading {path.name}…")
        return True

    def load_qimage(self, image: QImage, name: str = "pasted image") -> bool:
        """Use an in-memory image (from the clipboard or a drop)."""
        image = image.copy()
        invert, fmt = self._invert(), self._format()

        def read():
            return decode_image(qimage_to_png(image), name, invert=invert, image_format=fmt), image

        self._decode(read, lambda result: PaneImage(result[0], result[1], name),
                     "Cannot use image", f"Reading the {name}…")
        return True

    def _invert(self) -> bool | None:
        """The polarity the current model was trained with (None: decide per image)."""
        model = self.state.model
        config = (model.metadata.get("config") or {}) if model is not None else {}
        return {"on": True, "off": False}.get(config.get("polarity"))

    def follow_model(self) -> bool:
        """Read the image again when the current model sees another size or colour than it
        was read at (a dataset image is dropped: the data are read again for the model).

        Returns:
            Whether the pane's image is being replaced (it announces the new one).
        """
        image, fmt = self.image, self._format()
        if image is None:
            self._show_model_input(None)  # the caption names the new model's input
            return False
        if image.array.shape == fmt.image_shape:
            return False
        if image.index is not None:
            self.set_image(None)
            return True
        return self.load_qimage(image.original, image.caption)

    def _format(self) -> ImageFormat:
        """The images the current model sees (28 x 28 grey without a model)."""
        model = self.state.model
        return model.image_format if model is not None else GREY_28

    def _decode(self, read, make, error_title: str, description: str) -> None:
        """Decode on the session's worker; a newer image for this pane supersedes it."""

        def done(result) -> None:
            image = make(result)
            if is_blank(image.array):
                image = PaneImage(image.array, image.original, f"⚠ {image.caption}: no object found",
                                  image.label, image.index)
            self.set_image(image)

        self.state.runner.submit(read, done, lambda exc: show_error(self, error_title, error_text(exc)),
                                 description, key=f"image {self.title}")

    def paste(self) -> bool:
        """Take the image on the clipboard, or the image file it names (file, URL or path text)."""
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                return self.load_qimage(image, "pasted image")
        if mime is not None and mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if local:
                return self.open_file(local[0])
        if mime is not None and mime.hasText():
            path = path_from_text(mime.text())
            if path is not None:
                return self.open_file(path)
        show_error(self, "Nothing to paste", "The clipboard holds no image, image file or path to one.")
        return False

    def set_from_dataset(self, index: int) -> None:
        """Show image `index` of the current evaluation data."""
        data = self.state.test_data
        if data is None:
            return
        array = data.images[index].astype(np.float32) / 255.0
        label = int(data.labels[index])
        caption = f"{data.class_names[label]} · #{index}"
        self.set_image(PaneImage(array, array_to_qimage(data.images[index]), caption, label, index))

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
            self.caption.setText("No image")
        else:
            self.view.setText("")
            small = image.original.width() <= 64 and image.original.height() <= 64
            self.view.set_image(image.original, smooth=not small)
            self.caption.setText(image.caption)
        self._show_model_input(image.array if image else None)
        self.imageChanged.emit()

    def _show_model_input(self, array: np.ndarray | None) -> None:
        # The caption names the input shown (or, with none, the model's): exactly its pixels.
        fmt = ImageFormat.of_images(np.asarray(array)[None]) if array is not None else self._format()
        look = "colour, as it is" if fmt.colour else "grey, light on dark"
        self.model_caption.setText(f"What the model sees\n({fmt.height} × {fmt.width}, {look})")
        self.model_view.setToolTip(f"The {fmt.describe()} image the model sees, pixel for pixel")
        if array is None:
            self.model_view.setPixmap(QPixmap())
        else:
            self.model_view.setPixmap(array_to_pixmap(array, MODEL_VIEW_SIZE, device_pixel_ratio(self)))

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
