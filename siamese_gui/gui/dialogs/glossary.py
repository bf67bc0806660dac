"""Help > Glossary: every figure and setting the app shows, in plain words (`core.app.glossary`)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QTextBrowser, QVBoxLayout, QWidget

from siamese_gui.core.app.glossary import GROUPS, TERMS


def glossary_html(needle: str = "") -> str:
    """The glossary as rich text, grouped, keeping the entries that mention `needle`."""
    needle = needle.strip().lower()
    parts = []
    for group in GROUPS:
        entries = [t for t in TERMS.values() if t.group == group and (
            not needle or needle in f"{t.name} {t.short} {t.long}".lower())]
        if not entries:
            continue
        parts.append(f"<h3>{escape(group)}</h3>")
        for entry in entries:
            more = f"<br>{escape(entry.long)}" if entry.long else ""
            parts.append(f"<p><b>{escape(entry.name)}</b>: {escape(entry.short)}{more}</p>")
    return "".join(parts) or f"<p>No term mentions “{escape(needle)}”.</p>"


class GlossaryDialog(QDialog):
    """A searchable list of the terms, each with its plain line and its detail.

    Not modal: it can stay open beside the panel whose words it explains.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Glossary: what does this mean?")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Find a term (FAR, threshold, batch size…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Find a term")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(glossary_html())
        self.filter_edit.textChanged.connect(lambda text: self.browser.setHtml(glossary_html(text)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(640, 620)
        self.filter_edit.setFocus(Qt.FocusReason.OtherFocusReason)
