"""One sanitiser for text that comes from outside: file and folder names, class names,
metadata strings, CSV cells.

Each output has its own hazard, so each has one function here:
- a terminal or a window (`shown`): escape sequences recolour a terminal or move its
  cursor, a newline forges an extra line, right-to-left overrides make `gnp.exe` read
  as `exe.png`; all are escaped (`\\x1b`, `\\n`, `\\u202e`);
- a spreadsheet (`csv_cell`): a cell starting with `=`, `+`, `-`, `@`, a tab or a
  carriage return is a formula to Excel, LibreOffice and Sheets (`=HYPERLINK(...)`,
  `=cmd|...`); such a cell gets a leading apostrophe, as OWASP's CSV-injection
  guidance recommends, and numbers are left as they are;
- a matplotlib figure: `$...$` would be mathtext, which can fail to parse or recurse
  deeply; figures with such text are built with `LITERAL_TEXT` (mathtext off) and the
  text itself through `shown`.
"""

from __future__ import annotations

import numbers

from siamese_gui.core.errors import printable

# Characters that make a spreadsheet read a cell as a formula, fullwidth forms included
# (some spreadsheets normalise them).
# matplotlib settings under which every text artist is drawn as written.
LITERAL_TEXT = {"text.parse_math": False}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def shown(text) -> str:
    """`text` safe to print or show: one line, every control and format character escaped."""
    return printable("" if text is None else str(text))


def without_controls(text: str) -> str:
    """`text` with every control and format character escaped except newlines and tabs
    (what a program's own multi-line output needs; see `shown` for single values)."""
    if text.replace("\n", "").replace("\t", "").isprintable():
        return text
    return "".join(char if char in "\n\t" or char.isprintable() else printable(char) for char in text)


class SanitisedStream:
    """A text stream that passes everything written through `without_controls`.

    The command line writes through one, so no name, path or metadata string reaches
    the terminal raw, whichever line prints it. `raw` is the stream underneath, for the
    program's own control sequences (a progress bar's carriage return).
    """

    def __init__(self, raw):
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(without_controls(text))

    def __getattr__(self, name):
        return getattr(self.raw, name)


def csv_cell(value):
    """A value safe to write into a CSV cell (see the module docstring)."""
    if value is None or isinstance(value, (bool, numbers.Number)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
