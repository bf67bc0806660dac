"""Tooltips in the ordinary look over widgets with a style sheet of their own.

Qt draws a widget's tooltip with the widget's style sheet: the Compare panel's 30 px
white-on-blue verdict would show its explanation in 30 px white on blue too. This
filter shows the tooltip of the widgets it watches on behalf of a plain `owner`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtWidgets import QToolTip, QWidget


class NeutralTooltips(QObject):
    """Shows `widgets`' own tooltips styled like `owner`'s (a widget without a style sheet)."""

    def __init__(self, owner: QWidget, widgets: tuple[QWidget, ...]):
        super().__init__(owner)
        self.owner = owner
        self.widgets = widgets
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ToolTip and watched in self.widgets and watched.toolTip():
            # Shown while the pointer stays on the widget, as its own tooltip would be.
            area = QRect(watched.mapTo(self.owner, watched.rect().topLeft()), watched.size())
            QToolTip.showText(event.globalPos(), watched.toolTip(), self.owner, area)
            return True
        return super().eventFilter(watched, event)
