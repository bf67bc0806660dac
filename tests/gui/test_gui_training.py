"""Train panel: the Start button starts a real run on tiny data; Stop; one run at a time;
Quit mid-run asks and stops within a batch; failures reach a dialog."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from gui_helpers import choose_file, click, press, show_tab
from PySide6.QtCore import Qt

from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.core.evaluation.threshold import ThresholdOrigin
from siamese_gui.core.model.config import TrainingConfig
from siamese_gui.gui import workers

pytest.importorskip("tensorflow")

TINY = TrainingConfig(epochs=2, batch_size=8, learning_rate=0.01, embedding_dim=8, preset="seed",
                      validation_fraction=0.25, augment=False)
LONG = TrainingConfig(**{**TINY.as_dict(), "epochs": 500})
TIMEOUT_MS = 120_000


@pytest.fixture
def train_window(window, data, qtbot):
    """The window on the Train tab, with the synthetic data loaded."""
    window.state.set_data(DataSplits(data, data))
    window.show()
    qtbot.waitExposed(window)
    show_tab(qtbot, window, window.train_panel)
    return window


def test_start_button_trains_and_the_model_can_be_used_and_saved(train_window, qtbot, tmp_path, monkeypatch,
                                                                   dialogs):
    window = train_window
    panel = window.train_panel
    panel.set_config(TINY)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
        assert panel.is_training
        assert not panel.start_button.isEnabled()
    outcome = finished.args[0]
    assert outcome.result.status == "completed"
    assert outcome.handle is not None
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert len(panel.plot.epoch_x) == 2
    assert panel.plot.ax.get_xlabel() == "epoch"  # TINY sets epochs
    assert len(panel.plot.batch_x) >= 2
    assert len(panel.plot.smooth_line.get_xdata()) == len(panel.plot.batch_x)
    # One plain sentence leads; the full result opens behind Details.
    from siamese_gui.core.app.training_run import run_lead

    assert panel.lead_label.text() == run_lead(outcome)
    assert panel.lead_label.text().startswith("Trained in ") and "test pairs right" in panel.lead_label.text()
    assert "Recommended threshold" in panel.result_label.text() and not panel.result_label.isVisible()
    click(qtbot, panel.details_button)
    assert panel.result_label.isVisible()

    click(qtbot, panel.use_button)
    assert window.state.model is outcome.handle
    assert window.state.threshold.value == pytest.approx(outcome.result.threshold)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=30_000)
    assert window.model_label.text() == "Model: trained (unsaved)"

    # Saved with the panel's button, then opened again with File › Open model (Ctrl+O).
    window.state.set_threshold(0.42)
    choose_file(monkeypatch, tmp_path / "tiny")
    click(qtbot, panel.save_button)
    qtbot.waitUntil(lambda: window.state.model_path is not None, timeout=60_000)
    assert window.state.model_path == tmp_path / "tiny.keras"
    assert window.model_label.text() == "Model: tiny.keras"
    assert window.windowTitle() == "tiny.keras"
    window.state.set_threshold(0.1)
    choose_file(monkeypatch, tmp_path / "tiny.keras")
    press(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.state.model is not outcome.handle, timeout=60_000)
    assert window.state.threshold.value == pytest.approx(0.42)
    # Saved as set by hand, with the figures at 0.42 on the validation pairs it trained with.
    assert window.state.threshold.origin is ThresholdOrigin.USER
    at = window.state.model.metadata["metrics"]["at_threshold"]
    assert at["threshold"] == pytest.approx(0.42) and at["measured_on"] == outcome.result.validation_pairs_description
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=30_000)
    assert dialogs == []


def _tiny_panel(train_window):
    """The Train panel set to the tiny settings, and the training data's class names."""
    panel = train_window.train_panel
    panel.set_config(TINY)
    return panel, train_window.state.train_data.class_names


def _type_into(qtbot, edit, text: str) -> None:
    edit.setFocus()
    qtbot.keyClicks(edit, text)


def test_class_selection_and_images_per_class_narrow_the_training_data(train_window, qtbot):
    panel, names = _tiny_panel(train_window)
    _type_into(qtbot, panel.classes_edit, f"{names[2]}, {names[0]}")
    panel.per_class_spin.setFocus()
    panel.per_class_spin.selectAll()
    qtbot.keyClicks(panel.per_class_spin, "10")
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        press(qtbot, train_window, "Ctrl+Return")
    outcome = finished.args[0]
    assert outcome.class_names == (names[2], names[0])
    split = outcome.handle.metadata["split"]
    counts = split["counts"]
    assert counts["train"] + counts["validation"] == 20 and split["seen_classes"] == [names[2], names[0]]
    assert panel.controller.runs_started == 1
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)


