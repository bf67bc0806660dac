"""Compare panel: opens on a pair, distance once per pair, verdict follows the threshold,
buttons that stay put, files with their class, paste of images and paths."""

from __future__ import annotations

import cv2
import numpy as np
from gui_helpers import choose_file, click, press, show_tab, synthetic_dataset
from PySide6.QtCore import QMimeData, Qt, QTimer, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QApplication

from siamese_gui.core.evaluation.metrics import Verdict, verdict_of
from siamese_gui.core.io.locations import samples_dir


def _wait_distance(qtbot, panel):
    qtbot.waitUntil(lambda: panel.distance is not None, timeout=5000)
    return panel.distance


def _plain(html: str) -> str:
    document = QTextDocument()
    document.setHtml(html)
    return document.toPlainText()


def test_opens_on_a_random_dataset_pair(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    assert panel.pane_a.image is not None and panel.pane_b.image is not None
    assert panel.pane_a.image.index is not None and panel.pane_b.image.index is not None
    distance = _wait_distance(qtbot, panel)
    assert panel.verdict_label.text() in ("Same", "Different")
    assert panel.ground_truth is not None
    assert f"{distance:.3f}" == panel.distance_label.text()


def test_verdict_waits_for_a_model(window, data):
    from siamese_gui.core.data.datasets import DataSplits

    window.state.set_data(DataSplits(data, data))
    panel = window.compare_panel
    assert panel.pane_a.image is None  # no model: nothing to compare yet
    assert panel.distance is None and panel.verdict is None
    assert "No model" in panel.verdict_label.text()


def test_keyboard_on_the_slider_flips_the_verdict_without_recomputing(loaded_window, qtbot):
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    click(qtbot, panel.different_button)
    distance = _wait_distance(qtbot, panel)
    embedder = loaded_window.state.model.embedder
    calls = embedder.calls
    slider = panel.threshold.slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Home)
    assert loaded_window.state.threshold.value == 0.0
    assert panel.verdict is Verdict.DIFFERENT
    assert panel.verdict_label.text() == "Different"
    qtbot.keyClick(slider, Qt.Key.Key_End)
    assert loaded_window.state.threshold.value > distance
    assert panel.verdict is Verdict.SAME
    assert panel.verdict_label.text() == "Same"
    assert embedder.calls == calls


def test_typed_threshold_is_shared_by_every_panel(loaded_window, qtbot):
    loaded_window.show()
    spin = loaded_window.compare_panel.threshold.spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0.321")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert loaded_window.state.threshold.value == 0.321
    assert loaded_window.threshold_panel.control.spin.value() == 0.321
    assert loaded_window.threshold_label.text() == "Threshold: 0.321"


def test_random_pair_buttons_swap_and_their_shortcuts(loaded_window, qtbot):
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    for button, same in ((panel.same_button, True), (panel.different_button, False), (panel.same_button, True)):
        click(qtbot, button)
        assert (panel.pane_a.image.label == panel.pane_b.image.label) == same
        distance = _wait_distance(qtbot, panel)
        assert panel.verdict is verdict_of(distance, loaded_window.state.threshold.value)
    data = loaded_window.state.test_data
    a, b = panel.pane_a.image.index, panel.pane_b.image.index
    expected = loaded_window.state.model.distance(data.images[a], data.images[b])
    assert abs(panel.distance - expected) < 1e-5
    caption_a = panel.pane_a.caption.full_text()
    click(qtbot, panel.swap_button)
    assert panel.pane_b.caption.full_text() == caption_a
    assert panel.distance == distance
    press(qtbot, loaded_window, "Ctrl+Shift+R")
    assert panel.pane_a.image.label != panel.pane_b.image.label
    press(qtbot, loaded_window, "Ctrl+R")
    assert panel.pane_a.image.label == panel.pane_b.image.label
    press(qtbot, loaded_window, "Ctrl+T")
    assert panel.pane_b.image.index == panel.pane_a.image.index or panel.pane_a.image is not None


def test_buttons_do_not_move_when_the_text_changes(loaded_window, qtbot):
    loaded_window.resize(1024, 700)
    loaded_window.show()
    qtbot.waitExposed(loaded_window)
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    positions = set()
    for button in (panel.same_button, panel.different_button) * 3:
        click(qtbot, button)
        _wait_distance(qtbot, panel)
        QApplication.processEvents()
        positions.add((panel.swap_button.mapTo(loaded_window, panel.swap_button.rect().topLeft()).y(),
                       panel.different_button.mapTo(loaded_window, panel.different_button.rect().topLeft()).y()))
    loaded_window.state.set_threshold(0.0)
    QApplication.processEvents()
    positions.add((panel.swap_button.mapTo(loaded_window, panel.swap_button.rect().topLeft()).y(),
                   panel.different_button.mapTo(loaded_window, panel.different_button.rect().topLeft()).y()))
    assert len(positions) == 1, positions


