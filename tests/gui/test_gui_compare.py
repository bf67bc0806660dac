"""Compare panel: distance once per pair, verdict flips with the slider, swap, random pairs."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage

from siamese_gui.gui.state import is_same


def _wait_distance(qtbot, panel):
    qtbot.waitUntil(lambda: panel.distance is not None, timeout=5000)
    return panel.distance


def test_slider_flips_verdict_without_recomputing(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    data = loaded_window.state.test_data
    different = int(np.flatnonzero(data.labels != data.labels[0])[0])
    panel.open_pair(0, different)
    distance = _wait_distance(qtbot, panel)
    comparator = loaded_window.state.comparator
    calls = comparator.distance_calls
    slider = panel.threshold.slider

    slider.setValue(panel.threshold.slider_value_for(distance * 0.5))
    assert loaded_window.state.threshold < distance
    assert panel.verdict == "Different"
    assert panel.verdict_label.text() == "Different"

    slider.setValue(panel.threshold.slider_value_for(distance * 1.5))
    assert loaded_window.state.threshold > distance
    assert panel.verdict == "Same"
    assert panel.verdict_label.text() == "Same"
    assert comparator.distance_calls == calls


def test_spin_box_and_other_panels_share_the_threshold(loaded_window):
    compare = loaded_window.compare_panel
    compare.threshold.spin.setValue(0.321)
    assert loaded_window.state.threshold == 0.321
    assert loaded_window.threshold_panel.control.spin.value() == 0.321
    assert loaded_window.threshold_label.text() == "Threshold: 0.321"


def test_distance_matches_comparator_and_swap_keeps_it(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    data = loaded_window.state.test_data
    panel.open_pair(1, 30)
    distance = _wait_distance(qtbot, panel)
    expected = loaded_window.state.comparator.distance(data.images[1] / 255.0, data.images[30] / 255.0)
    assert abs(distance - expected) < 1e-5
    caption_a = panel.pane_a.caption.text()
    panel.swap()
    assert panel.pane_b.caption.text() == caption_a
    assert panel.distance == distance


def test_random_pairs_have_the_asked_relation(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    for same in (True, False, True):
        assert panel.random_pair(same)
        assert (panel.pane_a.image.label == panel.pane_b.image.label) == same
        distance = _wait_distance(qtbot, panel)
        assert panel.verdict == ("Same" if is_same(distance, loaded_window.state.threshold) else "Different")


def test_open_file_and_paste(loaded_window, qtbot, tmp_path, dialogs):
    panel = loaded_window.compare_panel
    image = np.full((60, 40, 3), 255, np.uint8)
    cv2.rectangle(image, (10, 10), (30, 50), (0, 0, 0), -1)
    path = tmp_path / "shirt.png"
    cv2.imwrite(str(path), image)
    assert panel.pane_a.open_file(path)
    assert panel.pane_a.image.array.shape == (28, 28)
    assert panel.pane_a.caption.text() == "shirt.png"

    from PySide6.QtWidgets import QApplication

    QApplication.clipboard().setImage(QImage(str(path)))
    assert panel.pane_b.paste()
    assert panel.pane_b.image.caption == "pasted image"
    _wait_distance(qtbot, panel)
    assert dialogs == []


def test_verdict_waits_for_a_model(window, data):
    from siamese_gui.core.datasets import DataSplits

    window.state.set_data(DataSplits(data, data))
    panel = window.compare_panel
    panel.open_pair(0, 1)
    assert panel.distance is None
    assert panel.verdict is None
    assert "No model" in panel.verdict_label.text()


def test_dataset_pairs_show_the_ground_truth(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    panel.random_pair(same=False)
    _wait_distance(qtbot, panel)
    assert panel.ground_truth is False
    assert "different classes" in panel.explain_label.text()
    loaded_window.state.set_threshold(0.0)
    assert "right" in panel.explain_label.text()


def test_explanation_names_distance_and_threshold(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    panel.open_pair(0, 1)
    distance = _wait_distance(qtbot, panel)
    loaded_window.state.set_threshold(distance + 0.1)
    from PySide6.QtGui import QTextDocument

    document = QTextDocument()
    document.setHtml(panel.explain_label.text())
    assert f"distance {distance:.3f} < threshold {distance + 0.1:.3f}" in document.toPlainText()
