"""`siamese-gui index` and `search`, and the retrieval block of `evaluate`."""

from __future__ import annotations

import json

import pytest

from siamese_gui.cli import commands as cli
from siamese_gui.core.app.search import SearchIndex


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *words):
    assert code == 1
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("siamese-gui: error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def gallery(tmp_path, image_folder_factory):
    return image_folder_factory(tmp_path / "gallery", per_class=3, num_classes=3)


def test_index_then_search(saved_model, gallery, tmp_path, capsys):
    out = tmp_path / "g.npz"
    code, text, err = _run(capsys, "index", str(gallery), "--model", str(saved_model), "--out", str(out))
    assert code == 0, err
    assert "indexed 9 images" in text and "9 embedded, 0 unchanged" in text
    assert len(SearchIndex.load(out)) == 9

    code, text, err = _run(capsys, "index", str(gallery), "--model", str(saved_model), "--out", str(out), "--json")
    assert code == 0, err
    summary = json.loads(text)
    assert (summary["images"], summary["embedded"], summary["reused"]) == (9, 0, 9)
    assert summary["classes"] == ["bar", "column", "ring"]

    query = sorted((gallery / "ring").iterdir())[0]
    code, text, err = _run(capsys, "search", str(query), "--index", str(out), "--model", str(saved_model),
                           "--top", "3", "--json")
    assert code == 0, err
    result = json.loads(text)
    assert result["images"] == 9 and len(result["results"]) == 3
    first = result["results"][0]
    assert first["path"] == str(query.resolve()) and first["distance"] == pytest.approx(0, abs=1e-4)
    assert first["verdict"] == "same" and first["class"] == "ring"
    distances = [r["distance"] for r in result["results"]]
    assert distances == sorted(distances)

    code, text, err = _run(capsys, "search", str(query), "--gallery", str(gallery), "--model", str(saved_model),
                           "--top", "2")
    assert code == 0, err
    lines = text.strip().splitlines()
    assert lines[0].startswith("2 nearest of 9 images") and len(lines) == 3
    assert str(query.resolve()) in lines[1] and "[ring]" in lines[1]


def test_index_of_another_model_is_refused(saved_model, gallery, tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert _run(capsys, "index", str(gallery), "--model", str(saved_model), "--out", str(out))[0] == 0
    index = SearchIndex.load(out)
    index.fingerprint = "0" * 64
    index.save(out)
    code, _, err = _run(capsys, "index", str(gallery), "--model", str(saved_model), "--out", str(out))
    _one_line_error(code, err, str(out), "another model")
    query = next(gallery.rglob("*.png"))
    code, _, err = _run(capsys, "search", str(query), "--index", str(out), "--model", str(saved_model))
    _one_line_error(code, err, str(out), "another model")


@pytest.mark.parametrize("case", ["bad_query", "missing_index", "empty_gallery", "top0", "bad_out"])
def test_bad_input_is_one_line(case, saved_model, gallery, tmp_path, capsys):
    query = next(gallery.rglob("*.png"))
    model = ["--model", str(saved_model)]
    if case == "bad_query":
        bad = tmp_path / "q.png"
        bad.write_bytes(b"garbage")
        args, words = ["search", str(bad), "--gallery", str(gallery), *model], [str(bad)]
    elif case == "missing_index":
        missing = tmp_path / "none.npz"
        args, words = ["search", str(query), "--index", str(missing), *model], [str(missing), "not found"]
    elif case == "empty_gallery":
        (tmp_path / "empty").mkdir()
        args, words = ["search", str(query), "--gallery", str(tmp_path / "empty"), *model], ["no readable image"]
    elif case == "top0":
        args, words = ["search", str(query), "--gallery", str(gallery), "--top", "0", *model], ["--top"]
    else:
        args, words = ["index", str(gallery), "--out", str(tmp_path / "g.txt"), *model], [".npz"]
    code, _, err = _run(capsys, *args)
    _one_line_error(code, err, *words)


def test_search_json_error_is_json(saved_model, tmp_path, capsys):
    missing = tmp_path / "none.npz"
    code, _, err = _run(capsys, "search", str(missing), "--index", str(missing), "--json")
    assert code == 1
    assert "not found" in json.loads(err)["error"]


def test_search_needs_a_gallery_or_index(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["search", "q.png"])
    assert info.value.code == 2


def test_evaluate_reports_retrieval_metrics(saved_model, tmp_path, image_folder_factory, capsys):
    folder = image_folder_factory(tmp_path / "data", per_class=4, num_classes=3)
    code, out, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder), "--json")
    assert code == 0, err
    retrieval = json.loads(out)["test"]["retrieval"]
    assert retrieval["queries"] == 12
    for name in ("precision_at_1", "r_precision", "map_at_r"):
        assert 0.0 <= retrieval[name] <= 1.0
    code, out, err = _run(capsys, "evaluate", str(saved_model), "--image-folder", str(folder))
    assert code == 0 and "precision@1" in out and "MAP@R" in out
