"""The Map panel: the embeddings of held-out images in 2-D, coloured by class.

PCA is drawn as soon as the images are embedded; t-SNE (openTSNE) follows from the task
thread and replaces it. Points whose nearest neighbour is judged wrongly at the current
threshold are ringed in red. Hovering shows a point's image; clicking two points opens
them in Compare. Large sets are drawn as a seeded sample of a stated size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.app.projection import tsne_available
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    array_to_pixmap,
    follow_item_tooltips,
    set_source_item,
    show_error,
)
from siamese_gui.gui.widgets.neutral_tooltips import NeutralTooltips
from siamese_gui.gui.widgets.plots import DeferredCanvas, set_roles, themed_legend
from siamese_gui.gui.workers import error_text

DEFAULT_POINTS = 3000
PICK_RADIUS_PX = 12
PREVIEW = 140
# Up to 10 classes shown: the theme's 10 class colours; up to 20: its 20; beyond, the 20
# colours again with another marker for each further 20 (the legend says the rest are
# not listed).
CLASS_COLORS = (10, 20)
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LEGEND_CLASSES = 12  # entries at most; the rest are summed up as "+N more"
LEGEND_NAME_CHARS = 22
MIN_CANVAS = (420, 380)
TSNE_MISSING = ("t-SNE is unavailable: the optional openTSNE package is not installed. "
                "Install it with: pip install 'siamese-gui[map]'")  # room for the axes beside a full legend: they never collapse


def class_styles(count: int) -> list[tuple[str, str]]:
    """(colour role, marker) for each of `count` classes shown, all distinct: the role
    ("classes10:3") names a colour of `theme.Colors`, taken at each draw."""
    size = CLASS_COLORS[0] if count <= CLASS_COLORS[0] else CLASS_COLORS[1]
    return [(f"classes{size}:{i % size}", MARKERS[(i // size) % len(MARKERS)]) for i in range(count)]


def legend_entries(shown: list[str], limit: int = LEGEND_CLASSES) -> tuple[list[str], int]:
    """The class names the legend lists (shortened) and how many more are left out."""
    if len(shown) > limit:
        listed, more = shown[: limit - 1], len(shown) - (limit - 1)
    else:
        listed, more = shown, 0
    cut = LEGEND_NAME_CHARS
    return [n if len(n) <= cut else n[: cut - 1] + "…" for n in listed], more


@dataclass(frozen=True)
class MapData:
    """What the map shows (built on the task thread).

    Attributes:
        images: uint8 (n, H, W) or (n, H, W, 3) of the points shown, as the model sees them.
        labels: (n,) class indices.
        class_names: names of the classes.
        source: where the images came from.
        total: how many images the source holds (n <= total).
        indices: each point's index in the source.
        embeddings: (n, D).
        layout: (n, 2) positions.
        method: "PCA" or "t-SNE".
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    total: int
    indices: np.ndarray
    embeddings: np.ndarray
    layout: np.ndarray
    method: str


def _embed_and_pca(handle, dataset, max_points: int, should_stop, evaluation=None) -> MapData:
    """Runs on the task thread. Reuses `evaluation`'s embeddings (of `dataset`, by the
    same model) when it holds all the sampled images."""
    from siamese_gui.core.app.projection import pca_2d, subsample

    indices = subsample(len(dataset), max_points)
    images = dataset.images[indices]
    embeddings = None if evaluation is None else evaluation.embeddings_of(indices)
    if embeddings is None:
        embeddings = handle.embed(images, should_stop=should_stop)
    return MapData(images, dataset.labels[indices], tuple(dataset.class_names), dataset.source,
                   len(dataset), indices, embeddings, pca_2d(embeddings), "PCA")


def _load_folder(folder: str, image_format=None):
    """Runs on the task thread; reads the images as the model sees them."""
    from siamese_gui.core.data.datasets import load_image_folder

    return load_image_folder(folder, image_format=image_format)


