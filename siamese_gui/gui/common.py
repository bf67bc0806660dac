"""Small helpers shared by the panels: colours, image conversion, dialogs, remembered folders
and theme."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import QMessageBox, QWidget

from siamese_gui.core.errors import ConfigError
from siamese_gui.core.evaluation.metrics import Verdict
from siamese_gui.gui import THEME_ENV, THEMES
from siamese_gui.gui.theme import ThemeColor

# One colour language for the whole app (see `theme`): a verdict is blue or orange,
# right or wrong green or red. Each name formats as its colour for the palette now, so
# rich text written when shown follows the theme; its writer writes again on
# `theme.on_change`.
SAME_COLOR = ThemeColor("same")
DIFFERENT_COLOR = ThemeColor("different")
RIGHT_COLOR = ThemeColor("right")
WRONG_COLOR = ThemeColor("wrong")
VERDICT_COLORS = {Verdict.SAME: SAME_COLOR, Verdict.DIFFERENT: DIFFERENT_COLOR}
MUTED_COLOR = ThemeColor("muted")
NOTICE_COLOR = ThemeColor("notice")

SETTINGS_ORGANIZATION = "siamese-gui"
SETTINGS_APPLICATION = "siamese-gui"


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a uint8 copy of a uint8 or [0, 1] float image."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    return np.ascontiguousarray(np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8))


def array_to_qimage(image: np.ndarray) -> QImage:
    """Convert a gray (H, W) or RGB (H, W, 3) uint8 or [0, 1] float array to a QImage
    that owns its pixels."""
    pixels = to_uint8(image)
    height, width = pixels.shape[:2]
    if pixels.ndim == 3:
        return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


def device_pixel_ratio(widget: QWidget | None = None) -> float:
    """How many device pixels a logical pixel covers: the widget's screen's, or else the
    highest of the application's screens (2 on a high-DPI screen or under QT_SCALE_FACTOR=2)."""
    if widget is not None:
        return widget.devicePixelRatioF()
    app = QGuiApplication.instance()
    return app.devicePixelRatio() if app is not None else 1.0


def scaled_pixmap(image: QImage, side: int, ratio: float, smooth: bool = True) -> QPixmap:
    """`image` fitted into `side` x `side` logical pixels, drawn with every device pixel.

    Built at the logical size, a pixmap is stretched by the screen's pixel ratio when
    painted: blurry (or blocky) at 2x. Built at `side * ratio` device pixels and marked
    with that ratio, it takes the same room and is sharp.
    """
    device = max(1, math.ceil(side * ratio))
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    pixmap = QPixmap.fromImage(image.scaled(device, device, Qt.AspectRatioMode.KeepAspectRatio, mode))
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def array_to_pixmap(image: np.ndarray, size: int, ratio: float | None = None) -> QPixmap:
    """Return an image scaled to `size` x `size` logical pixels with sharp, unsmoothed
    pixels, at `ratio` device pixels per logical pixel (see `device_pixel_ratio`)."""
    ratio = device_pixel_ratio() if ratio is None else ratio
    return scaled_pixmap(array_to_qimage(image), size, ratio, smooth=False)


SOURCE_ITEM_PX = 260  # the widest a chosen source's name makes its combo box


def set_source_item(combo, row: int, text: str, full: str) -> None:
    """Name a chosen source (a folder, a file) in a combo box sized to its items: a long
    name is shortened in the middle, and the item's and the box's tooltips hold `full`."""
    shown = combo.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, SOURCE_ITEM_PX)
    combo.setItemText(row, shown)
    combo.setItemData(row, full, Qt.ItemDataRole.ToolTipRole)
    if combo.currentIndex() == row:
        combo.setToolTip(full)


def follow_item_tooltips(combo, default: str) -> None:
    """Give a combo box the tooltip of its current item (`default` for an item without one)."""
    def follow(row: int) -> None:
        combo.setToolTip(combo.itemData(row, Qt.ItemDataRole.ToolTipRole) or default)

    combo.currentIndexChanged.connect(follow)
    follow(combo.currentIndex())


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """Show an error message from the core in a modal dialog."""
    QMessageBox.warning(parent, title, message)


def ask(parent: QWidget | None, title: str, question: str) -> bool:
    """Ask a yes/no question in a modal dialog; True when the answer is Yes."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, question, buttons, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def verdict_text(verdict: Verdict) -> str:
    """"Same" or "Different"."""
    return verdict.value.capitalize()


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """"1 file", "2 files", "1,000 classes" (`nouns` when adding "s" is wrong)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {nouns or noun + 's'}"


def settings() -> QSettings:
    """The app's persistent settings (an INI file in the user's config folder)."""
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, SETTINGS_ORGANIZATION, SETTINGS_APPLICATION
    )


def last_folder(kind: str) -> str:
    """The folder a file dialog of `kind` ("images", "models", ...) last used, or ""."""
    folder = settings().value(f"folders/{kind}", "", str)
    return folder if folder and Path(folder).is_dir() else ""


def remember_folder(kind: str, path: str | Path) -> None:
    """Remember the folder of `path` (or `path` itself, if a folder) for dialogs of `kind`."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    settings().setValue(f"folders/{kind}", str(folder))


def in_folder(kind: str, name: str) -> str:
    """A file name inside the folder last used for `kind`, for a Save dialog's suggestion."""
    folder = last_folder(kind)
    return str(Path(folder) / name) if folder else name


RECENT_LIMIT = 8


def recent_files(kind: str) -> list[str]:
    """The files or folders of `kind` ("models", "datasets") opened lately, newest first."""
    value = settings().value(f"recent/{kind}", [])
    if isinstance(value, str):  # QSettings hands back a one-item list as its item
        value = [value]
    return [str(v) for v in value or [] if v][:RECENT_LIMIT]


def add_recent(kind: str, path: str | Path) -> None:
    """Put `path` first in the recent list of `kind`."""
    path = str(path)
    settings().setValue(f"recent/{kind}", [path] + [p for p in recent_files(kind) if p != path][:RECENT_LIMIT - 1])


def clear_recent() -> None:
    """Forget every recent model and dataset."""
    store = settings()
    store.remove("recent")


def remembered_model_path() -> Path | None:
    """The model in use when the app last closed (None: the shipped one)."""
    path = settings().value("session/model", "", str)
    return Path(path) if path else None


def remembered_theme() -> str:
    """The theme chosen in View > Theme ("system" until one is)."""
    theme = settings().value("view/theme", "system", str)
    return theme if theme in THEMES else "system"


def remember_theme(theme: str) -> None:
    """Remember the theme chosen in View > Theme for the next launch."""
    settings().setValue("view/theme", theme)


def startup_theme(requested: str | None = None) -> str:
    """The theme to start in: `requested` (a command-line choice), else $SIAMESE_GUI_THEME,
    else the one chosen in View > Theme, else the system's.

    Raises:
        ConfigError: $SIAMESE_GUI_THEME names no theme.
    """
    if requested:
        return requested
    from_env = os.environ.get(THEME_ENV, "").strip().lower()
    if from_env:
        if from_env not in THEMES:
            raise ConfigError(f"${THEME_ENV}: {from_env!r} is not a theme (one of {', '.join(THEMES)})")
        return from_env
    return remembered_theme()
