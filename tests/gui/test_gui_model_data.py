"""File › Open model: a model trained on an image folder opens with that folder (the data
it records), as `evaluate` scores it; a model whose folder is gone keeps the data in use."""

from __future__ import annotations

import shutil

import cv2
import pytest
from gui_helpers import choose_file, press, synthetic_dataset

from siamese_gui.core.data.datasets import DataKind, DataSplits

pytest.importorskip("tensorflow")


def _folder_model(tmp_path, trained):
    """A tiny trained model saved with the split record of a real image folder."""
    from siamese_gui.core.app.session import load_source, split_data
    from siamese_gui.core.runtime.store import result_metadata, save_model

    data = synthetic_dataset(per_class=6, classes=3, seed=4)
    folder = tmp_path / "parts"
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        (folder / data.class_names[label]).mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(".png", image)
        (folder / data.class_names[label] / f"{i:02d}.png").write_bytes(encoded.tobytes())
    source = load_source(image_folder=str(folder))
    splits = split_data(source, 0, (), 0.2)
    result = trained[0]
    metadata = result_metadata(result, source.training_pool.class_names, splits.metadata())
    return save_model(result.model, tmp_path / "parts.keras", metadata), folder


def _window_on_other_data(window, qtbot):
    window.state.set_data(DataSplits(synthetic_dataset(per_class=20, seed=1), synthetic_dataset()))
    window.show()
    qtbot.waitExposed(window)
    assert window.state.source.kind is not DataKind.IMAGE_FOLDER


def test_a_folder_model_opens_with_the_folder_it_was_trained_on(window, trained, tmp_path, qtbot, monkeypatch,
                                                                dialogs):
    path, folder = _folder_model(tmp_path, trained)
    _window_on_other_data(window, qtbot)
    choose_file(monkeypatch, path)
    press(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.state.model_path == path and window.state.source.dataset is not None
                    and window.state.source.dataset.root == str(folder), timeout=60_000)
    assert dialogs == []
    assert "the folder it was trained on" in window.message_label.text()
    assert window.state.test_data.class_names == ("class 0", "class 1", "class 2")


def test_a_folder_model_whose_folder_is_gone_keeps_the_data_in_use(window, trained, tmp_path, qtbot,
                                                                   monkeypatch, dialogs):
    path, folder = _folder_model(tmp_path, trained)
    shutil.rmtree(folder)
    _window_on_other_data(window, qtbot)
    before = window.state.test_data
    choose_file(monkeypatch, path)
    press(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.state.model_path == path, timeout=60_000)
    assert dialogs == []
    assert window.state.test_data is before
    assert "missing" in window.message_label.text()
