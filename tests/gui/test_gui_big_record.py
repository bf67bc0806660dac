"""A model trained on a folder of 100,000 images opens in the window by File › Open model
and is saved again by File › Save model as, with its split record whole."""

from __future__ import annotations

import pytest
from gui_helpers import choose_file, press

from siamese_gui.core.data.splits import Role, recorded_hashes
from siamese_gui.core.runtime.copies import read_metadata

pytest.importorskip("tensorflow")


def test_a_model_of_a_100k_image_folder_opens_and_is_saved_again(window, big_record_model, qtbot, tmp_path,
                                                                 monkeypatch, dialogs):
    path, _, trained_on, metadata = big_record_model
    window.show()
    qtbot.waitExposed(window)
    choose_file(monkeypatch, path)
    press(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=60_000)
    assert dialogs == []
    assert window.state.model_path == path and window.model_label.text() == "Model: big.keras"
    assert window.state.model.metadata["split"] == metadata["split"]
    copy = tmp_path / "copy.keras"
    choose_file(monkeypatch, copy)
    press(qtbot, window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: window.state.model_path == copy, timeout=120_000)
    assert dialogs == []
    saved = read_metadata(copy)
    assert saved["split"] == metadata["split"] and saved["class_names"] == metadata["class_names"]
    assert recorded_hashes(saved["split"], Role.TRAIN)[: len(trained_on)] == trained_on
