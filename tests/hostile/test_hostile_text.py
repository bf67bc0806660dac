"""Untrusted text (file and class names, metadata strings, CSV cells) never reaches a
terminal, a spreadsheet or a report raw: escape sequences and right-to-left overrides are
escaped, formula cells neutralised, `$...$` drawn as written, many skips summarised."""

from __future__ import annotations

import csv
import io

import cv2
import pytest

from siamese_gui.core.io.untrusted import SanitisedStream, csv_cell, shown, without_controls
from tests.conftest import make_dataset

ESC = "\x1b[31mred\x1b[0m"
RTL = "photo\u202egnp.exe"
FORGED = "x\nsiamese-gui: error: forged"


@pytest.mark.parametrize("text,expected", [
    (ESC, "\\x1b[31mred\\x1b[0m"), (RTL, "photo\\u202egnp.exe"), (FORGED, "x\\nsiamese-gui: error: forged"),
    ("plain name", "plain name"), ("\u00e9t\u00e9 \u65e5\u672c", "\u00e9t\u00e9 \u65e5\u672c"),
])
def test_shown_escapes_control_and_format_characters_only(text, expected):
    assert shown(text) == expected


def test_the_cli_stream_keeps_its_own_lines_but_escapes_the_rest():
    raw = io.StringIO()
    SanitisedStream(raw).write(f"line one {ESC}\n\tline two {RTL}\n")
    assert raw.getvalue() == "line one \\x1b[31mred\\x1b[0m\n\tline two photo\\u202egnp.exe\n"
    assert without_controls("a\rb") == "a\\rb"


@pytest.mark.parametrize("cell", [
    "=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
    "\uff1d1+1",
])
def test_formula_cells_are_neutralised(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("value", ["img/a.png", "0.512345", 0.5, 3, None, ""])
def test_ordinary_cells_are_left_alone(value):
    assert csv_cell(value) == value


def _image_folder(root, names, per_class=2):
    data = make_dataset(per_class=per_class, num_classes=len(names))
    for index, name in enumerate(names):
        (root / name).mkdir(parents=True)
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        cv2.imwrite(str(root / names[label] / f"{i}.png"), image)
    return root


def test_folder_class_names_are_shown_escaped(tmp_path):
    from siamese_gui.core.data.datasets import load_image_folder

    folder = _image_folder(tmp_path / "data", [ESC, RTL, FORGED])
    names = load_image_folder(folder).class_names
    assert set(names) == {shown(ESC), shown(RTL), shown(FORGED)}
    assert all(name.isprintable() for name in names)


def test_verify_writes_no_formula_into_its_csv_and_prints_no_raw_names(tmp_path, capsys, saved_model):
    from siamese_gui.cli import commands as cli

    data = make_dataset(per_class=2, num_classes=2)
    for i, image in enumerate(data.images):
        cv2.imwrite(str(tmp_path / f"=cmd{i}.png"), image)
    (tmp_path / f"{ESC}.png").write_bytes(b"not an image")
    rows = ["image_a,image_b", "=cmd0.png,=cmd1.png", f"=cmd2.png,{ESC}.png", "@SUM(A1),+1+1"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "results.csv"
    cli.main(["verify", str(pairs), "--model", str(saved_model), "--out", str(out)])
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err
    with open(out, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert cells and not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'=cmd0.png" in cells


def test_class_names_with_mathtext_make_a_pdf(tmp_path):
    from siamese_gui.core.app.model_comparison import EvaluationSet, describe_pairs
    from siamese_gui.core.app.report import build_report, write_pdf
    from siamese_gui.core.data.datasets import Dataset
    from siamese_gui.core.data.pairs import standard_pairs
    from siamese_gui.core.runtime.handle import ModelHandle

    hostile = ("$\\frac{a}{$", "\\sqrt{" * 300 + "$", "$$$" + ESC, "$x^{" * 50)
    base = make_dataset(per_class=8, num_classes=4, seed=3)
    data = Dataset(base.images, base.labels, hostile, "shapes $\\alpha$ (test)")
    pairs = standard_pairs(data.labels)

    def embed(batch):
        return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 3

    handle = ModelHandle(embedder=embed, metadata={"threshold": 0.6, "class_names": list(hostile),
                                                   "data_source": "$\\sqrt{" * 100})
    report = build_report(handle, EvaluationSet(data, pairs, describe_pairs(data, pairs)))
    path = write_pdf(report, tmp_path / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF")


def test_many_skipped_files_are_summarised(tmp_path, capsys):
    from siamese_gui.cli.common import SHOWN_SKIPS, warn_skipped

    warn_skipped([(tmp_path / f"{i}.png", f"{i}.png: empty file") for i in range(100_000)])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == SHOWN_SKIPS + 1
    assert "99,990 more files skipped" in lines[-1]


def test_library_warnings_stay_off_the_terminal(sample_images, capsys, monkeypatch):
    import warnings

    from siamese_gui.cli import commands as cli

    def noisy(args):
        warnings.warn_explicit("constrained_layout not applied", UserWarning, "layout_engine.py", 1,
                               module="matplotlib.layout_engine")
        print("the command's own output")
        return 0

    monkeypatch.setitem(cli.COMMANDS, "compare", noisy)
    assert cli.main(["compare", *map(str, sample_images)]) == 0
    printed = capsys.readouterr()
    assert printed.out == "the command's own output\n"
    assert "constrained_layout" not in printed.err