def test_unknown_class_is_refused_before_training(train_window, qtbot, dialogs):
    panel = train_window.train_panel
    panel.set_config(TINY)
    panel.classes_edit.setFocus()
    qtbot.keyClicks(panel.classes_edit, "no such class")
    click(qtbot, panel.start_button)
    assert dialogs and dialogs[-1][0] == "Invalid class selection" and "no such class" in dialogs[-1][1]
    assert panel.controller.runs_started == 0


def test_stop_button_stops_after_the_current_batch(train_window, qtbot):
    panel = train_window.train_panel
    panel.set_config(LONG)
    batches = []
    panel.controller.batchDone.connect(batches.append)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
        qtbot.waitUntil(lambda: bool(batches), timeout=TIMEOUT_MS)
        click(qtbot, panel.stop_button)
        stopped_at = len(batches)
    result = finished.args[0].result
    assert result.status == "stopped"
    assert finished.args[0].handle is not None
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    # Stop is polled after every batch; a couple may already be queued.
    assert len(batches) <= stopped_at + 3
    assert panel.start_button.isEnabled()
    # The result says how far the stopped run got, not the 500 epochs it was set to.
    assert result.steps_done == batches[-1].done < batches[-1].steps
    text = panel.result_label.text()
    assert f"Stopped</b> by the user after {result.steps_done:,} of {batches[-1].steps:,} optimiser steps" in text
    assert "500 epochs in" not in text


def test_save_model_as_after_a_stopped_run_saves_the_model_the_result_shows(train_window, qtbot, tmp_path,
                                                                           monkeypatch, dialogs):
    """File › Save model as… on the Train tab saves the stopped run's model (the one its
    Result shows), not the earlier model still in use; elsewhere, the model in use."""
    from gui_helpers import numpy_model

    from siamese_gui.core.runtime.store import read_metadata

    window = train_window
    earlier = numpy_model(0.3)
    window.state.set_model(earlier)
    panel = window.train_panel
    panel.set_config(LONG)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
        qtbot.waitUntil(lambda: panel.progress.maximum() > 0, timeout=TIMEOUT_MS)
        click(qtbot, panel.stop_button)
    run = finished.args[0]
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert "Stopped" in panel.result_label.text()
    choose_file(monkeypatch, tmp_path / "stopped.keras")
    press(qtbot, window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: run.handle.path is not None, timeout=60_000)
    saved = read_metadata(tmp_path / "stopped.keras")
    assert saved["training"]["status"] == "stopped"
    assert saved["threshold"] == json.loads(json.dumps(run.metadata["threshold"]))
    assert window.state.model is earlier and earlier.path is None
    # On another tab the menu saves the model in use: here one without Keras weights,
    # which says so rather than saving the Train result.
    show_tab(qtbot, window, window.compare_panel)
    choose_file(monkeypatch, tmp_path / "in_use.keras")
    press(qtbot, window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=30_000)
    assert dialogs[-1][0] == "Cannot save the model"
    assert not (tmp_path / "in_use.keras").exists()


def test_start_twice_runs_one_training(train_window, qtbot):
    panel = train_window.train_panel
    panel.set_config(TINY)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS):
        click(qtbot, panel.start_button)
        press(qtbot, train_window, "Ctrl+Return")
        assert panel.controller.runs_started == 1
        # the session's one worker (the one thread that uses the model) and one training thread
        assert len(workers.active_threads()) == 2
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert panel.controller.runs_started == 1


def test_quit_mid_training_asks_then_stops_within_a_batch(train_window, qtbot, dialogs):
    window = train_window
    panel = window.train_panel
    panel.set_config(LONG)
    with qtbot.waitSignal(panel.controller.batchDone, timeout=TIMEOUT_MS):
        click(qtbot, panel.start_button)

    dialogs.answer = dialogs.answer.No
    press(qtbot, window, "Ctrl+Q")
    assert dialogs[-1][0] == "Quit while training?"
    assert window.isVisible() and panel.is_training

    dialogs.answer = dialogs.answer.Yes
    started = time.perf_counter()
    press(qtbot, window, "Ctrl+Q")
    seconds = time.perf_counter() - started
    assert not window.isVisible()
    assert not panel.is_training
    assert not any(t.isRunning() for t in workers.active_threads())
    assert seconds < 5, f"closing took {seconds:.1f} s"


