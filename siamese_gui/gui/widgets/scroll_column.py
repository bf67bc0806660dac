"""A column of settings that scrolls when the window is short, without the wheel
changing a value the pointer merely passes over."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QFrame, QScrollArea, QWidget


class _WheelGuard(QObject):
    """Hands wheel events over an input without focus to the column's scroll bar."""

    def __init__(self, column: QScrollArea):
        super().__init__(column)
        self._column = column

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            QApplication.sendEvent(self._column.verticalScrollBar(), event)
            return True
        return False


class ScrollColumn(QScrollArea):
    """Shows `content` at a fixed width, with a vertical scroll bar when it is taller
    than the room it has. Spin boxes and combo boxes inside change with the wheel only
    once clicked or tabbed into.
    """

    def __init__(self, content: QWidget, width: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedWidth(width + self.verticalScrollBar().sizeHint().width())
        self._guard = _WheelGuard(self)
        for field in content.findChildren(QAbstractSpinBox) + content.findChildren(QComboBox):
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel does not give focus
            field.installEventFilter(self._guard)
