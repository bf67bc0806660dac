"""Threshold panel: presets from core.evaluation, the model's own threshold, metrics, and
saving the threshold without ever writing the shipped model."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from gui_helpers import choose_file, click, numpy_model, show_tab
from PySide6.QtCore import QStandardPaths, Qt

from siamese_gui.core.evaluation.metrics import (
    equal_error_rate,
    max_accuracy_threshold,
    metrics_at,
    threshold_for_far,
)
from siamese_gui.core.evaluation.threshold import ThresholdOrigin, read_threshold
from siamese_gui.core.io.locations import default_model_path
from siamese_gui.core.runtime.archive import model_metadata, open_model_file, sidecar_path


def _hashes(path: Path) -> dict[str, str]:
    files = [p for p in (path, sidecar_path(path)) if p.exists()]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _metadata(path: Path) -> dict:
    """What a model file records (read without TensorFlow)."""
    return model_metadata(open_model_file(path))


@pytest.fixture
def panel(loaded_window, qtbot):
    loaded_window.show()
    qtbot.waitExposed(loaded_window)
    panel = loaded_window.threshold_panel
    show_tab(qtbot, loaded_window, panel)
    return panel


def _use_model(window, qtbot, model):
    window.state.set_model(model)
    # The presets wait for the validation pairs, which a busy machine may evaluate last.
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60_000)
    qtbot.waitUntil(lambda: window.threshold_panel.far_button.isEnabled(), timeout=10_000)


def test_preset_buttons_choose_on_validation_pairs_never_test_pairs(panel, loaded_window, qtbot):
    state = loaded_window.state
    validation = state.validation_evaluation
    d, same = validation.distances, validation.pairs.same
    assert not set(validation.data.images.reshape(len(validation.data), -1).sum(1)) & set(
        state.evaluation.data.images.reshape(len(state.evaluation.data), -1).sum(1))
    click(qtbot, panel.max_accuracy_button)
    assert state.threshold.value == pytest.approx(max_accuracy_threshold(d, same)[1])
    assert state.threshold.origin is ThresholdOrigin.PRESET
    assert state.threshold.detail.startswith("Max accuracy on ")
    assert "validation pairs" in state.threshold.detail
    click(qtbot, panel.eer_button)
    assert state.threshold.value == pytest.approx(equal_error_rate(d, same)[1])
    click(qtbot, panel.far_button)
    assert state.threshold.value == pytest.approx(threshold_for_far(d, same, 0.01))
    assert state.threshold.detail.startswith(f"FAR ≤ 1 % on {len(validation.pairs):,} validation pairs")
    panel.control.slider.setFocus()
    qtbot.keyClick(panel.control.slider, Qt.Key.Key_PageUp)
    assert state.threshold.describe().endswith("(set by hand)")


def test_models_recommended_button_restores_the_stored_threshold(panel, loaded_window, qtbot):
    state = loaded_window.state
    state.set_threshold(0.123)
    click(qtbot, panel.recommended_button)
    assert state.threshold.value == state.model.threshold.value == 0.5
    assert "0.5000" in panel.model_threshold_label.text()


def test_metrics_table_follows_the_threshold(panel, loaded_window):
    state = loaded_window.state
    state.set_threshold(0.4)
    expected = metrics_at(state.evaluation.distances, state.evaluation.pairs.same, 0.4)
    # Rates carry their 95 % interval.
    assert panel.table.item(0, 1).text() == expected.accuracy_rate.describe()
    assert panel.table.item(0, 1).text().startswith(f"{100 * expected.accuracy:.1f} % (")
    assert panel.table.item(3, 1).text() == expected.far_rate.describe()
    assert panel.table.item(4, 1).text() == expected.frr_rate.describe()
    assert list(panel.plots.threshold_line.get_xdata()) == [0.4, 0.4]
    assert list(panel.plots.operating_point.get_xdata()) == [expected.far]


def test_saving_into_the_users_own_model_asks_first(panel, loaded_window, qtbot, tmp_path, dialogs):
    model_file = tmp_path / "model.keras"
    shutil.copyfile(default_model_path(), model_file)
    before = _metadata(model_file)
    _use_model(loaded_window, qtbot, numpy_model(path=model_file))
    click(qtbot, panel.far_button)
    chosen = loaded_window.state.threshold

    dialogs.answer = dialogs.answer.No
    click(qtbot, panel.save_button)
    assert dialogs[-1][0] == "Save the threshold?"
    assert _metadata(model_file) == before

    dialogs.answer = dialogs.answer.Yes
    click(qtbot, panel.save_button)
    saved = _metadata(model_file)
    assert read_threshold(saved, "saved") == chosen and saved["threshold_origin"] == "preset"
    # Everything else as it was (the file format and the data record's digest may be newer).
    kept = lambda info: {k: v for k, v in info.items()  # noqa: E731
                         if not k.startswith("threshold") and k not in ("metrics", "format", "data_sha256")}
    assert kept(saved) == kept(before)
    described = loaded_window.state.model.threshold.describe()
    assert "FAR ≤ 1 % on" in described
    assert described in panel.model_threshold_label.text()


def test_unwritable_sidecar_is_reported(panel, loaded_window, qtbot, tmp_path, dialogs):
    _use_model(loaded_window, qtbot, numpy_model(path=tmp_path / "missing.keras"))
    click(qtbot, panel.save_button)
    assert dialogs[-1][0] == "Cannot save the threshold"
    assert "missing.keras" in dialogs[-1][1]


def test_unsaved_model_is_saved_as_a_new_file(panel, loaded_window, qtbot, monkeypatch):
    asked = choose_file(monkeypatch, "")
    click(qtbot, panel.save_button)
    assert asked and asked[-1][1] == "Save model as"
    data_folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    assert asked[-1][2].startswith(data_folder)


def test_shipped_model_is_never_written(panel, loaded_window, qtbot, monkeypatch, dialogs):
    shipped = default_model_path()
    before = _hashes(shipped)
    metadata = _metadata(shipped)
    model = numpy_model(path=shipped, read_only=True)
    model.metadata.update(metadata)
    _use_model(loaded_window, qtbot, model)
    asked = choose_file(monkeypatch, "")  # the user cancels the Save As dialog
    for button in (panel.max_accuracy_button, panel.eer_button, panel.far_button, panel.recommended_button,
                   panel.far_button, panel.save_button):
        click(qtbot, button)
        assert _hashes(shipped) == before, button.text()
    assert asked[-1][1] == "Save model as"
    suggestion = Path(asked[-1][2])
    assert suggestion != shipped and shipped.parent not in suggestion.parents
    assert not [d for d in dialogs if d[0] == "Save the threshold?"]
    # Choosing the shipped file itself in the dialog is refused too.
    choose_file(monkeypatch, shipped)
    click(qtbot, panel.save_button)
    assert dialogs[-1][0] == "Cannot save the model"
    assert _hashes(shipped) == before


def test_shipped_model_threshold_is_saved_in_a_copy(loaded_window, qtbot, monkeypatch, tmp_path, dialogs):
    pytest.importorskip("tensorflow")
    window = loaded_window  # its data's validation part holds same-class pairs
    shipped = default_model_path()
    before = _hashes(shipped)
    window.show()
    qtbot.waitExposed(window)
    window.open_model(shipped)
    qtbot.waitUntil(lambda: window.state.model_path == shipped, timeout=120_000)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=120_000)
    assert window.state.model.read_only
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    # The presets wait for the validation pairs, which a busy machine may evaluate last.
    qtbot.waitUntil(lambda: panel.far_button.isEnabled(), timeout=120_000)
    click(qtbot, panel.far_button)
    chosen = window.state.threshold
    assert chosen.origin is ThresholdOrigin.PRESET, chosen
    copy = tmp_path / "mine.keras"
    choose_file(monkeypatch, copy)
    click(qtbot, panel.save_button)
    qtbot.waitUntil(lambda: window.state.model_path == copy, timeout=60_000)
    saved = _metadata(copy)
    assert read_threshold(saved, "copy") == chosen
    # The shipped model records no validation pairs: its figures at 0.5796 are not kept.
    assert saved["metrics"]["at_threshold"] is None and saved["metrics"]["at_threshold_note"]
    assert not window.state.model.read_only
    assert window.state.model.threshold == chosen
    # Now the model is the user's own copy: saving again updates it in place, after asking.
    click(qtbot, panel.eer_button)
    click(qtbot, panel.save_button)
    assert dialogs[-1][0] == "Save the threshold?"
    assert _metadata(copy)["threshold"] == window.state.threshold.value
    assert _hashes(shipped) == before
    assert [d for d in dialogs if d[0] != "Save the threshold?"] == []
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_presets_wait_for_the_validation_pairs(panel, loaded_window, qtbot, tmp_path):
    """The presets are chosen on validation pairs: their buttons are live only once
    those pairs are evaluated, whichever role a busy machine finishes first."""
    state = loaded_window.state
    state.set_model(numpy_model(path=tmp_path / "model.keras"))
    assert panel.far_button.isEnabled() == (state.validation_evaluation is not None)
    qtbot.waitUntil(lambda: state.validation_evaluation is not None, timeout=60_000)
    assert all(b.isEnabled() for b in (panel.max_accuracy_button, panel.eer_button, panel.far_button))
    click(qtbot, panel.far_button)
    assert state.threshold.detail.startswith("FAR ≤ 1 % on")


def test_summary_says_when_the_test_classes_are_new_to_the_model(panel, loaded_window, qtbot):
    assert "(the classes it trained on)" in panel.summary_label.text()
    # A model trained on other classes: the same test images are classes it never saw.
    _use_model(loaded_window, qtbot, numpy_model(class_names=("cat", "dog")))
    qtbot.waitUntil(lambda: "(classes it never trained on)" in panel.summary_label.text(), timeout=60_000)


# --- a threshold saved from the window keeps its provenance and its figures -------------


def _open_trained_model(window, qtbot, trained, saved_model, folder, threshold="keep"):
    """Open a copy of the tiny trained model on the data it was trained on (the training
    split, whose validation part the model records) and show the Threshold panel."""
    from helpers import make_dataset

    from siamese_gui.core.data.datasets import DataSplits
    from siamese_gui.core.runtime.store import update_sidecar

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "trained.keras"
    shutil.copyfile(saved_model, model)
    if threshold != "keep":
        update_sidecar(model, threshold=threshold)
    window.show()
    qtbot.waitExposed(window)
    window.state.set_data(DataSplits(trained[1], make_dataset(per_class=6, seed=7)))
    window.open_model(model)
    qtbot.waitUntil(lambda: window.state.model_path == model, timeout=120_000)
    qtbot.waitUntil(lambda: window.state.validation_evaluation is not None, timeout=120_000)
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)
    return panel


def test_a_typed_threshold_saved_with_save_model_as_reopens_set_by_hand_with_its_figures(
        window, qtbot, monkeypatch, tmp_path, trained, saved_model):
    pytest.importorskip("tensorflow")
    from gui_helpers import press

    from siamese_gui.core.evaluation.metrics import pair_distances
    from siamese_gui.core.evaluation.validation import validation_pairs
    from siamese_gui.core.runtime.loading import load_model_handle

    panel = _open_trained_model(window, qtbot, trained, saved_model, tmp_path / "open")
    old = window.state.model.metadata["metrics"]["at_threshold"]["threshold"]
    spin = panel.control.spin
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(spin, "0.9")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.state.threshold.value == 0.9 and window.state.threshold.origin is ThresholdOrigin.USER
    assert old != 0.9

    saved = tmp_path / "saved" / "hand.keras"
    saved.parent.mkdir()
    asked = choose_file(monkeypatch, saved)
    press(qtbot, window, "Ctrl+Shift+S")  # File > Save model as…
    assert asked and asked[-1][1] == "Save model as"
    qtbot.waitUntil(lambda: window.state.model_path == saved, timeout=120_000)

    reopened = load_model_handle(saved)
    assert reopened.threshold.origin is ThresholdOrigin.USER
    assert reopened.threshold.describe() == "0.9000 (set by hand)"
    at = reopened.metadata["metrics"]["at_threshold"]
    assert at["threshold"] == 0.9
    # The figures are those at 0.9 on the validation pairs the model records.
    validation = window.state.splits.validation
    pairs = validation_pairs(validation.labels, trained[0].config.seed)
    distances = pair_distances(reopened.embed(validation.images), pairs)
    accepted, same = distances < 0.9, pairs.same
    expected = [int((accepted & same).sum()), int((accepted & ~same).sum()),
                int((~accepted & ~same).sum()), int((~accepted & same).sum())]
    assert [at[k] for k in ("true_accepts", "false_accepts", "true_rejects", "false_rejects")] == expected
    assert at["measured_on"] == trained[0].validation_pairs_description
    assert "0.9000 (set by hand)" in panel.model_threshold_label.text()


def test_a_fallback_threshold_saved_from_the_window_reopens_as_fallback(
        window, qtbot, monkeypatch, tmp_path, trained, saved_model):
    pytest.importorskip("tensorflow")
    from gui_helpers import press

    from siamese_gui.core.runtime.loading import load_model_handle

    panel = _open_trained_model(window, qtbot, trained, saved_model, tmp_path / "open", threshold=None)
    assert window.state.threshold.origin is ThresholdOrigin.FALLBACK
    saved = tmp_path / "saved" / "fallback.keras"
    saved.parent.mkdir()
    choose_file(monkeypatch, saved)
    press(qtbot, window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: window.state.model_path == saved, timeout=120_000)

    reopened = load_model_handle(saved).threshold
    assert reopened.origin is ThresholdOrigin.FALLBACK
    assert "stored with the model" not in reopened.describe()
    assert "stored with the model" not in panel.model_threshold_label.text()
    assert "fallback" in panel.model_threshold_label.text()