def test_failure_in_training_shows_a_dialog(window, data, qtbot, dialogs):
    too_small = data.subset([0, 1, 12])
    window.state.set_data(DataSplits(too_small, too_small))
    window.show()
    show_tab(qtbot, window, window.train_panel)
    panel = window.train_panel
    panel.set_config(TINY)
    with qtbot.waitSignal(panel.controller.failed, timeout=TIMEOUT_MS):
        click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs and dialogs[-1][0] == "Training failed"
    assert "too few images" in dialogs[-1][1]
    assert panel.start_button.isEnabled()
    assert window.state.model is None


def test_start_without_data_says_so(window, qtbot, dialogs):
    window.show()
    show_tab(qtbot, window, window.train_panel)
    click(qtbot, window.train_panel.start_button)
    assert dialogs == [("No data", "The training data is still loading; try again in a moment.")]
    assert window.train_panel.controller.runs_started == 0


def test_invalid_setting_is_reported_before_starting(train_window, qtbot, dialogs, monkeypatch):
    panel = train_window.train_panel
    monkeypatch.setattr(panel, "config", lambda: TrainingConfig(batch_size=2))
    click(qtbot, panel.start_button)
    assert dialogs and "batch size" in dialogs[-1][1]
    assert panel.controller.runs_started == 0


def test_non_finite_loss_is_reported_and_nothing_is_replaced(train_window, qtbot, dialogs, monkeypatch):
    import siamese_gui.core.training.train as training

    def failing_train(config, dataset, on_batch=None, on_epoch=None, should_stop=None, **_):
        return training.TrainingResult(
            embedding=None, model=None, config=config, status="failed",
            message="training failed: the loss became nan (try a smaller learning rate than 10)",
        )

    monkeypatch.setattr(training, "train", failing_train)
    panel = train_window.train_panel
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS):
        click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs == [("Training failed", "training failed: the loss became nan (try a smaller learning rate than 10)")]
    assert not panel.use_button.isEnabled()
    assert not panel.save_button.isEnabled()
    assert train_window.state.model is None