def test_verdict_colours_are_not_the_right_wrong_colours(loaded_window, qtbot):
    from siamese_gui.gui.theme import colors

    c = colors()
    SAME_COLOR, DIFFERENT_COLOR, RIGHT_COLOR, WRONG_COLOR = c.same, c.different, c.right, c.wrong  # noqa: N806
    assert len({SAME_COLOR, DIFFERENT_COLOR, RIGHT_COLOR, WRONG_COLOR}) == 4
    panel = loaded_window.compare_panel
    click_target = panel.same_button
    loaded_window.show()
    show_tab(qtbot, loaded_window, panel)
    click(qtbot, click_target)
    distance = _wait_distance(qtbot, panel)
    loaded_window.state.set_threshold(distance + 1.0)
    assert SAME_COLOR in panel.verdict_label.styleSheet()
    assert RIGHT_COLOR in panel.explain_label.text()
    loaded_window.state.set_threshold(0.0)
    assert DIFFERENT_COLOR in panel.verdict_label.styleSheet()
    assert WRONG_COLOR in panel.explain_label.text()
    assert "wrong" in _plain(panel.explain_label.text())


def test_explanation_names_distance_and_threshold(loaded_window, qtbot):
    panel = loaded_window.compare_panel
    distance = _wait_distance(qtbot, panel)
    loaded_window.state.set_threshold(distance + 0.1)
    assert f"distance {distance:.3f} < threshold {distance + 0.1:.3f}" in _plain(panel.explain_label.text())


def test_open_button_shows_the_class_of_a_class_folder(loaded_window, qtbot, monkeypatch, dialogs):
    from siamese_gui.core.data.datasets import DataSplits, load_samples

    samples = load_samples()
    loaded_window.state.set_data(DataSplits(samples, samples))
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    sneaker = sorted((samples_dir() / "7_Sneaker").iterdir())[0]
    asked = choose_file(monkeypatch, sneaker)
    click(qtbot, panel.pane_a.open_button)
    assert panel.pane_a.image.label == samples.class_names.index("Sneaker")
    assert panel.pane_a.caption.full_text() == f"Sneaker · {sneaker.name}"
    shirt = sorted((samples_dir() / "0_T-shirt-top").iterdir())[0]
    choose_file(monkeypatch, shirt)
    click(qtbot, panel.pane_b.open_button)
    assert panel.pane_b.caption.full_text().startswith("T-shirt/top · ")
    assert panel.ground_truth is False
    # The second dialog opens in the folder the first one was left in.
    choose_file(monkeypatch, shirt)
    asked = choose_file(monkeypatch, shirt)
    click(qtbot, panel.pane_b.open_button)
    assert asked[-1][2] == str(shirt.parent)
    assert dialogs == []


def test_paste_button_takes_an_image_a_file_url_and_a_path(loaded_window, qtbot, tmp_path, dialogs):
    image = np.full((60, 40, 3), 255, np.uint8)
    cv2.rectangle(image, (10, 10), (30, 50), (0, 0, 0), -1)
    path = tmp_path / "shirt.png"
    cv2.imwrite(str(path), image)
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    clipboard = QApplication.clipboard()

    clipboard.setImage(QImage(str(path)))
    click(qtbot, panel.pane_b.paste_button)
    assert panel.pane_b.image.caption == "pasted image"

    clipboard.setText(str(path))
    click(qtbot, panel.pane_a.paste_button)
    assert panel.pane_a.image.caption == "shirt.png"

    mime = QMimeData()
    mime.setText(QUrl.fromLocalFile(str(path)).toString())
    clipboard.setMimeData(mime)
    panel.pane_a.set_image(None)
    click(qtbot, panel.pane_a.paste_button)
    assert panel.pane_a.image.caption == "shirt.png"
    assert panel.pane_a.image.array.shape == (28, 28)
    _wait_distance(qtbot, panel)
    assert dialogs == []


def test_paste_without_an_image_keeps_the_previous_one(loaded_window, qtbot, dialogs):
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    before = panel.pane_b.image
    QApplication.clipboard().setText("just text")
    click(qtbot, panel.pane_b.paste_button)
    assert panel.pane_b.image is before
    assert dialogs[-1][0] == "Nothing to paste"


