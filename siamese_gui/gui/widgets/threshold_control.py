"""A threshold slider with a spin box, both bound to the shared state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget

from siamese_gui.core.app.glossary import tooltip
from siamese_gui.gui.state import AppState

SLIDER_STEPS = 1000


class ThresholdControl(QWidget):
    """Slider and spin box for the threshold; every instance shows the same value."""

    def __init__(self, state: AppState, label: str = "Threshold", parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 20)
        self.slider.setToolTip(tooltip("Threshold", more=True))
        self.slider.setAccessibleName("Threshold slider")
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setKeyboardTracking(False)
        self.spin.setAccessibleName("Threshold value")
        self.spin.setToolTip(tooltip("Threshold", more=True))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if label:
            caption = QLabel(f"{label}:")
            caption.setBuddy(self.slider)
            caption.setToolTip(tooltip("Threshold", more=True))
            layout.addWidget(caption)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self.state.set_threshold)
        state.thresholdChanged.connect(self._show)
        state.evaluationChanged.connect(self._update_range)
        state.modelChanged.connect(self._update_range)
        self._update_range()

    def _update_range(self) -> None:
        self._upper = self.state.threshold_range()
        self.spin.blockSignals(True)
        self.spin.setRange(0.0, max(self._upper * 4, 10.0))
        self.spin.blockSignals(False)
        self._show(self.state.threshold.value)

    def _slider_moved(self, position: int) -> None:
        self.state.set_threshold(round(position / SLIDER_STEPS * self._upper, 4))

    def _show(self, value: float) -> None:
        if value > self._upper:
            self._upper = self.state.threshold_range()
        for widget, shown in (
            (self.slider, round(value / self._upper * SLIDER_STEPS)),
            (self.spin, value),
        ):
            widget.blockSignals(True)
            widget.setValue(shown)
            widget.blockSignals(False)