def test_exception_inside_training_reaches_a_dialog(train_window, qtbot, dialogs, monkeypatch):
    import siamese_gui.core.training.train as training

    def broken_train(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(training, "train", broken_train)
    panel = train_window.train_panel
    with qtbot.waitSignal(panel.controller.failed, timeout=TIMEOUT_MS):
        click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs == [("Training failed", "RuntimeError: out of cheese")]
    assert panel.start_button.isEnabled()


def test_train_form_is_generated_from_the_setting_declarations(window):
    from siamese_gui.core.model.config import LIMITS, TrainingConfig, settings

    form = window.train_panel.settings
    assert set(form.widgets) == {spec.name for spec in settings()}
    for name, (low, high) in LIMITS.items():
        widget = form.widgets[name]
        assert widget.minimum() == pytest.approx(low) and widget.maximum() == pytest.approx(min(high, 2**31 - 1))
        assert widget.toolTip()
    config = TrainingConfig(epochs=3, polarity="on", augment=False, learning_rate=0.01)
    window.train_panel.set_config(config)
    assert window.train_panel.config() == config


def test_held_out_classes_are_never_trained_on_and_become_the_test_data(train_window, qtbot):
    panel, names = _tiny_panel(train_window)
    _type_into(qtbot, panel.held_out_edit, f"{names[0]}, {names[1]}")
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
    split = finished.args[0].handle.metadata["split"]
    assert split["unseen_classes"] == [names[0], names[1]]
    assert names[0] not in split["seen_classes"] and names[1] not in split["seen_classes"]
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert "unseen" in panel.result_label.text() and names[0] in panel.result_label.text()

    click(qtbot, panel.use_button)
    qtbot.waitUntil(lambda: train_window.state.evaluation is not None, timeout=TIMEOUT_MS)
    test = train_window.state.test_data
    assert set(np.unique(test.labels)) == {0, 1}  # only the unseen classes are scored
    assert "unseen classes" in train_window.threshold_panel.summary_label.text()


def test_a_share_of_the_classes_can_be_held_out_picked_with_the_seed(train_window, qtbot):
    from siamese_gui.core.data.splits import held_out_from_text

    panel, names = _tiny_panel(train_window)
    _type_into(qtbot, panel.held_out_edit, "40%")
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
    unseen = finished.args[0].handle.metadata["split"]["unseen_classes"]
    assert len(unseen) == round(0.4 * len(names)) >= 2
    assert tuple(unseen) == held_out_from_text(names, "0.4", TINY.seed)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert all(name in panel.result_label.text() for name in unseen)


def test_holding_out_too_many_classes_is_refused(train_window, qtbot, dialogs):
    panel = train_window.train_panel
    names = train_window.state.train_data.class_names
    qtbot.keyClicks(panel.held_out_edit, ", ".join(names[1:]))
    click(qtbot, panel.start_button)
    assert dialogs[-1][0] == "Invalid class selection" and "fewer than 2" in dialogs[-1][1]
    assert panel.controller.runs_started == 0


def test_result_says_which_schedule_and_histogram_share_were_used(train_window, qtbot):
    """With the default architecture, aiming at new classes, the result names the schedule
    it followed, the histograms' share of the distance, and how the model compares with
    the best training-free baseline."""
    panel = train_window.train_panel
    panel.set_config(TrainingConfig(epochs=0, steps=3, batch_size=8, embedding_dim=8,
                                    validation_fraction=0.25, augment=False, goal="new-classes"))
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        click(qtbot, panel.start_button)
    result = finished.args[0].result
    assert result.schedule.startswith("3 optimiser steps") and "as set" in result.schedule
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    text = panel.result_label.text()
    assert "Schedule: 3 optimiser steps" in text
    assert "of each squared distance from the gradient histograms (automatic: the largest share within half a standard error" in text
    assert "kept out of the first 2 of 3 steps" in text
    assert "best training-free baseline" in text
    # The loss plot marks the step where the held-out classes joined training.
    assert result.probe_steps == 2 and panel.plot.marker.get_visible()
    assert panel.plot.marker.get_xdata()[0] == 2
    # A run set in steps is plotted against steps, not epochs the user never set.
    assert panel.plot.ax.get_xlabel() == "optimiser step" and panel.plot.batch_x == [1, 2, 3]
    assert "held-out classes join (share chosen)" in [t.get_text() for t in panel.plot.ax.get_legend().get_texts()]


def _wheel(qtbot, widget, steps: int = -3) -> None:
    """Turn the mouse wheel over the middle of `widget` (negative: towards the user)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    qtbot.wait(10)


def test_a_short_window_scrolls_the_settings_and_the_wheel_leaves_values_alone(train_window, qtbot):
    """The settings column scrolls rather than pushing the window past the screen; the
    wheel over a spin box the user has not clicked scrolls the column, not the value."""
    window = train_window
    panel = window.train_panel
    panel.result_label.setText("<br>".join(f"result line {i}" for i in range(30)))  # a long result
    window.resize(1100, 520)
    qtbot.waitUntil(lambda: window.height() <= 560, timeout=5_000)
    bar = panel.settings_column.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5_000)
    margin = panel.settings.widgets["margin"]
    before, scrolled = margin.value(), bar.value()
    _wheel(qtbot, margin)
    assert margin.value() == before
    assert bar.value() > scrolled
    click(qtbot, margin)  # once clicked, the wheel changes it as usual
    _wheel(qtbot, margin, steps=1)
    assert margin.value() != before


def test_starting_a_run_keeps_the_scroll_position_so_stop_is_where_start_was_clicked(train_window, qtbot):
    """Scrolled down to read an earlier result below the buttons, a click on Start leaves
    the column where it was (the result's text gets shorter, the column does not): the
    Stop button is still under the pointer, and clicking there stops."""
    window = train_window
    panel = window.train_panel
    panel.set_config(LONG)
    panel.result_label.setText("<br>".join(f"result line {i}" for i in range(12)))  # an earlier result
    window.resize(1100, 520)
    bar = panel.settings_column.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5_000)
    bar.setValue(bar.maximum())  # scrolled to the end, past the settings, to read the result
    qtbot.wait(50)
    scrolled = bar.value()
    assert scrolled > 0
    stop_at = panel.stop_button.mapTo(window, panel.stop_button.rect().center())
    assert window.childAt(stop_at) is panel.stop_button  # in view, under the pointer
    batches = []
    panel.controller.batchDone.connect(batches.append)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(batches), timeout=TIMEOUT_MS)
        qtbot.wait(100)  # let any relayout and focus move happen
        assert bar.value() == scrolled
        assert "estimating time left" in panel.progress.format()  # no guess from the first batch
        under = window.childAt(stop_at)
        assert under is panel.stop_button
        qtbot.mouseClick(under, Qt.MouseButton.LeftButton, pos=under.mapFrom(window, stop_at))
    assert finished.args[0].result.status == "stopped"
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
