"""The Compare panel: two images, their distance, and the verdict at the threshold."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.core.data.pairs import random_pair
from siamese_gui.core.evaluation.metrics import Verdict, verdict_of
from siamese_gui.gui import theme
from siamese_gui.gui.common import (
    RIGHT_COLOR,
    WRONG_COLOR,
    array_to_qimage,
    show_error,
    verdict_text,
)
from siamese_gui.gui.state import AppState
from siamese_gui.gui.widgets.image_pane import ImagePane, PaneImage
from siamese_gui.gui.widgets.neutral_tooltips import NeutralTooltips
from siamese_gui.gui.widgets.threshold_control import ThresholdControl
from siamese_gui.gui.workers import TaskRunner, error_text

# Worker task keys: a newer task of the same key supersedes the older one.
_DISTANCE_TASK = "compare distance"
_OCCLUSION_TASK = "compare occlusion"


class ComparePanel(QWidget):
    """Compares the images of two panes with the current model.

    The distance is computed once per image pair on the task thread; moving the
    threshold only re-colours the verdict. Once a model and data are there, it opens
    on a random dataset pair rather than on two empty panes.
    """

    verdictShown = Signal()

    def __init__(self, state: AppState, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.distance: float | None = None
        self._pending = False
        self._rng = np.random.default_rng()

        self.pane_a = ImagePane("Image A", state)
        self.pane_b = ImagePane("Image B", state)
        self.pane_a.imageChanged.connect(self.recompute)
        self.pane_b.imageChanged.connect(self.recompute)

        self.distance_caption = QLabel("Distance")
        self.distance_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_style(self.distance_caption, lambda c: f"color: {c.muted}; font-size: 13px;")
        self.distance_label = QLabel("—")
        self.distance_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.distance_label.setStyleSheet("font-size: 46px; font-weight: 600;")
        self.distance_label.setAccessibleName("Distance")
        for label in (self.distance_caption, self.distance_label):
            label.setToolTip(tooltip("Distance", more=True))
        self.verdict_label = QLabel("")
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setAccessibleName("Verdict")
        self.verdict_label.setToolTip(tooltip("Verdict", more=True) + tooltip("Threshold"))
        self.explain_label = QLabel("")
        self.explain_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.explain_label.setWordWrap(True)
        self.explain_label.setTextFormat(Qt.TextFormat.RichText)
        theme.set_style(self.explain_label, lambda c: f"color: {c.muted};")
        # Fixed heights: whatever the texts say, the buttons below never move.
        self.distance_label.setFixedHeight(64)
        self.verdict_label.setFixedHeight(60)
        self.explain_label.setFixedHeight(self.explain_label.fontMetrics().lineSpacing() * 4 + 4)
        self.explain_label.setToolTip(tooltip("Verdict") + tooltip("Occlusion map"))
        # Their style sheets (46 px, white on blue) would style their tooltips too.
        NeutralTooltips(self, (self.distance_caption, self.distance_label, self.verdict_label, self.explain_label))

        self.swap_button = QPushButton("⇄  Swap")
        self.swap_button.setToolTip("Swap image A and image B")
        self.swap_button.clicked.connect(self.swap)
        self.same_button = QPushButton("Random same-class pair")
        self.same_button.setToolTip("Two random dataset images of the same class")
        self.same_button.clicked.connect(lambda: self.random_pair(same=True))
        self.different_button = QPushButton("Random different-class pair")
        self.different_button.setToolTip("Two random dataset images of different classes")
        self.different_button.clicked.connect(lambda: self.random_pair(same=False))
        self.explain_check = QCheckBox("Explain: occlusion map")
        self.explain_check.setToolTip(
            "Mask each 6x6 patch of one image in turn and colour it by how much the distance "
            "changes (red to yellow: more)"
        )
        self.explain_check.toggled.connect(self._explain_toggled)
        self.occlusion = None

        center = QFrame()
        center.setFixedWidth(260)
        center_layout = QVBoxLayout(center)
        center_layout.addStretch(1)
        center_layout.addWidget(self.distance_caption)
        center_layout.addWidget(self.distance_label)
        center_layout.addWidget(self.verdict_label)
        center_layout.addWidget(self.explain_label)
        center_layout.addSpacing(16)
        center_layout.addWidget(self.swap_button)
        center_layout.addWidget(self.same_button)
        center_layout.addWidget(self.different_button)
        center_layout.addWidget(self.explain_check)
        center_layout.addStretch(1)

        row = QHBoxLayout()
        row.addWidget(self.pane_a, 1)
        row.addWidget(center)
        row.addWidget(self.pane_b, 1)
        self.threshold = ThresholdControl(state)
        self.threshold.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.threshold)

        state.thresholdChanged.connect(self._show_verdict)
        state.modelChanged.connect(self._model_changed)
        state.dataChanged.connect(self._data_changed)
        self._show_verdict()
        theme.on_change(self._show_verdict)  # its colours are the palette's

    # Actions -------------------------------------------------------------------------

    def swap(self) -> None:
        """Swap the two panes' images; the distance is symmetric and stays."""
        a, b = self.pane_a.image, self.pane_b.image
        for pane, image in ((self.pane_a, b), (self.pane_b, a)):
            pane.blockSignals(True)
            pane.set_image(image)
            pane.blockSignals(False)
        if self.explain_check.isChecked():
            self._explain()

    def random_pair(self, same: bool, quiet: bool = False) -> bool:
        """Fill both panes with a random same-class or different-class held-out pair.

        Args:
            same: a same-class pair (else a different-class one).
            quiet: say nothing when there is no such pair (for the automatic first pair).

        Returns:
            Whether a pair was shown.
        """
        data = self.state.test_data
        if data is None:
            if not quiet:
                show_error(self, "No data", "No dataset is loaded yet.")
            return False
        pair = random_pair(data.labels, same, self._rng)
        if pair is not None:
            self.open_pair(*pair)
            return True
        if not quiet:
            show_error(self, "No such pair",
                       f"The held-out images hold no {'same' if same else 'different'}-class pair.")
        return False

    def show_images(self, item_a, item_b) -> None:
        """Compare two images given as (float32 28x28 array, label text) items.

        A label text that names a class of the current data counts as that class.
        """
        names = tuple(getattr(self.state.test_data, "class_names", ()) or ())

        def pane_image(item) -> PaneImage:
            array, text = np.asarray(item[0], np.float32), str(item[1])
            label = names.index(text) if text in names else None
            return PaneImage(array, array_to_qimage(array), text, label)

        self.pane_a.blockSignals(True)
        self.pane_a.set_image(pane_image(item_a))
        self.pane_a.blockSignals(False)
        self.pane_b.set_image(pane_image(item_b))

    def open_pair(self, index_a: int, index_b: int) -> None:
        """Show dataset images `index_a` and `index_b` and compare them."""
        self.pane_a.blockSignals(True)
        self.pane_a.set_from_dataset(index_a)
        self.pane_a.blockSignals(False)
        self.pane_b.set_from_dataset(index_b)

    # Distance ------------------------------------------------------------------------

    def _model_changed(self) -> None:
        # Images read for another model's size or colour are read again for this one.
        replaced = [pane.follow_model() for pane in (self.pane_a, self.pane_b)]
        if any(replaced):
            return
        if not self._open_first_pair():
            self.recompute()

    def _data_changed(self) -> None:
        # Dataset images (and their labels) belong to the old data: draw from the new one.
        if any(p.image is not None and p.image.index is not None for p in (self.pane_a, self.pane_b)):
            for pane in (self.pane_a, self.pane_b):
                pane.blockSignals(True)
                pane.set_image(None)
                pane.blockSignals(False)
            self.recompute()
        self._open_first_pair()

    def _open_first_pair(self) -> bool:
        """Show a random pair when both panes are empty and a model and data are there."""
        data = self.state.test_data
        if self.pane_a.image is not None or self.pane_b.image is not None:
            return False
        if data is None or self.state.model is None or len(data) < 2:
            return False
        if data.image_format != self.state.model.image_format:
            return False  # data read for another model's size or colour: no pair of them
        same = bool(self._rng.integers(2))
        return self.random_pair(same, quiet=True) or self.random_pair(not same, quiet=True)

    def recompute(self) -> None:
        """Ask the worker for the distance of the two images.

        A newer request supersedes an unfinished one (and any occlusion maps of the
        images shown before), so a late answer never shows beside other images.
        """
        self.distance = None
        self.occlusion = None
        self.runner.cancel(_OCCLUSION_TASK)
        comparator = self.state.model
        if self.pane_a.image is None or self.pane_b.image is None or comparator is None:
            self.runner.cancel(_DISTANCE_TASK)
            self._pending = False
            self._show_verdict()
            return
        a, b = self.pane_a.image.array.copy(), self.pane_b.image.array.copy()
        self._pending = True
        self._show_verdict()
        self.runner.submit(
            lambda: comparator.distance(a, b),
            on_done=self._distance_ready,
            on_error=self._distance_failed,
            description="Comparing the two images…",
            key=_DISTANCE_TASK,
        )

    def _distance_ready(self, distance: float) -> None:
        self._pending = False
        self.set_distance(distance)
        self.verdictShown.emit()
        if self.explain_check.isChecked():
            self._explain()

    # Explanation ---------------------------------------------------------------------

    def _explain_toggled(self, on: bool) -> None:
        if on:
            self._explain()
        else:
            self.runner.cancel(_OCCLUSION_TASK)
            self.occlusion = None
            self.pane_a.set_overlay(None)
            self.pane_b.set_overlay(None)
            self._show_verdict()

    def _explain(self) -> None:
        """Compute both occlusion maps on the task thread and draw them over the panes."""
        from siamese_gui.core.app.occlusion import occlusion_maps

        handle = self.state.model
        if self.pane_a.image is None or self.pane_b.image is None or handle is None:
            self.runner.cancel(_OCCLUSION_TASK)
            return
        a, b = self.pane_a.image.array.copy(), self.pane_b.image.array.copy()
        self.runner.submit(
            lambda: occlusion_maps(handle, a, b),
            on_done=self._occlusion_ready,
            on_error=lambda exc: show_error(self, "Cannot explain", error_text(exc)),
            description="Computing the occlusion maps…",
            key=_OCCLUSION_TASK,
        )

    def _occlusion_ready(self, maps) -> None:
        if not self.explain_check.isChecked():
            return
        self.occlusion = maps
        scale = max(float(maps.map_a.max()), float(maps.map_b.max()), 1e-6)
        self.pane_a.set_overlay(maps.map_a, scale)
        self.pane_b.set_overlay(maps.map_b, scale)
        self._show_verdict()

    def _distance_failed(self, exc: BaseException) -> None:
        self._pending = False
        self._show_verdict()
        show_error(self, "Cannot compare", error_text(exc))

    def set_distance(self, distance: float | None) -> None:
        """Show a distance and its verdict."""
        self.distance = distance
        self._show_verdict()

    # Display -------------------------------------------------------------------------

    @property
    def verdict(self) -> Verdict | None:
        """The verdict at the shared threshold, or None when there is no distance."""
        if self.distance is None:
            return None
        return verdict_of(self.distance, self.state.threshold.value)

    def _show_verdict(self, *_args) -> None:
        threshold = self.state.threshold.value
        colors = theme.colors()
        neutral = f"font-size: 15px; color: {colors.muted}; padding: 8px;"
        if self.distance is None:
            self.distance_label.setText("—")
            if self.state.model is None:
                message = "No model loaded yet"
            elif self._pending:
                message = "Comparing…"
            else:
                message = "Choose two images"
            self.verdict_label.setText(message)
            self.verdict_label.setStyleSheet(neutral)
            self.explain_label.setText("")
            return
        verdict = self.verdict
        self.distance_label.setText(f"{self.distance:.3f}")
        self.verdict_label.setText(verdict_text(verdict))
        self.verdict_label.setStyleSheet(
            f"font-size: 30px; font-weight: 700; color: {colors.on_verdict}; "
            f"background: {colors.verdict(verdict is Verdict.SAME)};"
            "border-radius: 10px; padding: 4px 18px;"
        )
        relation = "&lt;" if verdict is Verdict.SAME else "≥"
        text = f"distance {self.distance:.3f} {relation} threshold {threshold:.3f}"
        truth = self.ground_truth
        if truth is not None:
            right = (verdict is Verdict.SAME) == truth
            mark = f"<b style='color:{RIGHT_COLOR}'>✓ right</b>" if right else \
                f"<b style='color:{WRONG_COLOR}'>✗ wrong</b>"
            text += f"<br>labels: {'same class' if truth else 'different classes'} — {mark}"
        if self.occlusion is not None and self.explain_check.isChecked():
            o = self.occlusion
            peak = max(float(o.map_a.max()), float(o.map_b.max()))
            text += f"<br>occlusion map: yellow patches move it most (≤ {peak:.3f})"
        self.explain_label.setText(text)

    @property
    def ground_truth(self) -> bool | None:
        """Whether both images share a dataset class, or None when a label is unknown."""
        a, b = self.pane_a.image, self.pane_b.image
        if a is None or b is None or a.label is None or b.label is None:
            return None
        return a.label == b.label
