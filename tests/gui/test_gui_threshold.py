"""Threshold panel: presets come from core.evaluation, metrics table, saving the threshold."""

from __future__ import annotations

import shutil

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


def test_save_threshold_writes_the_model_file(loaded_window, saved_model, tmp_path):
    from siamese_gui.core.store import read_metadata

    model_file = tmp_path / "model.keras"
    shutil.copyfile(saved_model, model_file)
    before = read_metadata(model_file)
    state = loaded_window.state
    state.set_model_path(model_file)
    state.set_threshold(0.777)
    assert loaded_window.threshold_panel.save_threshold()
    saved = read_metadata(model_file)
    assert saved == {**before, "threshold": 0.777}
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_invalid_thresholds_never_reach_the_state(loaded_window):
    state = loaded_window.state
    state.set_threshold(0.4)
    for bad in (float("nan"), float("inf"), -1.0, 1e308):
        state.set_threshold(bad)
        assert state.threshold == 0.4


def test_save_threshold_of_an_unsaved_model_asks_to_save(loaded_window, qtbot):
    with qtbot.waitSignal(loaded_window.threshold_panel.saveModelRequested, timeout=1000):
        assert not loaded_window.threshold_panel.save_threshold()


def test_save_threshold_reports_a_missing_model_file(loaded_window, tmp_path, dialogs):
    loaded_window.state.set_model_path(tmp_path / "missing.keras")
    assert not loaded_window.threshold_panel.save_threshold()
    assert dialogs and "missing.keras" in dialogs[-1][1] and "not found" in dialogs[-1][1]
