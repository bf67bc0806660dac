"""Threshold panel: presets come from core.evaluation, metrics table, saving the threshold."""

from __future__ import annotations

import json

import pytest

from siamese_gui.core.evaluation import equal_error_rate, max_accuracy_threshold, metrics_at, threshold_for_far


def test_presets_use_the_core(loaded_window):
    panel = loaded_window.threshold_panel
    state = loaded_window.state
    d, same = state.evaluation.distances, state.evaluation.pairs.same
    panel.apply_preset("max_accuracy")
    assert state.threshold == pytest.approx(max_accuracy_threshold(d, same)[1])
    panel.eer_button.click()
    assert state.threshold == pytest.approx(equal_error_rate(d, same)[1])
    panel.far_button.click()
    assert state.threshold == pytest.approx(threshold_for_far(d, same, 0.01))


def test_metrics_table_follows_the_threshold(loaded_window):
    panel = loaded_window.threshold_panel
    state = loaded_window.state
    state.set_threshold(0.4)
    expected = metrics_at(state.evaluation.distances, state.evaluation.pairs.same, 0.4)
    assert panel.table.item(0, 1).text() == f"{expected.accuracy:.1%}"
    assert panel.table.item(3, 1).text() == f"{expected.far:.1%}"
    assert panel.table.item(4, 1).text() == f"{expected.frr:.1%}"
    assert list(panel.plots.threshold_line.get_xdata()) == [0.4, 0.4]
    assert list(panel.plots.operating_point.get_xdata()) == [expected.far]


def test_save_threshold_writes_the_sidecar(loaded_window, tmp_path):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"placeholder")
    (tmp_path / "model.json").write_text(json.dumps({"threshold": 0.5, "other": 1}))
    state = loaded_window.state
    state.set_model_path(model_file)
    state.set_threshold(0.777)
    assert loaded_window.threshold_panel.save_threshold()
    saved = json.loads((tmp_path / "model.json").read_text())
    assert saved == {"threshold": 0.777, "other": 1}


def test_save_threshold_of_an_unsaved_model_asks_to_save(loaded_window, qtbot):
    with qtbot.waitSignal(loaded_window.threshold_panel.saveModelRequested, timeout=1000):
        assert not loaded_window.threshold_panel.save_threshold()


def test_save_threshold_reports_an_unwritable_sidecar(loaded_window, tmp_path, dialogs):
    loaded_window.state.set_model_path(tmp_path / "missing.keras")
    assert not loaded_window.threshold_panel.save_threshold()
    assert dialogs and "sidecar" in dialogs[-1][1]
