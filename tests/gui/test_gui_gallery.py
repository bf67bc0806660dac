"""Gallery panel: tile count, seeded shuffle, filters, click opens Compare, PNG export."""

from __future__ import annotations

import numpy as np

from siamese_gui.gui.gallery_panel import choose_pairs


def _wait_tiles(qtbot, gallery):
    qtbot.waitUntil(lambda: bool(gallery.tiles), timeout=5000)


def test_tile_count_follows_the_spin_box(loaded_window, qtbot):
    gallery = loaded_window.gallery_panel
    _wait_tiles(qtbot, gallery)
    assert len(gallery.tiles) == 12
    gallery.count_spin.setValue(5)
    gallery.rebuild()
    assert len(gallery.tiles) == 5


def test_same_seed_same_pairs(loaded_window, qtbot):
    gallery = loaded_window.gallery_panel
    _wait_tiles(qtbot, gallery)
    first = [t.indices for t in gallery.tiles]
    gallery.shuffle()
    assert [t.indices for t in gallery.tiles] != first
    gallery.seed_spin.setValue(gallery.seed_spin.value() - 1)
    gallery.rebuild()
    assert [t.indices for t in gallery.tiles] == first


def test_mistakes_filter_shows_only_wrong_verdicts(loaded_window, qtbot):
    gallery = loaded_window.gallery_panel
    _wait_tiles(qtbot, gallery)
    state = loaded_window.state
    evaluation = state.evaluation
    # Between the two classes of distance so some same pairs are wrongly rejected.
    state.set_threshold(float(np.median(evaluation.distances[evaluation.pairs.same])))
    gallery.set_mode("mistakes")
    assert gallery.tiles
    assert all(tile.correct is False for tile in gallery.tiles)
    assert all("wrong" in tile.verdict.text() for tile in gallery.tiles)

    gallery.set_mode("all")
    assert len(gallery.tiles) == 12
    assert any(tile.correct for tile in gallery.tiles)


def test_hardest_filter_sorts_by_wrongness():
    distances = np.array([0.1, 0.9, 0.4, 0.6])
    same = np.array([True, True, False, False])
    assert list(choose_pairs(distances, same, 0.5, 2, 0, "hardest")) == [1, 2]
    assert list(choose_pairs(distances, same, 0.5, 4, 0, "mistakes")) in ([1, 2], [2, 1])


def test_no_mistakes_shows_a_message(loaded_window, qtbot):
    gallery = loaded_window.gallery_panel
    _wait_tiles(qtbot, gallery)
    evaluation = loaded_window.state.evaluation
    same = evaluation.pairs.same
    if evaluation.distances[same].max() >= evaluation.distances[~same].min():
        return  # the synthetic data overlaps; nothing to check
    loaded_window.state.set_threshold(float(evaluation.distances[same].max()) + 1e-6)
    gallery.set_mode("mistakes")
    assert gallery.tiles == []
    assert "every pair is judged right" in gallery.empty_label.text()


def test_threshold_recolours_tiles(loaded_window, qtbot):
    gallery = loaded_window.gallery_panel
    _wait_tiles(qtbot, gallery)
    loaded_window.state.set_threshold(0.0)
    assert all(t.verdict.text().startswith("Different") for t in gallery.tiles)
    loaded_window.state.set_threshold(100.0)
    assert all(t.verdict.text().startswith("Same") for t in gallery.tiles)


def test_click_opens_the_pair_in_compare(loaded_window, qtbot):
    from PySide6.QtCore import Qt

    gallery = loaded_window.gallery_panel
    loaded_window.tabs.setCurrentWidget(gallery)
    _wait_tiles(qtbot, gallery)
    tile = gallery.tiles[3]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert loaded_window.tabs.currentWidget() is loaded_window.compare_panel
    data = loaded_window.state.test_data
    a, b = tile.indices
    assert np.array_equal(loaded_window.compare_panel.pane_a.image.array, data.images[a] / np.float32(255))
    assert np.array_equal(loaded_window.compare_panel.pane_b.image.array, data.images[b] / np.float32(255))
    qtbot.waitUntil(lambda: loaded_window.compare_panel.distance is not None, timeout=5000)
    assert abs(loaded_window.compare_panel.distance - tile.distance) < 1e-5


def test_export_png(loaded_window, qtbot, tmp_path):
    _wait_tiles(qtbot, loaded_window.gallery_panel)
    target = tmp_path / "gallery"
    assert loaded_window.export_gallery(target)
    assert (tmp_path / "gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
