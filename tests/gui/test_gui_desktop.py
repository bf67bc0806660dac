"""The desktop app as the desktop sees it: its desktop-file name and icons, and the
`siamese-gui-app` gui-script starting the window quietly from a terminal."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers import cli_env

from siamese_gui.core.app.desktop import DESKTOP_ID, ICON_SIZES

# What the offscreen platform plugin itself says on every window (not the app's words).
OFFSCREEN_PLUGIN = re.compile(r"^This plugin does not support propagateSizeHints\(\)$")
# Closes the window once every panel is built (matplotlib imported, figures made).
LAUNCH = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from siamese_gui.gui.app import create_application, main

app = create_application()
def close_when_built():
    windows = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow"]
    if windows and windows[0].panels_built and windows[0].state.model is not None:
        print("built", flush=True)
        windows[0].close()
    else:
        QTimer.singleShot(200, close_when_built)
QTimer.singleShot(200, close_when_built)
sys.exit(main([]))
"""


def test_the_app_names_its_desktop_entry_and_has_every_icon_size(qapp):
    from siamese_gui.gui.app import app_icon, create_application

    assert create_application().desktopFileName() == DESKTOP_ID
    sizes = {size.width() for size in app_icon().availableSizes()}
    assert set(ICON_SIZES) <= sizes


def test_gui_script_starts_the_window_and_prints_nothing(tmp_path):
    env = cli_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # a user's shell does not set it
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), SIAMESE_GUI_CACHE=str(tmp_path / "cache"),
               MPLCONFIGDIR=str(tmp_path / "mpl"))
    run = subprocess.run([sys.executable, "-c", LAUNCH], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout == "built\n"
    noise = [line for line in run.stderr.splitlines() if not OFFSCREEN_PLUGIN.match(line)]
    assert noise == []
