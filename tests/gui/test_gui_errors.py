"""Bad input in the GUI: a dialog with the core's message, and nothing the user had is lost."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
from gui_helpers import choose_file, click, press, show_tab
from PySide6.QtWidgets import QFileDialog

from siamese_gui.core.data.datasets import DataSplits


@pytest.fixture
def shown(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def good_image(tmp_path):
    path = tmp_path / "good.png"
    image = np.zeros((40, 40), np.uint8)
    image[10:30, 12:28] = 255
    cv2.imwrite(str(path), image)
    return path


def _bad_images(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.jpg"
    ok, encoded = cv2.imencode(".jpg", np.full((64, 64), 128, np.uint8))
    truncated.write_bytes(encoded.tobytes()[:40])
    huge = tmp_path / "huge.png"
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2
    huge.write_bytes(header + b"\x08\x00\x00\x00\x00" + b"\x00" * 64)
    return {
        "missing": tmp_path / "missing.png",
        "text": text,
        "empty": empty,
        "truncated": truncated,
        "huge": huge,
        "folder": tmp_path,
    }


def test_bad_images_keep_the_previous_image(shown, good_image, tmp_path, dialogs, qtbot, monkeypatch):
    pane = shown.compare_panel.pane_a
    choose_file(monkeypatch, good_image)
    click(qtbot, pane.open_button)
    before = pane.image
    assert before.caption == "good.png"
    for kind, path in _bad_images(tmp_path).items():
        dialogs.clear()
        choose_file(monkeypatch, path)
        press(qtbot, shown, "Ctrl+Shift+A")
        assert pane.image is before, kind
        assert pane.caption.full_text() == "good.png"
        assert len(dialogs) == 1, kind
        title, message = dialogs[0]
        assert title == "Cannot open image"
        assert str(path.name) in message, (kind, message)


def test_paste_without_an_image_keeps_the_previous_one(shown, good_image, dialogs, qtbot, monkeypatch):
    from PySide6.QtWidgets import QApplication

    pane = shown.compare_panel.pane_b
    choose_file(monkeypatch, good_image)
    press(qtbot, shown, "Ctrl+Shift+B")
    before = pane.image
    assert before is not None
    for text in ("just text", str(good_image.parent / "missing.png"), "file:///no/such/file.png",
                 str(good_image.parent)):
        QApplication.clipboard().setText(text)
        press(qtbot, shown, "Ctrl+Shift+V")
        assert pane.image is before
        assert dialogs[-1][0] == "Nothing to paste"


def _bad_model_files(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip at all")
    legacy = tmp_path / "old.h5"
    legacy.write_bytes(b"\x89HDF\r\n\x1a\n")
    no_sidecar = tmp_path / "lonely.keras"
    with zipfile.ZipFile(no_sidecar, "w") as archive:
        archive.writestr("config.json", "{}")
    bad_archive = tmp_path / "broken.keras"
    with zipfile.ZipFile(bad_archive, "w") as archive:
        archive.writestr("config.json", "{not json")
    (tmp_path / "broken.json").write_text('{"threshold": 0.4}')
    return [tmp_path / "missing.keras", junk, legacy, no_sidecar, bad_archive]


def test_bad_model_files_keep_the_previous_model(loaded_window, tmp_path, qtbot, dialogs, monkeypatch):
    loaded_window.show()
    state = loaded_window.state
    model, evaluation, threshold = state.model, state.evaluation, state.threshold.value
    for path in _bad_model_files(tmp_path):
        dialogs.clear()
        choose_file(monkeypatch, path)
        press(qtbot, loaded_window, "Ctrl+O")
        qtbot.waitUntil(lambda: bool(dialogs), timeout=60_000)
        title, message = dialogs[0]
        assert title == "Cannot open the model"
        assert path.name in message
        assert state.model is model
        assert state.evaluation is evaluation
        assert state.threshold.value == threshold


def _choose_folder(monkeypatch, folder):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))


def test_bad_image_folder_keeps_the_data(loaded_window, tmp_path, qtbot, dialogs, monkeypatch):
    loaded_window.show()
    data = loaded_window.state.splits
    (tmp_path / "only_class").mkdir()
    cv2.imwrite(str(tmp_path / "only_class" / "a.png"), np.zeros((28, 28), np.uint8))
    _choose_folder(monkeypatch, tmp_path)
    press(qtbot, loaded_window, "Ctrl+Shift+O")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10_000)
    assert dialogs[0][0] == "Cannot load the data"
    assert str(tmp_path) in dialogs[0][1]
    assert loaded_window.state.splits is data


def test_image_folder_dataset_is_used_everywhere(loaded_window, tmp_path, qtbot, dialogs, monkeypatch):
    for name, value in (("dark", 40), ("light", 220)):
        (tmp_path / name).mkdir()
        for i in range(3):
            image = np.full((28, 28), value + i, np.uint8)
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), image)
    (tmp_path / "light" / "broken.png").write_text("nope")
    loaded_window.show()
    show_tab(qtbot, loaded_window, loaded_window.train_panel)
    _choose_folder(monkeypatch, tmp_path)
    press(qtbot, loaded_window, "Ctrl+Shift+O")
    qtbot.waitUntil(lambda: loaded_window.state.test_data.source.startswith("image folder"), timeout=10_000)
    assert loaded_window.state.test_data.class_names == ("dark", "light")
    assert [title for title, _ in dialogs] == ["Some files were skipped"]
    assert dialogs[0][1].startswith("1 file could not be read")
    qtbot.waitUntil(lambda: loaded_window.state.evaluation is not None, timeout=60_000)
    assert loaded_window.train_panel.source_combo.currentIndex() == 2
    assert "1 file skipped" in loaded_window.train_panel.data_label.text()
    assert "6 images, 2 classes" in loaded_window.train_panel.data_label.text()


def test_save_failure_is_reported(loaded_window, tmp_path, qtbot, dialogs, monkeypatch):
    loaded_window.show()
    choose_file(monkeypatch, tmp_path / "model.txt")
    press(qtbot, loaded_window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=60_000)
    assert dialogs[0][0] == "Cannot save the model"
    assert loaded_window.state.model_path is None


def test_splits_stay_after_failed_fashion_mnist(window, data, qtbot, dialogs, monkeypatch, tmp_path):
    monkeypatch.setenv("SIAMESE_GUI_DATA", str(tmp_path))
    import siamese_gui.core.data.datasets as datasets

    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "none")
    monkeypatch.setattr(datasets, "KERAS_CACHE_DIR", tmp_path / "none2")
    window.state.set_data(DataSplits(data, data))
    source, splits = window.state.source, window.state.splits
    file_menu = window.menuBar().actions()[0].menu()
    [action for action in file_menu.actions() if action.text() == "Use &Fashion-MNIST"][0].trigger()
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10_000)
    assert "Fashion-MNIST not found" in dialogs[0][1]
    assert window.state.source is source and window.state.splits is splits
