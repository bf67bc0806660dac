"""Train panel: a tiny real run, stop, one run at a time, closing mid-run, failures."""

from __future__ import annotations

import pytest

from siamese_gui.core.config import TrainingConfig
from siamese_gui.core.datasets import DataSplits
from siamese_gui.gui import workers

pytest.importorskip("tensorflow")

TINY = TrainingConfig(epochs=2, batch_size=8, learning_rate=0.01, embedding_dim=8, preset="seed",
                      validation_fraction=0.25, augment=False)
TIMEOUT_MS = 120_000


def test_tiny_run_finishes_and_plots(window, data, qtbot, tmp_path, dialogs):
    panel = window.train_panel
    panel.set_config(TINY)
    window.state.set_data(DataSplits(data, data))
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        assert panel.start_training(data)
    outcome = finished.args[0]
    assert outcome.result.status == "completed"
    assert outcome.loaded is not None
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert len(panel.plot.epoch_x) == 2
    assert len(panel.plot.batch_x) >= 2
    assert len(panel.plot.smooth_line.get_xdata()) == len(panel.plot.batch_x)
    assert len(panel.plot.train_line.get_xdata()) == 2
    assert "Recommended threshold" in panel.result_label.text()
    assert panel.use_button.isEnabled()

    panel.use_button.click()
    assert window.state.model is outcome.loaded
    assert window.state.threshold == pytest.approx(outcome.result.threshold)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=30_000)
    assert window.state.model_name == "trained (unsaved)"

    # Saved, then loaded back on the task thread (TensorFlow used across several tasks).
    window.state.set_threshold(0.42)
    window.save_model_as(path=tmp_path / "tiny")
    qtbot.waitUntil(lambda: window.state.model_path is not None, timeout=60_000)
    assert window.state.model_path == tmp_path / "tiny.keras"
    assert window.model_label.text() == "Model: tiny.keras"
    window.state.set_threshold(0.1)
    window.open_model(tmp_path / "tiny.keras")
    qtbot.waitUntil(lambda: window.state.model is not outcome.loaded, timeout=60_000)
    assert window.state.threshold == pytest.approx(0.42)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=30_000)
    assert dialogs == []


def test_stop_mid_run_keeps_the_weights(window, data, qtbot):
    panel = window.train_panel
    panel.set_config(TrainingConfig(**{**TINY.as_dict(), "epochs": 500}))
    batches = []

    def on_batch(progress):
        batches.append(progress)
        if len(batches) == 1:
            panel.stop_button.click()

    panel.controller.batchDone.connect(on_batch)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS) as finished:
        panel.start_training(data)
    result = finished.args[0].result
    assert result.status == "stopped"
    assert finished.args[0].loaded is not None
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    # Stop is polled after every batch; a couple may already be queued.
    assert len(batches) <= 3
    assert panel.start_button.isEnabled()


def test_start_twice_runs_one_training(window, data, qtbot):
    panel = window.train_panel
    panel.set_config(TINY)
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS):
        assert panel.start_training(data)
        assert not panel.start_training(data)
        panel.start_button.click()
        assert panel.controller.runs_started == 1
        assert len(workers.active_threads()) == 2  # the task thread and one training thread
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert panel.controller.runs_started == 1


def test_closing_mid_training_stops_cleanly(window, data, qtbot):
    panel = window.train_panel
    panel.set_config(TrainingConfig(**{**TINY.as_dict(), "epochs": 500}))
    window.show()
    with qtbot.waitSignal(panel.controller.batchDone, timeout=TIMEOUT_MS):
        panel.start_training(data)
    window.close()
    assert not panel.is_training
    assert not any(t.isRunning() for t in workers.active_threads())


def test_failure_in_training_shows_a_dialog(window, data, qtbot, dialogs):
    panel = window.train_panel
    panel.set_config(TINY)
    too_small = data.subset([0, 1, 12])
    with qtbot.waitSignal(panel.controller.failed, timeout=TIMEOUT_MS):
        panel.start_training(too_small)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs and dialogs[-1][0] == "Training failed"
    assert "too few images" in dialogs[-1][1]
    assert panel.start_button.isEnabled()
    assert window.state.model is None


def test_invalid_setting_is_reported_before_starting(window, data, dialogs, monkeypatch):
    panel = window.train_panel
    monkeypatch.setattr(panel, "config", lambda: TrainingConfig(batch_size=2))
    assert not panel.start_training(data)
    assert dialogs and "batch size" in dialogs[-1][1]
    assert panel.controller.runs_started == 0


def test_non_finite_loss_is_reported_and_nothing_is_replaced(window, data, qtbot, dialogs, monkeypatch):
    import siamese_gui.core.training as training

    def failing_train(config, dataset, on_batch=None, on_epoch=None, should_stop=None):
        return training.TrainingResult(
            embedding=None, model=None, config=config, status="failed",
            message="training failed: the loss became nan (try a smaller learning rate than 10)",
        )

    monkeypatch.setattr(training, "train", failing_train)
    panel = window.train_panel
    with qtbot.waitSignal(panel.controller.finished, timeout=TIMEOUT_MS):
        panel.start_training(data)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs == [("Training failed", "training failed: the loss became nan (try a smaller learning rate than 10)")]
    assert not panel.use_button.isEnabled()
    assert not panel.save_button.isEnabled()
    assert window.state.model is None


def test_exception_inside_training_reaches_a_dialog(window, data, qtbot, dialogs, monkeypatch):
    import siamese_gui.core.training as training

    def broken_train(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(training, "train", broken_train)
    panel = window.train_panel
    with qtbot.waitSignal(panel.controller.failed, timeout=TIMEOUT_MS):
        panel.start_training(data)
    qtbot.waitUntil(lambda: not panel.is_training, timeout=10_000)
    assert dialogs == [("Training failed", "RuntimeError: out of cheese")]
    assert panel.start_button.isEnabled()
