"""Errors a user can cause. Each message names the file (if any) and what is wrong."""

from __future__ import annotations


class SiameseError(Exception):
    """Base class of every error the user can cause and the app reports."""


class DatasetError(SiameseError):
    """A dataset file or folder is missing, malformed or unusable."""


class ImageError(SiameseError):
    """An image file cannot be read or turned into the model's input."""


class ModelFileError(SiameseError):
    """A model file cannot be loaded, or saved, safely."""


class TrainingError(SiameseError):
    """Training failed (for example the loss became NaN)."""


class ConfigError(SiameseError):
    """A setting is out of its valid range."""


def printable(text: str) -> str:
    """Return `text` with every non-printable character escaped, on one line.

    A file name can hold escape sequences or newlines; printed raw, they recolour the
    terminal or forge extra output lines. `\\x1b` becomes the four characters `\\x1b`,
    a newline `\\n`; a backslash stays as it is.

    Args:
        text: a message, for example one naming a user's file.

    Returns:
        The same text with only printable characters and spaces.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class Cancelled(SiameseError):
    """A task was cancelled (superseded by a newer one, or the app is closing)."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)



class HistoryError(SiameseError):
    """The run history file cannot be read or written."""
