"""Start the desktop app."""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import siamese_gui
from siamese_gui.core.app.desktop import DESKTOP_ID
from siamese_gui.core.io.locations import default_model_path
from siamese_gui.gui import APP_NAME, THEME_HELP, THEMES, theme
from siamese_gui.gui.common import remembered_model_path, startup_theme

# Milliseconds: a verdict is painted before the other panels are built; without one,
# they are built this long after the window appears.
PAINT_MS = 50
BUILD_PANELS_MS = 2500


def app_icon() -> QIcon:
    """The application icon at every shipped size (empty when the files are missing)."""
    from siamese_gui.core.app.desktop import desktop_files

    icon = QIcon()
    try:
        files = [item.source for item in desktop_files() if item.target.parts[0] == "icons"]
    except FileNotFoundError:
        return icon
    for path in files:
        if path.is_file():
            icon.addFile(str(path))
    return icon


def create_application(argv: list[str] | None = None) -> QApplication:
    """Return the QApplication, creating and configuring it on first use."""
    app = QApplication.instance()
    if app is None:
        # argv[0] names the app to the window system (X11 WM_CLASS), so not "__main__.py".
        app = QApplication(argv if argv is not None else ["siamese-gui"])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(siamese_gui.__version__)
    app.setDesktopFileName(DESKTOP_ID)
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    return app


def _without_font_cache_note(record: logging.LogRecord) -> bool:
    """matplotlib logs "building the font cache" to the terminal when its first start
    takes over 5 s; a desktop app's user watches the window, where it says nothing."""
    return "building the font cache" not in record.getMessage()


def run(model_path: str | Path | None = None, theme_name: str | None = None) -> int:
    """Show the main window, load the model and data in the background, run the event loop.

    Args:
        model_path: a model to open instead of the shipped one.
        theme_name: "system", "light" or "dark"; None: $SIAMESE_GUI_THEME, else the
            one chosen in View > Theme, else the system's.

    Returns:
        The exit status.

    Raises:
        ConfigError: $SIAMESE_GUI_THEME names no theme.
    """
    chosen_theme = startup_theme(theme_name)
    from siamese_gui.core.app.prefetch import Prefetch
    from siamese_gui.core.runtime.memory import cap_malloc_arenas

    cap_malloc_arenas()  # before any TensorFlow thread allocates
    import matplotlib

    from siamese_gui.core.io.untrusted import LITERAL_TEXT

    matplotlib.rcParams.update(LITERAL_TEXT)  # class names in plots are drawn as written
    from siamese_gui.core.io.native import hide_library_warnings

    hide_library_warnings()
    logging.getLogger("matplotlib.font_manager").addFilter(_without_font_cache_note)

    default = default_model_path()
    remembered = remembered_model_path()
    if model_path is None and remembered is not None and remembered.is_file():
        default = remembered  # the model in use when the app last closed
    # Data and model load while the window's modules import and the window is built.
    prefetch = Prefetch(model_path if model_path is not None else default if default.is_file() else None)
    app = create_application()
    theme.apply_theme(chosen_theme)  # before the window: its View > Theme shows it
    from siamese_gui.gui.main_window import MainWindow

    window = MainWindow(autoload=False, defer_panels=True)
    window.show()
    QTimer.singleShot(0, lambda: window.start_loading(model_path, prefetch=prefetch))
    # The other panels (matplotlib's import among them) are built once Compare has shown
    # its first verdict, or after a moment without one (no model, or it failed).
    window.compare_panel.verdictShown.connect(lambda: QTimer.singleShot(PAINT_MS, window.build_panels))
    QTimer.singleShot(BUILD_PANELS_MS, window.build_panels)
    code = app.exec()
    # The window is closed and every thread joined. Without this, the interpreter's final
    # garbage collection walks every object TensorFlow made: 11 s (81 s on a busy
    # machine) of a process with no window after the user quit, against 1 s with it.
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    """`siamese-gui-app`: the desktop app alone, a gui-script (Windows opens no console).

    Args:
        argv: the arguments after the program's name; `sys.argv[1:]` when None.

    Returns:
        The exit status.
    """
    import argparse

    # Started without a console (pythonw on Windows) there is no stdout or stderr; a
    # print or a warning would then raise.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    parser = argparse.ArgumentParser(prog="siamese-gui-app", description="Start the Siamese GUI desktop app.")
    parser.add_argument("--model", metavar="FILE", help="model to open instead of the shipped one")
    parser.add_argument("--theme", choices=THEMES, help=THEME_HELP)
    args = parser.parse_args(argv)
    return run(model_path=args.model, theme_name=args.theme)
