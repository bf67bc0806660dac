"""A "Details" toggle: a short plain sentence stays in view, the long text shows on demand."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy, QToolButton, QWidget


class DetailsToggle(QToolButton):
    """A checkable "Details" button that shows and hides `details` (hidden at first).

    The arrow points right while the details are hidden and down while they show;
    the button stays checked across new texts, so someone who reads the details once
    keeps seeing them.
    """

    def __init__(self, details: QWidget, text: str = "Details", parent: QWidget | None = None):
        super().__init__(parent)
        self.details = details
        self.setText(text)
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip("Show or hide the full detail: how it was measured, on which images")
        self.toggled.connect(self._toggled)
        self._toggled(False)

    def _toggled(self, shown: bool) -> None:
        self.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.details.setVisible(shown)
