"""Which images a model is scored on, on which data by default, and one set of figures
for `evaluate`, `report` and the session: a model trained on an image folder that then
grew, moved, or was scored with no data options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from siamese_gui.cli import commands as cli
from siamese_gui.core.data.splits import Role, recorded_hashes

TRAIN = ("--steps", "5", "--batch-size", "8", "--embedding-dim", "4", "--seed", "0")


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _train(capsys, folder: Path, out: Path, *extra: str) -> Path:
    code, _, err = _run(capsys, "train", "--image-folder", str(folder), *TRAIN, *extra, "--out", str(out),
                        "--json")
    assert code == 0, err
    return out


def _grow(write_image_folder, folder: Path, scratch: Path, new_class: str | None = None) -> list[str]:
    """Add 4 new images to each class of `folder` (and a new class, if named); return
    their paths relative to `folder`."""
    more = write_image_folder(scratch, per_class=4, num_classes=4, seed=9)
    added = []
    for path in sorted(more.rglob("*.png")):
        target = folder / path.parent.name / f"new-{path.name}"
        shutil.copyfile(path, target)
        added.append(target.relative_to(folder).as_posix())
    if new_class:
        first = sorted(more.iterdir())[0]
        shutil.copytree(first, folder / new_class)
        added += [f"{new_class}/{p.name}" for p in sorted(first.iterdir())]
    return added


def _record(model: Path) -> dict:
    from siamese_gui.core.runtime.store import read_metadata

    return read_metadata(model)["split"]


def _session(model: Path, folder: Path):
    from siamese_gui.core.app.session import Session, load_source
    from siamese_gui.core.runtime.loading import load_model_handle

    session = Session()
    session.set_model(load_model_handle(model))
    session.set_data(load_source(image_folder=str(folder)))
    return session


def test_evaluate_with_no_data_options_scores_the_folder_the_model_records(capsys, tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "drawings", per_class=12, num_classes=3)
    model = _train(capsys, folder, tmp_path / "m.keras")
    code, out, err = _run(capsys, "evaluate", str(model), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert str(folder) in result["test"]["data"] and "Fashion-MNIST" not in out + err
    assert any(f"scoring {folder}, the folder this model records" in note for note in result["notes"])
    # The recorded folder as it was: its test images exactly, two pairs per image.
    assert result["test"]["pairs"] == 2 * _record(model)["counts"]["test"]
    assert set(result["test"]["breakdown"]["frr_per_class"]) <= {"bar", "column", "ring"}
    # Against the best training-free baseline, on the very same pairs.
    assert result["baseline"]["pairs"] == result["test"]["pairs"]
    assert result["baseline"]["model_auc"] == pytest.approx(result["test"]["auc"])
    assert result["baseline"]["baseline"] in {"pixels", "hog"}
    code, out, err = _run(capsys, "report", str(model), "--out", str(tmp_path / "r.html"), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert str(folder) in report["evaluation"] and report["pairs"] == result["test"]["pairs"]
    assert report["accuracy"] == pytest.approx(result["test"]["accuracy"])


def test_a_moved_folder_is_named_with_the_option_to_pass(capsys, tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "drawings", per_class=12, num_classes=3)
    model = _train(capsys, folder, tmp_path / "m.keras")
    folder.rename(tmp_path / "moved")
    for argv in (["evaluate", str(model)], ["report", str(model), "--out", str(tmp_path / "r.html")]):
        code, out, err = _run(capsys, *argv)
        assert code == 1 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert str(folder) in lines[0] and "missing" in lines[0] and "--image-folder" in lines[0]
        assert "garment" not in err and "20,000" not in err  # nothing else was scored instead
    # Pointed at its new place, it is the model's own folder again (found by content).
    code, out, err = _run(capsys, "evaluate", str(model), "--image-folder", str(tmp_path / "moved"), "--json")
    assert code == 0, err
    assert json.loads(out)["test"]["pairs"] == 2 * _record(model)["counts"]["test"]


def test_a_grown_folder_is_scored_the_same_everywhere_never_on_training_images(capsys, tmp_path, image_folder_factory):
    folder = image_folder_factory(tmp_path / "drawings", per_class=12, num_classes=4)
    model = _train(capsys, folder, tmp_path / "open.keras", "--split", "classes", "--held-out", "0,3")
    record = _record(model)
    trained = set(recorded_hashes(record, Role.TRAIN)) | set(recorded_hashes(record, Role.VALIDATION))
    added = _grow(image_folder_factory, folder, tmp_path / "more", new_class="zigzag")

    session = _session(model, folder)
    try:
        splits = session.splits
        tested = splits.test.hashes + splits.closed_test.hashes
        # No image the model trained or validated on is a test image; every new one is.
        assert not set(tested) & trained
        assert set(added) <= set(splits.test.files + splits.closed_test.files)
        assert {"zigzag", *record["unseen_classes"]} == set(splits.unseen_classes)
        assert sorted(splits.train.hashes) == sorted(recorded_hashes(record, Role.TRAIN))
        figures = session.figures()
    finally:
        session.close()

    code, out, err = _run(capsys, "evaluate", str(model), "--json")  # the recorded folder, grown
    assert code == 0, err
    evaluated = json.loads(out)
    code, out, err = _run(capsys, "report", str(model), "--image-folder", str(folder),
                          "--out", str(tmp_path / "r.html"), "--json")
    assert code == 0, err
    reported = json.loads(out)
    # Seen and unseen classes apart, the same pairs and the same accuracy in all three.
    assert figures.keys() == ["test_unseen_classes", "test_seen_classes"] == list(reported["figures"])
    for key, part in zip(figures.keys(), figures.parts):
        at = part.evaluation.at(figures.threshold.value)
        assert evaluated[key]["pairs"] == reported["figures"][key]["pairs"] == len(part.evaluation.pairs)
        assert evaluated[key]["accuracy"] == pytest.approx(at.accuracy)
        assert reported["figures"][key]["accuracy"] == pytest.approx(at.accuracy)
    assert reported["classes"] == "unseen" and reported["pairs"] == evaluated["test_unseen_classes"]["pairs"]
    assert reported["accuracy"] == pytest.approx(evaluated["test_unseen_classes"]["accuracy"])
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "classes it never trained on" in text and "classes it trained on" in text
