"""`siamese-gui verify`, `report` and `evaluate A B` as a user runs them."""

from __future__ import annotations

import csv
import json
import shutil

import pytest


@pytest.fixture
def folder(tmp_path, image_folder_factory):
    return image_folder_factory(tmp_path / "shapes", per_class=6, num_classes=4)


def _pngs(folder):
    return sorted(folder.rglob("*.png"))


def test_verify_scores_good_rows_and_reports_bad_ones(cli, saved_model, folder, tmp_path):
    images = _pngs(folder)
    pairs = tmp_path / "pairs.csv"
    rows = [f"{images[0].relative_to(tmp_path)},{images[1].relative_to(tmp_path)}",
            f"{images[0]},{images[10]}",
            "shapes/none.png,shapes/also-none.png",
            "lonely.png"]
    pairs.write_text("first,second\n" + "\n".join(rows) + "\n")
    out = tmp_path / "results.csv"
    run = cli("verify", str(pairs), "--out", str(out), "--model", str(saved_model))
    assert run.returncode == 0, run.stderr
    assert "2 of 4 pairs scored" in run.stdout and "2 with errors" in run.stdout
    assert "none.png" in run.stderr and "not found" in run.stderr and "line 5" in run.stderr
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["error"] == "" for r in table] == [True, True, False, False]
    for r in table[:2]:
        assert float(r["distance"]) >= 0 and r["verdict"] in ("same", "different")
        assert r["verdict"] == ("same" if float(r["distance"]) < float(r["threshold"]) else "different")
    # --json: one JSON object, no progress text.
    run = cli("verify", str(pairs), "--out", str(out), "--model", str(saved_model), "--json", "--threshold", "0.2")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["errors"] == 2 and summary["threshold"] == 0.2
    assert summary["threshold_origin"] == {"value": 0.2, "origin": "user", "detail": "--threshold on the command line"}
    assert "verifying" not in run.stderr


def test_verify_with_no_scorable_row_fails(cli, saved_model, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a.png,b.png\n")
    run = cli("verify", str(pairs), "--out", str(tmp_path / "r.csv"), "--model", str(saved_model))
    assert run.returncode == 1
    assert "no pair could be scored" in run.stderr
    assert (tmp_path / "r.csv").is_file()  # the errors are still written


def test_evaluate_two_models_side_by_side(cli, saved_model, folder, tmp_path):
    from siamese_gui.core.runtime.store import update_metadata

    other = tmp_path / "other.keras"
    shutil.copyfile(saved_model, other)
    update_metadata(other, threshold=0.05)
    run = cli("evaluate", str(saved_model), str(other), "--image-folder", str(folder), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert [m["model"] for m in result["models"]] == ["tiny.keras", "other.keras"]
    assert result["pairs"] == 48 and str(folder) in result["evaluation"]
    a, b = result["models"]
    assert a["auc"] == b["auc"]  # same weights, same pairs
    assert b["threshold"] == 0.05 and a["threshold"] != 0.05
    assert "embedding" not in run.stderr
    text = cli("evaluate", str(saved_model), str(other), "--image-folder", str(folder))
    assert text.returncode == 0, text.stderr
    assert "tiny.keras" in text.stdout and "other.keras" in text.stdout and "FAR at FRR 5 %" in text.stdout
    assert "embedding" in text.stderr and "images/s" in text.stderr  # plain progress lines (not a TTY)


def test_report_writes_a_self_contained_html(cli, saved_model, folder, tmp_path):
    out = tmp_path / "report.html"
    run = cli("report", str(saved_model), "--image-folder", str(folder), "--out", str(out), "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["report"] == str(out) and str(folder) in summary["evaluation"]
    text = out.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "stored with the model" in text
    bad = cli("report", str(saved_model), "--out", str(tmp_path / "r.txt"))
    assert bad.returncode == 1 and "must end in .html or .pdf" in bad.stderr