class MapCanvas(DeferredCanvas):
    """A scatter of the points; keeps its artists and updates them in place."""

    def __init__(self):
        super().__init__(7, 6)
        self.setMinimumSize(*MIN_CANVAS)
        self.setMouseTracking(True)
        self.ax = self.figure.add_subplot()
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        self.points = None
        self.mistakes = None
        self.selected = None

    def draw_map(self, data: MapData) -> None:
        self.ax.clear()
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        labels = np.asarray(data.labels)
        shown = [int(c) for c in np.unique(labels)]  # only the classes drawn, not all of the model's
        styles = class_styles(len(shown))
        # One marker line per class: Agg stamps a marker once per point, several times
        # faster than a scatter with a colour per point.
        self.points = [
            self.ax.plot(data.layout[labels == c, 0], data.layout[labels == c, 1], ls="none",
                         marker=marker, markersize=3, markeredgewidth=0)[0]
            for c, (_, marker) in zip(shown, styles)
        ]
        for line, (color, _) in zip(self.points, styles):
            set_roles(line, color=color)
        self.mistakes = self.ax.scatter([], [], s=46, facecolors="none", linewidths=1.1)
        set_roles(self.mistakes, edgecolor="wrong")
        self.selected = self.ax.scatter([], [], s=140, facecolors="none", linewidths=2.2)
        set_roles(self.selected, edgecolor="text")
        names, more = legend_entries([str(data.class_names[c]) for c in shown])
        handles = [Line2D([], [], ls="none", marker=marker, markersize=5, label=name)
                   for name, (_, marker) in zip(names, styles)]
        for handle, (color, _) in zip(handles, styles):
            set_roles(handle, color=color)
        if more:
            handles.append(Line2D([], [], ls="none", label=f"+{more} more (hover a point)"))
        wrong = Line2D([], [], ls="none", marker="o", markersize=7, markerfacecolor="none",
                       label="nearest neighbour\njudged wrongly")
        set_roles(wrong, markeredgecolor="wrong")
        handles.append(wrong)
        # Outside the axes, on the right; constrained layout keeps it inside the figure.
        self.legend = themed_legend(self.ax, handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                                    fontsize=8, frameon=False, borderaxespad=0.0)
        self.ax.set_title(f"{data.method} of {len(data.labels):,} embeddings", fontsize=10)
        # Deferred: the marks set right after join the same (single) redraw.
        self.draw_idle()

    def set_marks(self, layout: np.ndarray, mistakes: np.ndarray, selected: list[int]) -> None:
        if self.points is None:
            return
        self.mistakes.set_offsets(layout[mistakes] if mistakes.any() else np.zeros((0, 2)))
        self.selected.set_offsets(layout[selected] if selected else np.zeros((0, 2)))
        self.draw_idle()

    def widget_position(self, layout: np.ndarray) -> np.ndarray:
        """Each point's position in widget (logical pixel) coordinates."""
        display = self.ax.transData.transform(layout)
        ratio = self.devicePixelRatioF()
        return np.column_stack([display[:, 0] / ratio, self.height() - display[:, 1] / ratio])


# Worker task keys: drawing the map again (or a new model) supersedes these.
_PCA_TASK, _NEIGHBOURS_TASK, _TSNE_TASK = "map pca", "map neighbours", "map t-SNE"
_TASKS = (_PCA_TASK, _NEIGHBOURS_TASK, _TSNE_TASK)

