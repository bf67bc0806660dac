"""Batch verification: pairs CSV in (header optional, relative paths, bad rows kept),
results CSV out (atomic), each image embedded once."""

from __future__ import annotations

import csv
import os

import cv2
import pytest

from siamese_gui.core.app.verify import (
    RESULT_COLUMNS,
    read_pairs_csv,
    rejudge,
    summarize,
    verify_csv,
    write_results_csv,
)
from siamese_gui.core.errors import DatasetError
from siamese_gui.core.evaluation.metrics import Verdict
from siamese_gui.core.io.images import load_image
from siamese_gui.core.runtime.handle import ModelHandle
from tests.conftest import make_dataset
from tests.helpers import assert_user_error


class CountingEmbedder:
    """Embeds an image as its four quadrant means and counts the images it saw."""

    def __init__(self):
        self.images = 0

    def __call__(self, batch):
        self.images += len(batch)
        return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 4


def _handle(threshold=0.5):
    embedder = CountingEmbedder()
    return ModelHandle(embedder=embedder, metadata={"threshold": threshold}), embedder


@pytest.fixture
def images(tmp_path):
    """Six PNGs: three of class 0 (a bar), three of class 1 (a column), in tmp/img/."""
    data = make_dataset(per_class=3, num_classes=2)
    folder = tmp_path / "img"
    folder.mkdir()
    names = []
    for i, img in enumerate(data.images):
        name = f"{'bar' if data.labels[i] == 0 else 'col'}{i}.png"
        cv2.imwrite(str(folder / name), img)
        names.append(name)
    return folder, names


def _write_csv(path, rows, header=True):
    lines = (["image_a,image_b"] if header else []) + rows
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_relative_paths_header_and_bad_rows(tmp_path, images):
    folder, names = images
    (tmp_path / "junk.png").write_bytes(b"not an image")
    pairs = _write_csv(tmp_path / "pairs.csv", [
        f"img/{names[0]},img/{names[1]}",           # same class
        f"img/{names[0]},img/{names[4]}",           # different class
        f"img/{names[2]},img/missing.png",          # missing file
        "junk.png,img/" + names[3],                 # not an image
        "img/" + names[5],                          # one column
        "",                                         # blank line: skipped
        f"{folder / names[3]},{folder / names[4]}",  # absolute paths
    ])
    handle, embedder = _handle(threshold=0.5)
    results = verify_csv(handle, pairs)
    assert [r.line for r in results] == [2, 3, 4, 5, 6, 8]
    ok = [r for r in results if r.ok]
    assert len(ok) == 3
    assert all(r.verdict is handle.verdict(r.distance) for r in ok)
    # Distances equal a direct computation from the same images.
    a, b = (load_image(folder / n) for n in (names[0], names[4]))
    direct = handle.distance(a, b)
    assert results[1].distance == pytest.approx(direct, rel=1e-5)
    assert "missing.png" in results[2].error and "not found" in results[2].error
    assert "junk.png" in results[3].error
    assert "pairs.csv line 6" in results[4].error and "two image paths" in results[4].error
    # Each distinct readable image embedded once: names 0,1,4,2,3 -> 5 images (+2 for `direct`).
    assert embedder.images == 5 + 2
    summary = summarize(results)
    assert (summary.pairs, summary.scored, summary.errors) == (6, 3, 3)


def test_header_is_optional(tmp_path, images):
    _, names = images
    pairs = _write_csv(tmp_path / "p.csv", [f"img/{names[0]},img/{names[1]}"], header=False)
    rows = read_pairs_csv(pairs)
    assert len(rows) == 1 and rows[0].line == 1 and not rows[0].error


def test_results_csv_columns_and_rejudge(tmp_path, images):
    _, names = images
    pairs = _write_csv(tmp_path / "p.csv", [f"img/{names[0]},img/{names[4]}", "img/nope.png,img/x.png"])
    handle, _ = _handle()
    results = verify_csv(handle, pairs, threshold=0.25)
    out = write_results_csv(results, tmp_path / "out.csv")
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert table[1][:2] == [f"img/{names[0]}", f"img/{names[4]}"]
    assert float(table[1][2]) == pytest.approx(results[0].distance, abs=1e-6)
    assert table[1][3] in ("same", "different") and float(table[1][4]) == 0.25 and table[1][5] == ""
    assert table[2][2:4] == ["", ""] and "nope.png" in table[2][5]
    # A new threshold changes verdicts, never distances.
    far = rejudge(results, results[0].distance + 1)
    assert far[0].verdict is Verdict.SAME and far[0].distance == results[0].distance
    assert far[1].error == results[1].error


def test_write_is_atomic(tmp_path, monkeypatch, images):
    _, names = images
    handle, _ = _handle()
    results = verify_csv(handle, _write_csv(tmp_path / "p.csv", [f"img/{names[0]},img/{names[1]}"]))
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    assert_user_error(DatasetError, lambda: write_results_csv(results, out), out, "no space")
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


@pytest.mark.parametrize("content, words", [
    (None, ["not found"]),
    (b"", ["no pairs"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", ["not"]),
])
def test_unreadable_csv_is_a_dataset_error(tmp_path, content, words):
    path = tmp_path / "pairs.csv"
    if content is not None:
        path.write_bytes(content)
    assert_user_error(DatasetError, lambda: read_pairs_csv(path), path, *words)


def test_row_cap(tmp_path):
    path = _write_csv(tmp_path / "p.csv", [f"a{i}.png,b{i}.png" for i in range(5)])
    assert_user_error(DatasetError, lambda: read_pairs_csv(path, max_rows=4), path, "more than 4")


def test_progress_counts_distinct_images(tmp_path, images):
    _, names = images
    pairs = _write_csv(tmp_path / "p.csv", [f"img/{names[0]},img/{names[1]}", f"img/{names[1]},img/{names[0]}"])
    calls = []
    verify_csv(_handle()[0], pairs, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2, 2)
