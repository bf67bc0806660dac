"""The Search and Map panels and the occlusion overlay in Compare, driven by clicks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog

from siamese_gui.core.app.projection import tsne_available
from siamese_gui.core.data.datasets import DataSplits
from siamese_gui.core.runtime.handle import ModelHandle


def quadrant_embedder(batch):
    """Embeds a float32 (N, 28, 28, 1) batch as its four quadrant means (no TensorFlow)."""
    return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 2.0


@pytest.fixture
def handle():
    return ModelHandle(embedder=quadrant_embedder, metadata={"threshold": 0.3, "weights_sha256": "test"})


@pytest.fixture
def ready(window, data, handle, qtbot):
    """A shown window with the synthetic data and a numpy model."""
    window.state.set_data(DataSplits(data, data))
    window.state.set_model(handle)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=60_000)
    return window


def _write_png(path, image):
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _open_query(panel, path, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    qtbot.mouseClick(panel.query.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.query.image is not None, timeout=10_000)  # decoded on the worker


def test_search_test_images_and_open_a_result(ready, data, qtbot, tmp_path, monkeypatch):
    panel = ready.search_panel
    ready.tabs.setCurrentWidget(panel)
    _open_query(panel, _write_png(tmp_path / "query.png", data.images[5]), qtbot, monkeypatch)
    panel.top_spin.setValue(4)
    with qtbot.waitSignal(panel.resultsChanged, timeout=10_000):
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert len(panel.result_buttons) == 4
    first = panel.results[0].hit
    assert first.index == 5 and first.distance == pytest.approx(0, abs=1e-5) and first.same
    assert first.class_name == data.class_names[data.labels[5]]
    assert "Same" in panel.result_buttons[0].text()
    distances = [r.hit.distance for r in panel.results]
    assert distances == sorted(distances)
    assert "4 nearest of 48 test images" in panel.status.text()

    with qtbot.waitSignal(panel.pairRequested, timeout=5_000) as signal:
        qtbot.mouseClick(panel.result_buttons[1], Qt.MouseButton.LeftButton)
    (query_image, query_text), (hit_image, hit_text) = signal.args
    assert query_image.shape == hit_image.shape == (28, 28) and query_text == "query.png"
    np.testing.assert_allclose(hit_image, data.images[panel.results[1].hit.index] / 255.0, atol=1e-6)
    assert hit_text == panel.results[1].hit.class_name
    # The main window opens the pair in Compare.
    assert ready.tabs.currentWidget() is ready.compare_panel
    np.testing.assert_allclose(ready.compare_panel.pane_b.image.array, hit_image)
    qtbot.waitUntil(lambda: ready.compare_panel.distance is not None, timeout=10_000)


def test_threshold_recolours_results(ready, data, qtbot, tmp_path, monkeypatch):
    panel = ready.search_panel
    _open_query(panel, _write_png(tmp_path / "q.png", data.images[0]), qtbot, monkeypatch)
    with qtbot.waitSignal(panel.resultsChanged, timeout=10_000):
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    ready.state.set_threshold(0.0)
    assert all("Different" in b.text() for b in panel.result_buttons)


def test_search_a_folder_chosen_in_the_combo(ready, qtbot, tmp_path, monkeypatch, image_folder_factory):
    folder = image_folder_factory(tmp_path / "gallery", per_class=3, num_classes=2)
    panel = ready.search_panel
    ready.tabs.setCurrentWidget(panel)
    query = sorted((folder / "column").iterdir())[1]
    _open_query(panel, query, qtbot, monkeypatch)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    panel.source_combo.setFocus()
    qtbot.keyClick(panel.source_combo, Qt.Key.Key_Down)  # "Folder…"
    assert "gallery" in panel.source_combo.currentText()
    with qtbot.waitSignal(panel.resultsChanged, timeout=10_000):
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert len(panel.results) == 6
    first = panel.results[0].hit
    assert first.path == str(query.resolve()) and first.class_name == "column"
    assert "6 images in" in panel.status.text()


def test_search_without_query_says_so(ready, qtbot, dialogs):
    qtbot.mouseClick(ready.search_panel.search_button, Qt.MouseButton.LeftButton)
    assert dialogs and dialogs[-1][0] == "No query"


def _isolated_points(panel, count=2):
    xy = panel.canvas.widget_position(panel.data.layout)
    gaps = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(gaps, np.inf)
    order = np.argsort(-gaps.min(axis=1))
    assert gaps.min(axis=1)[order[count - 1]] > 2 * 12, "no isolated points to click"
    return [int(i) for i in order[:count]]


def test_map_draws_and_two_clicks_request_a_pair(ready, data, qtbot):
    panel = ready.map_panel
    ready.tabs.setCurrentWidget(panel)
    panel.method_combo.setCurrentIndex(1)  # PCA only
    with qtbot.waitSignal(panel.mapChanged, timeout=10_000):
        qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    assert panel.data.method == "PCA" and panel.data.layout.shape == (48, 2)
    assert "all 48" in panel.status.text()
    qtbot.waitUntil(lambda: len(panel.mistakes) == 48, timeout=10_000)
    panel.canvas.draw()
    a, b = _isolated_points(panel)

    qtbot.mouseMove(panel.canvas, QPoint(*panel.point_position(a)))
    qtbot.waitUntil(lambda: panel.hovered == a, timeout=2_000)
    assert data.class_names[data.labels[a]] in panel.preview_caption.text()
    assert not panel.preview.pixmap().isNull()

    qtbot.mouseClick(panel.canvas, Qt.MouseButton.LeftButton, pos=QPoint(*panel.point_position(a)))
    assert panel.selection == [a]
    with qtbot.waitSignal(panel.pairRequested, timeout=5_000) as signal:
        qtbot.mouseClick(panel.canvas, Qt.MouseButton.LeftButton, pos=QPoint(*panel.point_position(b)))
    (image_a, label_a), (image_b, label_b) = signal.args
    np.testing.assert_allclose(image_a, data.images[a] / 255.0, atol=1e-6)
    np.testing.assert_allclose(image_b, data.images[b] / 255.0, atol=1e-6)
    assert (label_a, label_b) == (data.class_names[data.labels[a]], data.class_names[data.labels[b]])
    assert ready.tabs.currentWidget() is ready.compare_panel
    assert ready.compare_panel.ground_truth == (data.labels[a] == data.labels[b])
    qtbot.waitUntil(lambda: ready.compare_panel.distance is not None, timeout=10_000)


def test_map_marks_nearest_neighbour_mistakes_at_the_threshold(ready, qtbot):
    panel = ready.map_panel
    panel.method_combo.setCurrentIndex(1)
    qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.mistakes) == 48, timeout=10_000)
    ready.state.set_threshold(0.0)  # every pair "different": same-class neighbours are mistakes
    labels, (neighbours, _) = panel.data.labels, panel.neighbours
    np.testing.assert_array_equal(panel.mistakes, labels[neighbours] == labels)
    assert len(panel.canvas.mistakes.get_offsets()) == int(panel.mistakes.sum())


def test_map_of_the_test_images_reuses_the_evaluation_embeddings(ready, handle, qtbot):
    panel = ready.map_panel
    panel.method_combo.setCurrentIndex(1)
    embedded = []
    model = handle.embedder
    handle.embedder = lambda batch: embedded.append(len(batch)) or model(batch)
    with qtbot.waitSignal(panel.mapChanged, timeout=10_000):
        qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    assert embedded == []  # the Threshold panel's evaluation had embedded every test image
    np.testing.assert_allclose(panel.data.embeddings, ready.state.evaluation.embeddings, atol=1e-6)


@pytest.mark.skipif(not tsne_available(), reason="openTSNE is not installed")
def test_map_tsne_follows_pca(ready, qtbot):
    panel = ready.map_panel
    panel.method_combo.setCurrentIndex(0)
    methods = []
    panel.mapChanged.connect(lambda: methods.append(panel.data.method))
    qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: methods == ["PCA", "t-SNE"], timeout=60_000)
    assert panel.data.layout.shape == (48, 2) and "t-SNE of all 48" in panel.status.text()


def test_compare_occlusion_overlay_toggles_by_click(ready, data, qtbot):
    compare = ready.compare_panel
    ready.tabs.setCurrentWidget(compare)
    compare.open_pair(0, 20)
    qtbot.waitUntil(lambda: compare.distance is not None, timeout=10_000)
    check = compare.explain_check
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert check.isChecked()
    qtbot.waitUntil(lambda: compare.occlusion is not None, timeout=10_000)
    assert compare.pane_a.overlay.shape == compare.pane_b.overlay.shape == (28, 28)
    assert compare.occlusion.distance == pytest.approx(compare.distance, rel=1e-5)
    assert "occlusion map" in compare.explain_label.text()
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert not check.isChecked()
    assert compare.pane_a.overlay is None and compare.pane_b.overlay is None
    assert "occlusion map" not in compare.explain_label.text()


def test_search_an_index_file_and_refuse_another_models(ready, qtbot, tmp_path, monkeypatch, dialogs,
                                                        image_folder_factory):
    from siamese_gui.core.app.search import update_index_file

    folder = image_folder_factory(tmp_path / "gallery", per_class=2, num_classes=2)
    ours, theirs = tmp_path / "ours.npz", tmp_path / "theirs.npz"
    update_index_file(folder, ready.state.model, ours)
    other = ModelHandle(embedder=quadrant_embedder, metadata={"weights_sha256": "another"})
    update_index_file(folder, other, theirs)
    panel = ready.search_panel
    _open_query(panel, sorted((folder / "bar").iterdir())[0], qtbot, monkeypatch)

    def choose_index(path):
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
        panel.source_combo.setFocus()
        panel.source_combo.setCurrentIndex(1)
        qtbot.keyClick(panel.source_combo, Qt.Key.Key_Down)  # "Index file…"

    choose_index(ours)
    with qtbot.waitSignal(panel.resultsChanged, timeout=10_000):
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert len(panel.results) == 4 and panel.results[0].hit.class_name == "bar"

    choose_index(theirs)
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.search_button.isEnabled(), timeout=10_000)
    assert dialogs[-1][0] == "Cannot search" and "another model" in dialogs[-1][1]
    assert str(theirs) in dialogs[-1][1]


def test_search_says_the_model_changed_only_once_results_were_shown(ready, data, handle, qtbot, tmp_path,
                                                                     monkeypatch):
    panel = ready.search_panel
    ready.tabs.setCurrentWidget(panel)
    before = panel.status.text()
    other = ModelHandle(embedder=quadrant_embedder, metadata={"threshold": 0.3, "weights_sha256": "other"})
    ready.state.set_model(other)  # a new model before any search: nothing to search again
    assert "search again" not in panel.status.text() and panel.status.text() == before
    _open_query(panel, _write_png(tmp_path / "q.png", data.images[0]), qtbot, monkeypatch)
    with qtbot.waitSignal(panel.resultsChanged, timeout=10_000):
        qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    ready.state.set_model(handle)
    assert panel.status.text() == "The model changed: search again."
    assert not panel.result_buttons


def _many_class_data(shown: int = 22, model_classes: int = 30, per_class: int = 4):
    """Test images of `shown` classes, named from a model that knows `model_classes`."""
    from siamese_gui.core.data.datasets import Dataset

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(0, 2 * shown, 2) % model_classes, per_class).astype(np.int64)
    images = rng.integers(0, 256, size=(len(labels), 28, 28)).astype(np.uint8)
    names = tuple(f"class {c:02d} with a rather long folder name" if c == 0 else f"class {c:02d}"
                  for c in range(model_classes))
    return Dataset(images, labels, names, "many classes")


@pytest.mark.parametrize("shown", [4, 15, 22])
def test_map_legend_lists_the_classes_shown_inside_the_panel_in_distinct_styles(window, handle, qtbot,
                                                                                shown):
    import warnings

    data = _many_class_data(shown=min(shown, 15), model_classes=30) if shown < 22 else _many_class_data()
    window.state.set_data(DataSplits(data, data))
    window.state.set_model(handle)
    window.resize(760, 520)  # a small window: the plot must not collapse to a strip
    window.show()
    qtbot.waitExposed(window)
    window.build_panels()
    panel = window.map_panel
    window.tabs.setCurrentWidget(panel)
    panel.method_combo.setCurrentIndex(1)  # PCA only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with qtbot.waitSignal(panel.mapChanged, timeout=10_000):
            qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
        panel.canvas.draw()
    assert not [w for w in caught if "collapsed" in str(w.message)]
    classes = sorted({int(c) for c in data.labels})
    texts = [t.get_text() for t in panel.canvas.legend.get_texts()]
    listed = [t for t in texts if t.startswith("class")]
    assert len(texts) <= 12 + 1  # bounded: classes, "+N more", the mistakes ring
    if len(classes) <= 12:
        assert len(listed) == len(classes)  # the classes shown, not the model's 30
        assert not any("more" in t for t in texts)
    else:
        assert f"+{len(classes) - len(listed)} more (hover a point)" in texts
    assert all(t[:8] in {f"class {c:02d}" for c in classes} for t in listed)
    assert all(len(t) <= 22 for t in listed)
    styles = {(line.get_color(), line.get_marker()) for line in panel.canvas.points}
    assert len(styles) == len(classes)  # no two classes look alike
    if len(classes) <= 20:
        assert len({line.get_color() for line in panel.canvas.points}) == len(classes)
    # The legend and the axes lie inside the canvas, and the axes keep a usable size.
    renderer = panel.canvas.get_renderer()
    figure = panel.canvas.figure.bbox
    legend = panel.canvas.legend.get_window_extent(renderer)
    assert legend.x0 >= figure.x0 - 1 and legend.x1 <= figure.x1 + 1
    assert legend.y0 >= figure.y0 - 1 and legend.y1 <= figure.y1 + 1
    axes = panel.canvas.ax.get_window_extent(renderer)
    assert axes.height > 150 and axes.width > 150


def test_greyed_tsne_choice_says_why_and_how_to_install_it(window, qtbot, monkeypatch):
    from siamese_gui.gui.panels import map as map_module

    monkeypatch.setattr(map_module, "tsne_available", lambda: False)
    panel = map_module.MapPanel(window.state, window.state.runner)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.mouseClick(panel.method_combo, Qt.MouseButton.LeftButton)  # open the list
    view = panel.method_combo.view()
    qtbot.waitUntil(view.isVisible, timeout=2_000)
    index = panel.method_combo.model().index(0, 0)
    assert not (panel.method_combo.model().flags(index) & Qt.ItemFlag.ItemIsEnabled)
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "openTSNE" in tip and "pip install 'siamese-gui[map]'" in tip
    assert "not installed" in index.data()
    assert "pip install 'siamese-gui[map]'" in panel.status.text()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert panel.method_combo.currentIndex() == 1


def test_a_long_folder_name_in_the_search_combo_is_shortened_not_cut(ready, qtbot, tmp_path, monkeypatch,
                                                                      image_folder_factory):
    folder = image_folder_factory(tmp_path / "emoji faces drawn by hand for a long folder name", per_class=2,
                                  num_classes=2)
    panel = ready.search_panel
    ready.tabs.setCurrentWidget(panel)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    panel.source_combo.setFocus()
    qtbot.keyClick(panel.source_combo, Qt.Key.Key_Down)  # "Folder…"
    combo = panel.source_combo
    text = combo.currentText()
    assert text.startswith("Folder: emoji") and "…" in text  # shortened in the middle
    qtbot.waitUntil(lambda: combo.width() >= combo.sizeHint().width(), timeout=2_000)
    assert combo.fontMetrics().horizontalAdvance(text) < combo.width()  # all of it shows
    assert combo.toolTip() == str(folder)
    assert combo.itemData(1, Qt.ItemDataRole.ToolTipRole) == str(folder)
    qtbot.keyClick(combo, Qt.Key.Key_Up)  # back to the test images
    assert "Where to search" in combo.toolTip()