class MapPanel(QWidget):
    """Draws the embedding map of the test images (or a folder) and picks pairs from it.

    Signals:
        pairRequested: two (float32 28x28 image, label text) items, when two points
            were clicked.
        mapChanged: a new layout is drawn (PCA, then t-SNE).
    """

    pairRequested = Signal(object, object)
    mapChanged = Signal()

    def __init__(self, state, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.data: MapData | None = None
        self.neighbours: tuple[np.ndarray, np.ndarray] | None = None
        self.mistakes = np.zeros(0, bool)
        self.selection: list[int] = []
        self.hovered: int | None = None
        self._folder_data = None

        self.source_combo = QComboBox()
        self.source_combo.addItems(["Test images", "Folder…"])
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        follow_item_tooltips(self.source_combo, "Map the loaded test images, or a folder of class sub-folders")
        self.source_combo.activated.connect(self._source_chosen)
        self.points_spin = QSpinBox()
        self.points_spin.setRange(100, 50_000)
        self.points_spin.setSingleStep(500)
        self.points_spin.setValue(DEFAULT_POINTS)
        self.points_spin.setSuffix(" points at most")
        self.points_spin.setToolTip("Larger sets are drawn as a seeded random sample of this size")
        self.method_combo = QComboBox()
        self.method_combo.addItems(["PCA, then t-SNE", "PCA only"])
        self.method_combo.setToolTip("PCA is drawn at once; t-SNE then lays the same points out "
                                     "so that neighbours stay together (slower, often clearer)")
        if not tsne_available():
            self.method_combo.setCurrentIndex(1)
            item = self.method_combo.model().item(0)
            item.setEnabled(False)
            item.setText("PCA, then t-SNE (not installed)")
            # A greyed item says nothing by itself: the reason and the fix, where it is seen.
            item.setToolTip(TSNE_MISSING)
            self.method_combo.setToolTip(TSNE_MISSING)
        self.draw_button = QPushButton("Draw map")
        self.draw_button.clicked.connect(self.compute)
        self.draw_button.setToolTip(tooltip("Map", more=True))
        self.status = QLabel("Draw the map of the test images' embeddings."
                             + ("" if tsne_available() else " " + TSNE_MISSING))
        self.status.setWordWrap(True)
        theme.set_style(self.status, lambda c: f"color: {c.muted};")

        self.canvas = MapCanvas()
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("button_press_event", self._on_press)
        self.status.setToolTip(tooltip("Map", more=True))
        NeutralTooltips(self, (self.status,))  # not in its muted grey

        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_style(self.preview, lambda c: f"background: {c.model_input}; border: 1px solid {c.frame};")
        self.preview_caption = QLabel("Hover over a point")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setFixedWidth(PREVIEW)
        self.selection_label = QLabel("Click two points to compare them.")
        self.selection_label.setWordWrap(True)
        self.selection_label.setFixedWidth(PREVIEW)
        theme.set_style(self.selection_label, lambda c: f"color: {c.muted};")

        controls = QHBoxLayout()
        controls.addWidget(self.source_combo)
        controls.addWidget(self.points_spin)
        controls.addWidget(self.method_combo)
        controls.addWidget(self.draw_button)
        controls.addStretch(1)
        side = QVBoxLayout()
        side.addWidget(self.preview)
        side.addWidget(self.preview_caption)
        side.addSpacing(12)
        side.addWidget(self.selection_label)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addLayout(body, 1)

        state.modelChanged.connect(self._invalidate)
        state.thresholdChanged.connect(self._threshold_changed)

    # Source --------------------------------------------------------------------------

    def _source_chosen(self, row: int) -> None:
        if row == 1:
            folder = QFileDialog.getExistingDirectory(self, "Map a folder of class sub-folders")
            if folder:
                self.use_folder(folder)
            else:
                self.source_combo.setCurrentIndex(1 if self._folder_data is not None else 0)
        else:
            self._folder_data = None

    def use_folder(self, folder: str) -> None:
        """Read a folder of class sub-folders on the task thread, then draw its map."""
        self.status.setText(f"Reading {folder}…")
        model = self.state.model
        fmt = model.image_format if model is not None else None
        self.runner.submit(lambda: _load_folder(folder, fmt), self._folder_loaded,
                           lambda exc: show_error(self, "Cannot read the folder", error_text(exc)),
                           f"Reading {folder}…")

    def _folder_loaded(self, dataset) -> None:
        self._folder_data = dataset
        self.source_combo.setCurrentIndex(1)
        set_source_item(self.source_combo, 1, f"Folder ({len(dataset):,} images)", str(dataset.source))
        self.compute()

    # Computing -----------------------------------------------------------------------

    def _cancel_tasks(self) -> None:
        """Cancel the map's work in progress: its results are never shown."""
        for key in _TASKS:
            self.runner.cancel(key)

    def _invalidate(self) -> None:
        self._cancel_tasks()
        self.data = None
        self.neighbours = None
        self.selection = []
        self.status.setText("The model changed: draw the map again.")

    def compute(self) -> bool:
        """Embed and draw PCA now; then (if chosen) t-SNE, both on the worker."""
        handle = self.state.model
        dataset = self._folder_data if self._folder_data is not None else self.state.test_data
        if handle is None or dataset is None:
            show_error(self, "Nothing to map", "Load a model and data first.")
            return False
        self._cancel_tasks()
        with_tsne = self.method_combo.currentIndex() == 0 and tsne_available()
        max_points = self.points_spin.value()
        # The test evaluation behind Gallery and Threshold has embedded these images already.
        evaluation = self.state.evaluation if dataset is self.state.test_data else None
        self.status.setText("Embedding…")
        self.runner.submit(
            lambda should_stop: _embed_and_pca(handle, dataset, max_points, should_stop, evaluation),
            lambda data: self._pca_ready(data, with_tsne),
            self._failed,
            "Embedding the images for the map…",
            key=_PCA_TASK,
            cancellable=True,
        )
        return True

    def _pca_ready(self, data: MapData, with_tsne: bool) -> None:
        self._show(data)
        embeddings = data.embeddings

        def neighbours():
            from siamese_gui.core.evaluation.retrieval import nearest_neighbours

            return nearest_neighbours(embeddings)

        self.runner.submit(neighbours, self._neighbours_ready, self._failed,
                           "Finding nearest neighbours…", key=_NEIGHBOURS_TASK)
        if with_tsne:
            def tsne(should_stop):
                from siamese_gui.core.app.projection import tsne_2d

                return tsne_2d(embeddings, should_stop=should_stop)

            self.runner.submit(tsne, self._tsne_ready, self._failed, "Laying out the map (t-SNE)…",
                               key=_TSNE_TASK, cancellable=True)

    def _neighbours_ready(self, result) -> None:
        self.neighbours = result
        self._threshold_changed()

    def _tsne_ready(self, layout: np.ndarray) -> None:
        if self.data is None:
            return
        from dataclasses import replace

        self._show(replace(self.data, layout=layout, method="t-SNE"))

    def _failed(self, exc: BaseException) -> None:
        self.status.setText("The map failed.")
        show_error(self, "Cannot draw the map", error_text(exc))

    # Display -------------------------------------------------------------------------

    def _show(self, data: MapData) -> None:
        self.data = data
        self.canvas.draw_map(data)
        sample = (f"a seeded sample of {len(data.labels):,} of {data.total:,}" if len(data.labels) < data.total
                  else f"all {data.total:,}")
        pending = " — t-SNE running…" if data.method == "PCA" and self.method_combo.currentIndex() == 0 \
            and tsne_available() else ""
        self.status.setText(f"{data.method} of {sample} images from {data.source}{pending}")
        self._update_marks()
        self.mapChanged.emit()

    def _threshold_changed(self, *_args) -> None:
        if self.data is None or self.neighbours is None:
            return
        from siamese_gui.core.evaluation.retrieval import nearest_neighbour_mistakes

        indices, distances = self.neighbours
        self.mistakes = nearest_neighbour_mistakes(self.data.labels, indices, distances, self.state.threshold.value)
        self._update_marks()

    def _update_marks(self) -> None:
        if self.data is None:
            return
        mistakes = self.mistakes if len(self.mistakes) == len(self.data.labels) else np.zeros(len(self.data.labels), bool)
        self.canvas.set_marks(self.data.layout, mistakes, self.selection)

    def point_position(self, i: int) -> tuple[int, int]:
        """Where point `i` is drawn, in the canvas widget's coordinates."""
        x, y = self.canvas.widget_position(self.data.layout[i : i + 1])[0]
        return int(round(x)), int(round(y))

    def _point_at(self, event) -> int | None:
        if self.data is None or event.x is None:
            return None
        display = self.canvas.ax.transData.transform(self.data.layout)
        d2 = (display[:, 0] - event.x) ** 2 + (display[:, 1] - event.y) ** 2
        i = int(np.argmin(d2))
        radius = PICK_RADIUS_PX * self.canvas.devicePixelRatioF()
        return i if d2[i] <= radius**2 else None

    def _caption(self, i: int) -> str:
        data = self.data
        return f"{data.class_names[int(data.labels[i])]} · #{int(data.indices[i])}"

    def _on_motion(self, event) -> None:
        i = self._point_at(event)
        if i is None or i == self.hovered:
            return
        self.hovered = i
        self.preview.setPixmap(array_to_pixmap(self.data.images[i], PREVIEW - 4))
        text = self._caption(i)
        if len(self.mistakes) == len(self.data.labels) and self.mistakes[i] and self.neighbours is not None:
            j, d = int(self.neighbours[0][i]), float(self.neighbours[1][i])
            text += f"\nnearest: {self._caption(j)} at {d:.3f} — judged wrongly"
        self.preview_caption.setText(text)

    def _on_press(self, event) -> None:
        i = self._point_at(event)
        if i is None:
            return
        self._on_motion(event)
        self.selection = [*self.selection, i][-2:] if len(self.selection) < 2 else [i]
        self._update_marks()
        if len(self.selection) == 1:
            self.selection_label.setText(f"A: {self._caption(i)}\nClick a second point.")
            return
        a, b = self.selection
        self.selection_label.setText(f"A: {self._caption(a)}\nB: {self._caption(b)}\nOpened in Compare.")
        data = self.data
        self.pairRequested.emit(
            (data.images[a].astype(np.float32) / 255.0, data.class_names[int(data.labels[a])]),
            (data.images[b].astype(np.float32) / 255.0, data.class_names[int(data.labels[b])]),
        )
