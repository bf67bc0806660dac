"""The Gallery panel: a grid of evaluation pairs with their distance and verdict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.evaluation.metrics import Verdict, judged_same, verdict_of
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    array_to_pixmap,
    verdict_text,
)
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.elided_label import ElidedLabel
from siamese_gui.gui.widgets.neutral_tooltips import NeutralTooltips

FILTERS = ("all", "mistakes", "hardest")
FILTER_LABELS = ("All pairs", "Mistakes only", "Hardest pairs")
DEFAULT_COUNT = 12
MIN_TILE_WIDTH = 200
MAX_TILE_WIDTH = 420
TILE_CHROME = 30  # tile margins, border and the gap between the two thumbnails
CAPTION_PADDING = 10


def choose_pairs(
    distances: np.ndarray, same: np.ndarray, threshold: float, count: int, seed: int, mode: str
) -> np.ndarray:
    """Pick which evaluation pairs the gallery shows.

    Args:
        distances: distance of every evaluation pair.
        same: ground truth of every pair.
        threshold: the current threshold.
        count: how many to show.
        seed: seeds the shuffle, so a demo can be repeated.
        mode: "all" (random pairs), "mistakes" (random wrongly judged pairs) or
            "hardest" (pairs furthest on the wrong side of the threshold, or nearest it).

    Returns:
        Indices into the pairs.
    """
    distances = np.asarray(distances)
    same = np.asarray(same, bool)
    if mode not in FILTERS:
        raise ValueError(f"unknown gallery filter {mode!r}")
    if mode == "hardest":
        # Positive when judged wrong, larger the further the distance sits on the wrong side.
        wrongness = np.where(same, distances - threshold, threshold - distances)
        return np.argsort(-wrongness, kind="stable")[:count]
    order = np.random.default_rng(seed).permutation(len(distances))
    if mode == "mistakes":
        wrong = judged_same(distances, threshold) != same
        order = order[wrong[order]]
    return order[:count]


class PairTile(QFrame):
    """One pair: two thumbnails, class names, distance, truth and the verdict.

    The verdict chip has the verdict's colour (same/different); the border says whether
    the verdict was right or wrong.

    Signals:
        activated(int, int): clicked; the test-split indices of the two images.
    """

    activated = Signal(int, int)

    def __init__(self, images, names, indices, distance: float, same: bool, parent=None):
        super().__init__(parent)
        self.indices = indices
        self.distance = float(distance)
        self.same = bool(same)
        self.correct: bool | None = None
        self.judged: Verdict | None = None
        self.images = images
        self.pictures: list[QLabel] = []
        self.setObjectName("pairTile")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(tooltip("Distance") + tooltip("Verdict") + "<p>Click to open this pair in Compare.</p>")

        thumbs = QHBoxLayout()
        thumbs.setSpacing(6)
        for image, name in zip(images, names):
            column = QVBoxLayout()
            column.setSpacing(2)
            picture = QLabel()
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.pictures.append(picture)
            caption = QLabel(name)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setStyleSheet("font-size: 11px;")
            column.addWidget(picture, 0, Qt.AlignmentFlag.AlignCenter)
            column.addWidget(caption)
            thumbs.addLayout(column)
        truth = "= same class" if self.same else "≠ different class"
        self.info = QLabel(f"d = {self.distance:.3f}   ·   {truth}")
        self.info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_style(self.info, lambda c: f"color: {c.muted}; font-size: 11px;")
        self.verdict = QLabel()
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.threshold: float | None = None
        theme.on_change(self._restyle)
        self.set_width(MIN_TILE_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(4)
        layout.addLayout(thumbs)
        layout.addWidget(self.info)
        layout.addWidget(self.verdict)

    def set_width(self, width: int) -> None:
        """Make the tile `width` pixels wide; the thumbnails grow with it."""
        self.setFixedWidth(width)
        thumb = max((width - TILE_CHROME) // 2, 28)
        for picture, image in zip(self.pictures, self.images):
            picture.setFixedSize(thumb, thumb)
            picture.setPixmap(array_to_pixmap(image, thumb))

    def set_threshold(self, threshold: float) -> None:
        """Judge the pair at `threshold`: verdict chip in its colour, border right or wrong."""
        verdict = verdict_of(self.distance, threshold)
        self.threshold = threshold
        self.judged = verdict
        self.correct = (verdict is Verdict.SAME) == self.same
        colors = theme.colors()
        border = colors.right if self.correct else colors.wrong
        mark = "✓ right" if self.correct else "✗ wrong"
        self.verdict.setText(
            f"<span style='color:{colors.on_verdict}; background:{colors.verdict(verdict is Verdict.SAME)}'>"
            f"&nbsp;{verdict_text(verdict)}&nbsp;</span>&nbsp;&nbsp;<b style='color:{border}'>{mark}</b>"
        )
        self.setStyleSheet(f"#pairTile {{ background: {colors.tile}; border: 3px solid {border}; "
                           "border-radius: 8px; }")

    def _restyle(self) -> None:
        if self.threshold is not None:
            self.set_threshold(self.threshold)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit(*self.indices)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit(*self.indices)
            return
        super().keyPressEvent(event)


class GalleryPanel(QWidget):
    """Random evaluation pairs as tiles, judged at the shared threshold.

    Signals:
        pairActivated(int, int): a tile was clicked (test-split image indices).
    """

    pairActivated = Signal(int, int)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.tiles: list[PairTile] = []

        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 100)
        self.count_spin.setValue(DEFAULT_COUNT)
        self.count_spin.setToolTip("How many pairs to show")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("The same seed shows the same pairs again")
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Draw other pairs (next seed)")
        self.shuffle_button.clicked.connect(self.shuffle)
        self.filter_combo = QComboBox()
        self.filter_combo.addItems(FILTER_LABELS)
        self.filter_combo.setToolTip("Hardest: pairs furthest on the wrong side of the threshold")
        self.summary = ElidedLabel(shrink=True)
        theme.set_style(self.summary, lambda c: f"color: {c.muted};")
        # The same action as File › Export gallery as PNG… (the main window connects it).
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the pairs shown as one PNG image (Ctrl+Shift+E)")
        self.summary.setToolTip(tooltip("Gallery", more=True))
        NeutralTooltips(self, (self.summary,))  # not in its muted grey
        self.export_button.setEnabled(False)

        controls = QHBoxLayout()
        for text, widget in (("Pairs:", self.count_spin), ("Seed:", self.seed_spin)):
            label = QLabel(text)
            label.setBuddy(widget)
            controls.addWidget(label)
            controls.addWidget(widget)
        controls.addWidget(self.shuffle_button)
        controls.addSpacing(16)
        show = QLabel("Show:")
        show.setBuddy(self.filter_combo)
        controls.addWidget(show)
        controls.addWidget(self.filter_combo)
        controls.addStretch(1)
        controls.addWidget(self.summary)
        controls.addWidget(self.export_button)

        self.grid_widget = QWidget()
        self.grid_widget.setObjectName("galleryGrid")
        theme.set_style(self.grid_widget, lambda c: f"#galleryGrid {{ background: {c.gallery}; }}")
        self.grid = QGridLayout(self.grid_widget)
        self.grid.setSpacing(10)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._tile_width = MIN_TILE_WIDTH
        self.empty_label = QLabel("Loading model and data…")
        theme.set_style(self.empty_label, lambda c: f"color: {c.muted}; font-size: 14px; padding: 24px;")
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.grid_widget)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.scroll, 1)

        self._columns = 0
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(30)
        self._rebuild_timer.timeout.connect(self.rebuild)
        self.count_spin.valueChanged.connect(self.schedule_rebuild)
        self.seed_spin.valueChanged.connect(self.schedule_rebuild)
        self.filter_combo.currentIndexChanged.connect(self.schedule_rebuild)
        state.evaluationChanged.connect(self.schedule_rebuild)
        state.thresholdChanged.connect(self._threshold_changed)
        self.rebuild()

    @property
    def mode(self) -> str:
        return FILTERS[self.filter_combo.currentIndex()]

    def set_mode(self, mode: str) -> None:
        """Choose the filter: "all", "mistakes" or "hardest"."""
        self.filter_combo.setCurrentIndex(FILTERS.index(mode))
        self.rebuild()

    def shuffle(self) -> None:
        """Show other random pairs (the next seed)."""
        self.seed_spin.setValue(self.seed_spin.value() + 1)
        self.rebuild()

    def schedule_rebuild(self) -> None:
        self._rebuild_timer.start()

    def _threshold_changed(self, threshold: float) -> None:
        if self.mode == "all":
            for tile in self.tiles:
                tile.set_threshold(threshold)
            self._update_summary()
        else:
            self.schedule_rebuild()

    def rebuild(self) -> None:
        """Choose the pairs again and recreate the tiles."""
        self._rebuild_timer.stop()
        for tile in self.tiles:
            self.grid.removeWidget(tile)
            # Hidden at once: deleteLater waits for the event loop, and until then an old
            # tile would still be painted under the new ones.
            tile.hide()
            tile.deleteLater()
        self.tiles = []
        self.export_button.setEnabled(False)
        self.grid.removeWidget(self.empty_label)
        self.empty_label.hide()
        evaluation = self.state.evaluation
        if evaluation is None:
            self._show_empty(
                "Computing distances of the evaluation pairs…"
                if self.state.has_model and self.state.splits is not None
                else "Load a model and a dataset to see pairs here."
            )
            return
        chosen = choose_pairs(
            evaluation.distances,
            evaluation.pairs.same,
            self.state.threshold.value,
            self.count_spin.value(),
            self.seed_spin.value(),
            self.mode,
        )
        if not len(chosen):
            self._show_empty("No pairs match: every pair is judged right at this threshold.")
            return
        data = evaluation.dataset
        for k in chosen:
            a, b = int(evaluation.pairs.a[k]), int(evaluation.pairs.b[k])
            tile = PairTile(
                (data.images[a], data.images[b]),
                (data.class_names[data.labels[a]], data.class_names[data.labels[b]]),
                (int(evaluation.source_indices[a]), int(evaluation.source_indices[b])),
                evaluation.distances[k],
                evaluation.pairs.same[k],
            )
            tile.set_width(self._tile_width)
            tile.set_threshold(self.state.threshold.value)
            tile.activated.connect(self.pairActivated)
            self.tiles.append(tile)
        self._columns = 0
        self._layout_tiles()
        self._update_summary()
        self.export_button.setEnabled(bool(self.tiles))

    def _show_empty(self, message: str) -> None:
        self.empty_label.setText(message)
        self.grid.addWidget(self.empty_label, 0, 0)
        self.empty_label.show()
        self.summary.setText("")

    def _layout_tiles(self) -> None:
        """Fill the width with tiles that grow with the window.

        A few pairs get a few large columns (about 3 wide for 2 high), many pairs as
        many columns as fit; either way the tiles share the whole width.
        """
        spacing = self.grid.spacing()
        margins = self.grid.contentsMargins()
        width = self.scroll.viewport().width() - margins.left() - margins.right() - 2
        fitting = max(1, (width + spacing) // (MIN_TILE_WIDTH + spacing))
        columns = max(1, min(fitting, math.ceil(math.sqrt(len(self.tiles) * 1.5))))
        tile_width = min(max((width - spacing * (columns - 1)) // columns, MIN_TILE_WIDTH), MAX_TILE_WIDTH)
        if tile_width != self._tile_width or columns != self._columns:
            self._tile_width = tile_width
            for tile in self.tiles:
                tile.set_width(tile_width)
        if columns == self._columns:
            return
        self._columns = columns
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        for i, tile in enumerate(self.tiles):
            self.grid.addWidget(tile, i // columns, i % columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.tiles:
            self._layout_tiles()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.tiles:
            self._layout_tiles()

    def _counts(self) -> str:
        right = sum(1 for t in self.tiles if t.correct)
        return f"{len(self.tiles)} pairs · {right} right · {len(self.tiles) - right} wrong"

    def _update_summary(self) -> None:
        self.summary.setText(f"{self._counts()} at threshold {self.state.threshold.value:.3f}")

    def caption(self) -> str:
        """What the gallery shows: model, data, threshold, filter and seed."""
        evaluation = self.state.evaluation
        data = evaluation.dataset.source if evaluation is not None else "no data"
        return (
            f"Model: {self.state.model_name} · Data: {data} · Threshold: {self.state.threshold.value:.3f} · "
            f"Filter: {FILTER_LABELS[self.filter_combo.currentIndex()]} · Seed: {self.seed_spin.value()} · "
            f"{self._counts()}"
        )

    def export_image(self) -> QImage:
        """The tile grid with the caption above it, as an image."""
        grid = self.grid_widget.grab().toImage()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 10.0))
        width = grid.width()
        flags = int(Qt.AlignmentFlag.AlignLeft) | int(Qt.TextFlag.TextWordWrap)
        probe = QPainter()
        measure = QImage(1, 1, QImage.Format.Format_ARGB32)
        probe.begin(measure)
        probe.setFont(font)
        text_rect = probe.boundingRect(QRect(0, 0, width - 2 * CAPTION_PADDING, 10_000), flags, self.caption())
        probe.end()
        header = text_rect.height() + 2 * CAPTION_PADDING
        image = QImage(width, grid.height() + header, QImage.Format.Format_ARGB32)
        colors = theme.colors()  # the caption as the grid below it: in the theme's colours
        image.fill(QColor(colors.gallery))
        painter = QPainter(image)
        painter.setFont(font)
        painter.setPen(QColor(colors.text))
        painter.drawText(QRect(CAPTION_PADDING, CAPTION_PADDING, width - 2 * CAPTION_PADDING, header),
                         flags, self.caption())
        painter.drawImage(0, header, grid)
        painter.end()
        return image

    def export_png(self, path: str | Path) -> bool:
        """Save the tile grid, with a caption saying what it shows, as a PNG image.

        Returns:
            Whether the file was written.
        """
        return self.export_image().save(str(path), "PNG")
