"""A one-line label that shortens its text with "…" instead of growing or wrapping."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Shows as much of its text as fits, with "…" in the middle; the tooltip has it all.

    Its size hint does not depend on the text, so a long file name never pushes the
    neighbouring widgets around. `text()` is the whole text; `shown_text()` what fits.
    A tooltip set with `setToolTip` follows the full text in the tooltip.

    Args:
        text: the text.
        parent: the parent widget.
        shrink: size like a label that fits its text when there is room and elides when
            there is not (for a row of several labels, such as the status bar's), rather
            than taking whatever room is left.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, shrink: bool = False):
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        self._shrink = shrink
        horizontal = QSizePolicy.Policy.Preferred if shrink else QSizePolicy.Policy.Ignored
        self.setSizePolicy(horizontal, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        self._full = text
        self._update_tip()
        self._elide()
        if self._shrink:
            self.updateGeometry()  # the size hint follows the text

    def text(self) -> str:
        """The whole text, however much of it is shown."""
        return self._full

    def full_text(self) -> str:
        """The text before shortening."""
        return self._full

    def shown_text(self) -> str:
        """The text as drawn: shortened with "…" when it does not fit."""
        return super().text()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt override
        self._tip = tip
        self._update_tip()

    def _update_tip(self) -> None:
        parts = [self._full] + ([self._tip] if self._tip and self._tip != self._full else [])
        super().setToolTip("\n".join(p for p in parts if p))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4, self.fontMetrics().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        margins = self.contentsMargins()
        extra = margins.left() + margins.right() + 4
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + extra, self.fontMetrics().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 1)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width)
        super().setText(shown)
