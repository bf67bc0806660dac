"""The app on a folder that grew since its model trained: the Threshold panel and the
exported report show the figures `evaluate` prints, on images the model never trained on."""

from __future__ import annotations

import numpy as np
from gui_helpers import numpy_model, show_tab
from helpers import make_dataset
from PySide6.QtWidgets import QFileDialog

from siamese_gui.core.app.scoring import part_headline, score_images
from siamese_gui.core.app.session import DataSource, images_to_score
from siamese_gui.core.data.datasets import DataKind, Dataset
from siamese_gui.core.data.splits import folder_splits


def _folder(data: Dataset, first: int = 0) -> Dataset:
    """`data` as an image folder: a file and a distinct SHA-256 per image."""
    return Dataset(data.images, data.labels, data.class_names, "image folder /drawings",
                   kind=DataKind.IMAGE_FOLDER,
                   files=tuple(f"{data.class_names[c]}/{first + i:03d}.png" for i, c in enumerate(data.labels)),
                   hashes=tuple(f"{first + i:064x}" for i in range(len(data))), root="/drawings")


def _grown(data: Dataset, extra: Dataset) -> Dataset:
    return Dataset(np.concatenate([data.images, extra.images]), np.concatenate([data.labels, extra.labels]),
                   data.class_names, data.source, kind=data.kind, files=data.files + extra.files,
                   hashes=data.hashes + extra.hashes, root=data.root)


def test_a_grown_folder_shows_the_figures_evaluate_prints(window, qtbot, tmp_path, monkeypatch):
    trained_on = _folder(make_dataset(per_class=20, num_classes=4))
    record = folder_splits(trained_on, seed=0, unseen=("ring", "diagonal")).metadata()
    grown = _grown(trained_on, _folder(make_dataset(per_class=6, num_classes=4, seed=5), first=1000))
    model = numpy_model(class_names=trained_on.class_names)
    model.metadata["split"] = record
    window.show()
    qtbot.waitExposed(window)
    window.state.set_model(model)
    window.state.set_data(DataSource(dataset=grown))
    qtbot.waitUntil(lambda: window.state.evaluation is not None, timeout=20_000)
    panel = window.threshold_panel
    show_tab(qtbot, window, panel)

    # What `evaluate` and `report` score for this model and folder.
    figures = score_images(model.embed, images_to_score(DataSource(dataset=grown), model), model.threshold)
    trained = {h for role in ("train", "validation") for h in record["files"][role]["sha256"]}
    shown = window.state.evaluation
    assert not set(shown.data.hashes) & trained
    assert shown.data.hashes == figures.main.evaluation.data.hashes
    expected = part_headline(figures.main.evaluation, model.threshold.value, "")
    assert f"(unseen classes): {expected}" in panel.summary_label.text()
    assert panel.table.item(0, 1).text() == shown.at(model.threshold.value).accuracy_rate.describe()

    html = tmp_path / "report.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(html), "")))
    window.export_report_action.trigger()
    qtbot.waitUntil(html.is_file, timeout=60_000)
    text = html.read_text(encoding="utf-8")
    for part in figures.parts:  # seen and unseen classes apart, the numbers evaluate prints
        assert part.headline(model.threshold.value) in text