def test_from_dataset_menu_picks_an_image_of_the_class(loaded_window, qtbot):
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    pane = panel.pane_a
    seen = []

    def pick():
        menu = QApplication.activePopupWidget()
        seen.extend(a.text() for a in menu.actions() if a.text().startswith("Random class"))
        menu.setActiveAction([a for a in menu.actions() if a.text() == "Random class 2"][0])
        qtbot.keyClick(menu, Qt.Key.Key_Return)

    QTimer.singleShot(200, pick)
    click(qtbot, pane.dataset_button)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [f"Random class {c}" for c in range(4)]
    assert pane.image.label == 2
    assert pane.caption.full_text().startswith("class 2 · #")


class _MeanColour:
    """Embeds an image as its mean red, green and blue (or grey) value: colour decides."""

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        return batch.reshape(len(batch), -1, batch.shape[-1]).mean(axis=1) * 4


def test_a_colour_model_sees_and_shows_the_files_in_colour(loaded_window, qtbot, monkeypatch, tmp_path, dialogs):
    from siamese_gui.core.app.session import DataSource
    from siamese_gui.core.data.datasets import Dataset
    from siamese_gui.core.io.image_format import FIELD, ImageFormat
    from siamese_gui.core.runtime.handle import ModelHandle

    paths = {}
    for name, bgr in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        image = np.full((40, 60, 3), 255, np.uint8)
        image[8:32, 10:50] = bgr
        ok, encoded = cv2.imencode(".png", image)
        paths[name] = tmp_path / f"{name}.png"
        paths[name].write_bytes(encoded.tobytes())
    colour = ImageFormat(32, 32, 3)
    model = ModelHandle(embedder=_MeanColour(), metadata={"threshold": 0.5, FIELD: colour.as_dict()})
    # Colour data with it (image folders are read again at a model's format; these
    # arrays cannot be, so they come with the model).
    grey_data = synthetic_dataset(per_class=10)
    colour_images = np.repeat(cv2.resize(np.moveaxis(grey_data.images, 0, -1), (32, 32)).transpose(2, 0, 1)[..., None],
                              3, axis=3)
    colour_data = Dataset(colour_images, grey_data.labels, grey_data.class_names, "colour")
    loaded_window.state.set_model(model, DataSource(dataset=colour_data))
    loaded_window.show()
    panel = loaded_window.compare_panel
    show_tab(qtbot, loaded_window, panel)
    for pane, name in ((panel.pane_a, "red"), (panel.pane_b, "blue")):
        choose_file(monkeypatch, paths[name])
        click(qtbot, pane.open_button)
        qtbot.waitUntil(lambda pane=pane, name=name: pane.image is not None
                        and pane.image.caption.endswith(f"{name}.png"), timeout=5000)
    assert panel.pane_a.image.array.shape == (32, 32, 3)
    assert "32 × 32, colour" in panel.pane_a.model_caption.text()
    # "What the model sees" is the model's input itself, in colour.
    shown = panel.pane_a.model_view.pixmap().toImage()
    centre = shown.pixelColor(shown.width() // 2, shown.height() // 2)
    assert (centre.red(), centre.green(), centre.blue()) == (255, 0, 0)
    assert _wait_distance(qtbot, panel) > 0.5 and panel.verdict is Verdict.DIFFERENT
    # A grey model reads the same files again at 28 x 28 grey.
    grey = ModelHandle(embedder=_MeanColour(), metadata={"threshold": 0.5})
    loaded_window.state.set_model(grey, DataSource(dataset=grey_data))
    qtbot.waitUntil(lambda: panel.pane_a.image is not None and panel.pane_a.image.array.shape == (28, 28)
                    and panel.pane_b.image is not None and panel.pane_b.image.array.shape == (28, 28),
                    timeout=5000)
    assert "28 × 28, grey" in panel.pane_a.model_caption.text()
    assert dialogs == []


def test_an_empty_pane_names_the_input_of_the_model_in_use(loaded_window, qtbot, dialogs):
    from siamese_gui.core.io.image_format import FIELD, ImageFormat
    from siamese_gui.core.runtime.handle import ModelHandle

    panel = loaded_window.compare_panel
    loaded_window.show()
    show_tab(qtbot, loaded_window, panel)
    for pane in (panel.pane_a, panel.pane_b):
        pane.set_image(None)
    assert "28 × 28, grey" in panel.pane_a.model_caption.text()
    colour = ModelHandle(embedder=_MeanColour(), metadata={"threshold": 0.5, FIELD: ImageFormat(32, 32, 3).as_dict()})
    loaded_window.state.set_model(colour)
    qtbot.waitUntil(lambda: "32 × 32, colour" in panel.pane_a.model_caption.text()
                    and "32 × 32, colour" in panel.pane_b.model_caption.text(), timeout=5000)
    # The grey test data cannot be scored at this model's format: one message says so.
    assert all("not scored" in str(d) for d in dialogs)
