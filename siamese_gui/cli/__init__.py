"""The `siamese-gui` command line: a thin layer over `siamese_gui.core.app`."""

from siamese_gui.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
