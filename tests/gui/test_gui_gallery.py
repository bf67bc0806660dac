"""Gallery panel: tile count, seeded shuffle, filters, tiles that grow, click opens Compare,
PNG export with a caption."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import choose_file, click, press, show_tab
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from siamese_gui.core.evaluation.metrics import Verdict
from siamese_gui.gui.panels.gallery import MIN_TILE_WIDTH, choose_pairs


@pytest.fixture
def gallery(loaded_window, qtbot):
    loaded_window.show()
    qtbot.waitExposed(loaded_window)
    panel = loaded_window.gallery_panel
    show_tab(qtbot, loaded_window, panel)
    qtbot.waitUntil(lambda: bool(panel.tiles), timeout=5000)
    return panel


def test_tile_count_follows_the_spin_box(gallery, qtbot):
    assert len(gallery.tiles) == 12
    gallery.count_spin.setFocus()
    gallery.count_spin.selectAll()
    qtbot.keyClicks(gallery.count_spin, "5")
    qtbot.waitUntil(lambda: len(gallery.tiles) == 5, timeout=2000)


def test_shuffle_button_and_the_same_seed_again(gallery, qtbot):
    from siamese_gui.gui.panels.gallery import PairTile

    first = [t.indices for t in gallery.tiles]
    click(qtbot, gallery.shuffle_button)
    assert [t.indices for t in gallery.tiles] != first
    # No tile of the previous draw is left on screen under the new ones.
    shown = [t for t in gallery.grid_widget.findChildren(PairTile) if t.isVisible()]
    assert sorted(map(id, shown)) == sorted(map(id, gallery.tiles))
    gallery.seed_spin.setFocus()
    qtbot.keyClick(gallery.seed_spin, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: [t.indices for t in gallery.tiles] == first, timeout=2000)


def test_mistakes_filter_shows_only_wrong_verdicts(gallery, loaded_window, qtbot):
    evaluation = loaded_window.state.evaluation
    # Between the two kinds of distance so some same pairs are wrongly rejected.
    loaded_window.state.set_threshold(float(np.median(evaluation.distances[evaluation.pairs.same])))
    press(qtbot, loaded_window, "Alt+2")
    assert gallery.mode == "mistakes"
    assert gallery.tiles
    assert all(tile.correct is False for tile in gallery.tiles)
    assert all("wrong" in tile.verdict.text() for tile in gallery.tiles)
    press(qtbot, loaded_window, "Alt+1")
    assert len(gallery.tiles) == 12
    assert any(tile.correct for tile in gallery.tiles)


def test_hardest_filter_sorts_by_wrongness():
    distances = np.array([0.1, 0.9, 0.4, 0.6])
    same = np.array([True, True, False, False])
    assert list(choose_pairs(distances, same, 0.5, 2, 0, "hardest")) == [1, 2]
    assert list(choose_pairs(distances, same, 0.5, 4, 0, "mistakes")) in ([1, 2], [2, 1])


def test_threshold_recolours_tiles(gallery, loaded_window):
    from siamese_gui.gui.theme import colors

    SAME_COLOR, DIFFERENT_COLOR = colors().same, colors().different  # noqa: N806
    loaded_window.state.set_threshold(0.0)
    assert all(t.judged is Verdict.DIFFERENT for t in gallery.tiles)
    assert all(DIFFERENT_COLOR in t.verdict.text() for t in gallery.tiles)
    loaded_window.state.set_threshold(100.0)
    assert all(t.judged is Verdict.SAME for t in gallery.tiles)
    assert all(SAME_COLOR in t.verdict.text() for t in gallery.tiles)


def test_tiles_grow_with_the_window(gallery, loaded_window, qtbot):
    loaded_window.resize(1024, 700)
    qtbot.waitUntil(lambda: gallery.tiles[0].width() >= MIN_TILE_WIDTH, timeout=2000)
    qtbot.wait(50)
    small = gallery.tiles[0].width()
    loaded_window.resize(1600, 900)
    qtbot.waitUntil(lambda: gallery.tiles[0].width() > small, timeout=2000)
    thumb = gallery.tiles[0].pictures[0]
    assert thumb.pixmap().width() > (MIN_TILE_WIDTH - 30) // 2
    # The tiles fill the row: little is left over on the right.
    viewport = gallery.scroll.viewport().width()
    columns = gallery._columns
    used = columns * gallery.tiles[0].width() + (columns - 1) * gallery.grid.spacing()
    assert viewport - used < 40


def test_click_opens_the_pair_in_compare(gallery, loaded_window, qtbot):
    tile = gallery.tiles[3]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert loaded_window.tabs.currentWidget() is loaded_window.compare_panel
    data = loaded_window.state.test_data
    a, b = tile.indices
    compare = loaded_window.compare_panel
    assert np.array_equal(compare.pane_a.image.array, data.images[a] / np.float32(255))
    assert np.array_equal(compare.pane_b.image.array, data.images[b] / np.float32(255))
    qtbot.waitUntil(lambda: compare.distance is not None, timeout=5000)
    assert abs(compare.distance - tile.distance) < 1e-5


def test_export_has_a_caption(gallery, loaded_window, qtbot, tmp_path, monkeypatch):
    asked = choose_file(monkeypatch, tmp_path / "gallery")
    gallery.count_spin.setFocus()  # a focused text field must not swallow the shortcut
    press(qtbot, loaded_window, "Ctrl+Shift+E")
    written = tmp_path / "gallery.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    caption = gallery.caption()
    for part in ("Model: trained (unsaved)", "synthetic test data", "Threshold: 0.500", "Filter: All pairs",
                 "Seed: 0"):
        assert part in caption
    image = QImage(str(written))
    grid = gallery.grid_widget.grab()
    assert image.width() == grid.width()
    assert image.height() > grid.height() + 10
    header = [image.pixelColor(x, y).lightness() for y in range(image.height() - grid.height())
              for x in range(0, image.width(), 3)]
    assert min(header) < 128  # the caption's text is drawn there
    # The next export dialog opens in the same folder.
    press(qtbot, loaded_window, "Ctrl+Shift+E")
    assert asked[-1][2] == str(tmp_path / "gallery.png")


def test_export_button_in_the_panel_saves_the_png_and_a_narrow_status_bar_elides(gallery, loaded_window, qtbot,
                                                                                 tmp_path, monkeypatch):
    """The panel's own Export button does what File › Export gallery as PNG… does; the
    message it leaves in a narrow window's status bar is shortened with "…", the whole
    of it in the tooltip, never cut off."""
    folder = tmp_path / "a folder with a rather long name for the exported gallery images"
    folder.mkdir()
    choose_file(monkeypatch, folder / "pairs")
    assert gallery.export_button.isVisible() and gallery.export_button.isEnabled()
    loaded_window.resize(700, 600)  # as narrow as the panels allow
    qtbot.waitUntil(lambda: loaded_window.width() < 1000, timeout=2_000)
    click(qtbot, gallery.export_button)
    written = folder / "pairs.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    message = loaded_window.message_label
    qtbot.waitUntil(lambda: message.text() == f"Gallery exported to {written}", timeout=2_000)
    for label in (message, loaded_window.model_label, loaded_window.data_label, gallery.summary):
        shown = label.shown_text()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width() + 1
        assert label.text() in label.toolTip()
        if shown != label.text():
            assert "…" in shown
    assert message.shown_text() != message.text()  # too long for the window: elided, not clipped
