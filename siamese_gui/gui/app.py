"""Start the desktop app."""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import siamese_gui
from siamese_gui.core.io.locations import default_model_path, resource_path
from siamese_gui.gui import APP_NAME
from siamese_gui.gui.common import remembered_model_path

# Milliseconds: a verdict is painted before the other panels are built; without one,
# they are built this long after the window appears.
PAINT_MS = 50
BUILD_PANELS_MS = 2500
ICON_NAMES = ("siamese-gui.svg", "siamese-gui-256.png", "siamese-gui-64.png", "siamese-gui-32.png")


def app_icon() -> QIcon:
    """The application icon from `resources/icons` (empty when the files are missing)."""
    icon = QIcon()
    for name in ICON_NAMES:
        try:
            path = resource_path("icons", name)
        except FileNotFoundError:
            return icon
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
    app.setDesktopFileName("siamese-gui")
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    return app


def run(model_path: str | Path | None = None) -> int:
    """Show the main window, load the model and data in the background, run the event loop.

    Args:
        model_path: a model to open instead of the shipped one.

    Returns:
        The exit status.
    """
    from siamese_gui.core.app.prefetch import Prefetch
    from siamese_gui.core.runtime.memory import cap_malloc_arenas

    cap_malloc_arenas()  # before any TensorFlow thread allocates

    default = default_model_path()
    remembered = remembered_model_path()
    if model_path is None and remembered is not None and remembered.is_file():
        default = remembered  # the model in use when the app last closed
    # Data and model load while the window's modules import and the window is built.
    prefetch = Prefetch(model_path if model_path is not None else default if default.is_file() else None)
    app = create_application()
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
