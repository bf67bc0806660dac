"""Crisp on a high-DPI screen: shown pixmaps carry every device pixel at scale factor 2.

Qt reads QT_SCALE_FACTOR once, when the application starts, so the checks run in a
fresh pytest process started with it; in this process they skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import show_tab
from PySide6.QtWidgets import QApplication

from siamese_gui.gui.widgets.image_pane import MODEL_VIEW_SIZE

HERE = Path(__file__).resolve()
SCALE = 2


def _assert_sharp(pixmap, logical_width: int, logical_height: int) -> None:
    assert not pixmap.isNull()
    assert pixmap.devicePixelRatio() == SCALE
    # Twice as many pixels as the room it takes, which is what the widget gives it.
    assert (pixmap.width(), pixmap.height()) == (SCALE * logical_width, SCALE * logical_height)
    size = pixmap.deviceIndependentSize()
    assert (size.width(), size.height()) == (logical_width, logical_height)


def test_pixmaps_are_sharp_at_scale_factor_2():
    env = dict(os.environ, QT_SCALE_FACTOR=str(SCALE), QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{HERE}::test_shown_pixmaps_have_every_device_pixel"],
        cwd=HERE.parents[2], env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout, run.stdout[-2000:]


def test_shown_pixmaps_have_every_device_pixel(loaded_window, qtbot):
    if QApplication.instance().devicePixelRatio() != SCALE:
        pytest.skip(f"runs in the process started with QT_SCALE_FACTOR={SCALE}")
    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    compare = window.compare_panel
    qtbot.waitUntil(lambda: compare.pane_a.view.pixmap() is not None
                    and not compare.pane_a.view.pixmap().isNull(), timeout=10_000)
    for pane in (compare.pane_a, compare.pane_b):
        view = pane.view
        side = max(min(view.width(), view.height()) - 12, 16)
        _assert_sharp(view.pixmap(), side, side)  # the 28x28 image fitted into a square
        _assert_sharp(pane.model_view.pixmap(), MODEL_VIEW_SIZE, MODEL_VIEW_SIZE)

    gallery = window.gallery_panel
    show_tab(qtbot, window, gallery)
    qtbot.waitUntil(lambda: bool(gallery.tiles), timeout=10_000)
    picture = gallery.tiles[0].pictures[0]
    _assert_sharp(picture.pixmap(), picture.width(), picture.height())
