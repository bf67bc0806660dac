"""Colours from the palette: light and dark both readable, every colour from the theme,
figures that follow it, and a theme switch at run time that repaints."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import click, settle, show_tab
from matplotlib.colors import to_hex
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from siamese_gui.core.errors import ConfigError
from siamese_gui.gui import theme

_HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")
# What a style sheet's colour properties hold: "color: #123456; border: 1px solid #abcdef".
_COLOR_VALUES = re.compile(r"(?:color|background(?:-color)?|border[\w-]*)\s*:\s*([^;}]*)", re.IGNORECASE)


@pytest.fixture
def dark(qapp):
    """The app in the dark theme; the system's again afterwards."""
    theme.apply_theme("dark")
    QApplication.processEvents()
    yield theme.colors()
    theme.apply_theme("system")
    QApplication.processEvents()


def _luminance_of(image) -> float:
    """Mean WCAG luminance of a grabbed image (sampled)."""
    values = [theme.luminance(image.pixelColor(x, y))
              for x in range(0, image.width(), max(1, image.width() // 40))
              for y in range(0, image.height(), max(1, image.height() // 40))]
    return float(np.mean(values))


def _colours_not_from_theme(root: QWidget, allowed: set[str]) -> list[str]:
    """Every colour in a style sheet or a label's rich text under `root` that the theme
    did not give: hex codes outside `allowed`, rgb() and named colours ("white")."""
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        texts = [widget.styleSheet()]
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        for text in texts:
            if "rgb(" in text.lower() or "rgba(" in text.lower():
                found.append(f"{widget.objectName() or type(widget).__name__}: {text}")
            for value in _COLOR_VALUES.findall(text):
                for word in re.findall(r"#?\w+", value):
                    if word.startswith("#"):
                        if word.lower() not in allowed:
                            found.append(f"{type(widget).__name__}: {word} in {text!r}")
                    elif not word[0].isdigit() and QColor.isValidColorName(word):
                        found.append(f"{type(widget).__name__}: named colour {word!r} in {text!r}")
    return found


# Contrast --------------------------------------------------------------------------------

def test_contrast_ratio_follows_wcag():
    assert theme.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast("#777777", "#777777") == pytest.approx(1.0)
    # WCAG's own example: #767676 on white is the lightest grey that passes AA (4.54:1).
    assert theme.contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("kind", ["light", "dark"])
def test_every_text_colour_is_readable_on_the_palette(qapp, kind):
    palette = theme.light_palette() if kind == "light" else theme.dark_palette()
    assert theme.is_dark(palette) == (kind == "dark")
    c = theme.colors_for(palette)
    assert c.dark == (kind == "dark")
    for name, value in [(n, getattr(c, n)) for n in ("same", "different", "right", "wrong", "notice", "muted",
                                                     "text")] + [("series", v) for v in c.series]:
        for background in (c.base, c.window):
            assert theme.contrast(value, background) >= theme.TEXT_CONTRAST, (kind, name, value, background)
    # Text on a verdict badge, and the lines and marks of the figures.
    for badge in (c.same, c.different):
        assert theme.contrast(c.on_verdict, badge) >= theme.TEXT_CONTRAST
    for line in (c.same_fill, c.different_fill, c.train_loss, c.val_loss, c.threshold, c.strong_line):
        assert theme.contrast(line, c.base) >= theme.GRAPHIC_CONTRAST, (kind, line)
    # The four meanings stay four colours.
    assert len({c.same, c.different, c.right, c.wrong}) == 4


def test_readable_keeps_a_colour_that_already_is_and_fixes_one_that_is_not():
    white, black = QColor("#ffffff"), QColor("#000000")
    assert theme.readable("#000080", [white]).name() == "#000080"
    pale = theme.readable("#ffee88", [white])  # pale yellow on white: 1.2:1
    assert theme.contrast(pale, white) >= theme.TEXT_CONTRAST
    assert pale.hue() == pytest.approx(QColor("#ffee88").hue(), abs=3)  # darkened, same hue
    deep = theme.readable("#1a1a80", [black])
    assert theme.contrast(deep, black) >= theme.TEXT_CONTRAST


# The window in the dark theme --------------------------------------------------------------

def test_a_dark_window_uses_only_the_themes_colours(dark, loaded_window, qtbot):
    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    for index in range(window.tabs.count()):
        show_tab(qtbot, window, window.tabs.widget(index))
        settle(qtbot, window)
    show_tab(qtbot, window, window.map_panel)
    window.map_panel.method_combo.setCurrentIndex(1)  # PCA only
    with qtbot.waitSignal(window.map_panel.mapChanged, timeout=20_000):
        click(qtbot, window.map_panel.draw_button)
    show_tab(qtbot, window, window.compare_panel)
    click(qtbot, window.compare_panel.same_button)
    qtbot.waitUntil(lambda: window.compare_panel.distance is not None, timeout=20_000)
    show_tab(qtbot, window, window.gallery_panel)
    qtbot.waitUntil(lambda: bool(window.gallery_panel.tiles), timeout=20_000)

    c = theme.colors()
    assert c.dark
    assert not _colours_not_from_theme(window, c.names())
    # The style sheets say dark things: the image pane, a gallery tile, a verdict.
    assert c.pane in window.compare_panel.pane_a.styleSheet()
    assert c.tile in window.gallery_panel.tiles[0].styleSheet()
    assert c.verdict(window.compare_panel.verdict is not None and
                     window.compare_panel.verdict.value == "same") in window.compare_panel.verdict_label.styleSheet()
    # And the window looks dark.
    assert _luminance_of(window.grab().toImage()) < 0.2


def test_figures_follow_the_palette(dark, loaded_window, qtbot):
    window = loaded_window
    window.show()
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    settle(qtbot, window)
    canvas = panel.plots
    qtbot.waitUntil(lambda: canvas.roc_line is not None, timeout=20_000)
    canvas.draw()
    c = theme.colors()
    figure = canvas.figure
    assert to_hex(figure.get_facecolor()) == c.window
    hist, roc = canvas.hist_ax, canvas.roc_ax
    assert to_hex(roc.get_facecolor()) == c.base
    assert to_hex(hist.get_facecolor()) == c.base
    assert to_hex(hist.xaxis.label.get_color()) == c.text
    assert all(to_hex(t.get_color()) == c.text for t in hist.get_xticklabels())
    assert to_hex(hist.spines["left"].get_edgecolor()) == c.axis
    assert all(to_hex(t.get_color()) == c.text for t in hist.get_legend().get_texts())
    assert to_hex(hist.patches[0].get_facecolor()) == c.same_fill  # the first bars: same-class pairs
    assert to_hex(canvas.roc_line.get_color()) == c.strong_line
    legend_handles = hist.get_legend().legend_handles
    assert to_hex(legend_handles[0].get_facecolor()) == c.same_fill
    assert theme.contrast(c.strong_line, c.base) >= theme.GRAPHIC_CONTRAST

    # Back to light: the same figure, drawn again, in the light palette's colours.
    theme.apply_theme("light")
    QApplication.processEvents()
    canvas.draw()
    light = theme.colors()
    assert not light.dark
    assert to_hex(figure.get_facecolor()) == light.window != c.window
    assert to_hex(hist.patches[0].get_facecolor()) == light.same_fill
    assert all(to_hex(t.get_color()) == light.text != c.text for t in hist.get_xticklabels())
    assert to_hex(canvas.roc_line.get_color()) == light.strong_line != c.strong_line
    assert to_hex(legend_handles[0].get_facecolor()) == light.same_fill


def _choose_theme_from_menu(qtbot, window, mnemonic: str) -> None:
    """Open View, then Theme, then press the theme's underlined letter, as with the keyboard."""
    bar = window.menuBar()
    view = next(a for a in bar.actions() if a.text() == "&View")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(view).center())
    menu = view.menu()
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    qtbot.keyClick(menu, "h")  # T&heme
    qtbot.waitUntil(window.theme_menu.isVisible, timeout=5000)
    qtbot.keyClick(window.theme_menu, mnemonic)
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5000)


def test_view_theme_dark_repaints_the_running_window(loaded_window, qtbot):
    from siamese_gui.gui.common import remembered_theme

    window = loaded_window
    window.show()
    qtbot.waitExposed(window)
    show_tab(qtbot, window, window.compare_panel)
    click(qtbot, window.compare_panel.same_button)
    qtbot.waitUntil(lambda: window.compare_panel.distance is not None, timeout=20_000)
    window.build_panels()
    light = theme.colors()
    assert not light.dark
    run_detail = window.train_panel.run_list.detail_label
    assert light.muted in run_detail.text()  # "No runs yet", in the muted colour
    before = _luminance_of(window.grab().toImage())

    try:
        _choose_theme_from_menu(qtbot, window, "d")
        qtbot.waitUntil(lambda: theme.colors().dark, timeout=5000)
        dark = theme.colors()
        qtbot.waitUntil(lambda: dark.pane in window.compare_panel.pane_a.styleSheet(), timeout=5000)
        assert window.theme_actions["dark"].isChecked()
        assert remembered_theme() == "dark"  # the next launch starts dark
        # Style sheets made again, rich text recoloured, the verdict painted anew.
        assert dark.muted in window.compare_panel.distance_caption.styleSheet()
        assert dark.muted in run_detail.text() and light.muted not in run_detail.text()
        verdict_style = window.compare_panel.verdict_label.styleSheet()
        assert dark.on_verdict in verdict_style and light.on_verdict not in verdict_style
        assert not _colours_not_from_theme(window, dark.names())
        show_tab(qtbot, window, window.threshold_panel)
        canvas = window.threshold_panel.plots
        canvas.draw()
        assert to_hex(canvas.figure.get_facecolor()) == dark.window
        after = _luminance_of(window.grab().toImage())
        assert after < before / 2, (before, after)

        _choose_theme_from_menu(qtbot, window, "s")  # &System: light on this platform
        qtbot.waitUntil(lambda: not theme.colors().dark, timeout=5000)
        assert remembered_theme() == "system" and window.theme_actions["system"].isChecked()
        qtbot.waitUntil(lambda: light.pane in window.compare_panel.pane_a.styleSheet(), timeout=5000)
    finally:
        theme.apply_theme("system")
        QApplication.processEvents()


def test_a_widget_gone_is_not_restyled(qapp, qtbot):
    from shiboken6 import delete, isValid

    label = QLabel("x")
    theme.set_style(label, lambda c: f"color: {c.muted};")
    delete(label)  # its restyler, a child, goes with it
    assert not isValid(label)
    with qtbot.captureExceptions() as exceptions:
        theme.apply_theme("dark")
        QApplication.processEvents()
        theme.apply_theme("system")
        QApplication.processEvents()
    assert not exceptions, [str(e[1]) for e in exceptions]


# Choosing the theme at start ---------------------------------------------------------------

def test_startup_theme_takes_the_option_then_the_variable_then_the_menu_choice(monkeypatch):
    from siamese_gui.gui.common import remember_theme, startup_theme

    monkeypatch.delenv("SIAMESE_GUI_THEME", raising=False)
    assert startup_theme() == "system"
    remember_theme("light")
    assert startup_theme() == "light"
    monkeypatch.setenv("SIAMESE_GUI_THEME", "Dark")
    assert startup_theme() == "dark"
    assert startup_theme("light") == "light"
    monkeypatch.setenv("SIAMESE_GUI_THEME", "drak")
    with pytest.raises(ConfigError, match="SIAMESE_GUI_THEME.*'drak'"):
        startup_theme()


def test_siamese_gui_theme_option_reaches_the_app(monkeypatch):
    from siamese_gui.cli import commands
    from siamese_gui.gui import app as app_module

    asked = []
    monkeypatch.setattr(app_module, "run", lambda model_path=None, theme_name=None: asked.append(theme_name) or 0)
    assert commands.main(["--theme", "dark"]) == 0
    assert commands.main(["gui", "--theme", "light"]) == 0
    assert commands.main(["--theme", "dark", "gui"]) == 0
    assert commands.main([]) == 0
    assert app_module.main(["--theme", "light"]) == 0
    assert asked == ["dark", "light", "dark", None, "light"]
    with pytest.raises(SystemExit):
        commands.build_parser().parse_args(["--theme", "purple"])


def test_run_with_theme_dark_opens_a_dark_window(monkeypatch, qapp):
    from siamese_gui.gui import app as app_module
    from siamese_gui.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "start_loading", lambda self, path=None, prefetch=None: None)
    monkeypatch.setattr(app_module.gc, "freeze", lambda: None)
    seen = []

    def look_and_close():
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen.append((theme.colors().dark, window.theme_actions["dark"].isChecked(),
                     _luminance_of(window.grab().toImage())))
        window.close()

    QTimer.singleShot(300, look_and_close)
    try:
        assert app_module.run(model_path=str(Path("some.keras")), theme_name="dark") == 0
    finally:
        theme.apply_theme("system")
        QApplication.processEvents()
    assert seen and seen[0][0] and seen[0][1]
    assert seen[0][2] < 0.2


def test_rich_text_takes_the_new_colours_and_leaves_the_words(qapp):
    light = theme.colors_for(theme.light_palette())
    dark = theme.colors_for(theme.dark_palette())
    label = QLabel(f"<span style='color:{light.muted}'>file {light.muted}.png</span> "
                   f"<b style='color:{light.wrong}'>wrong</b>")
    theme.recolor_rich_text(light, dark)
    assert label.text() == (f"<span style='color:{dark.muted}'>file {light.muted}.png</span> "
                            f"<b style='color:{dark.wrong}'>wrong</b>")
