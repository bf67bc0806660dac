"""The stakeholder report: a self-contained HTML file with the provenance, the threshold
and how it was chosen, metrics with intervals, figures and a gallery; and a PDF."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from siamese_gui.core.app.model_comparison import EvaluationSet, describe_pairs
from siamese_gui.core.app.report import (
    ReportError,
    auc_interval,
    build_report,
    most_confused,
    render_html,
    write_pdf,
    write_report,
)
from siamese_gui.core.data.pairs import standard_pairs
from siamese_gui.core.evaluation.metrics import pair_distances
from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin
from siamese_gui.core.runtime.handle import ModelHandle
from tests.conftest import make_dataset
from tests.helpers import assert_user_error

METADATA = {
    "threshold": 0.6,
    "threshold_detail": "max accuracy on validation pairs",
    "class_names": ["bar", "column", "ring", "diagonal"],
    "data_source": "synthetic shapes (train)",
    "created": "2026-01-02T03:04:05+00:00",
    "sha256": "ab" * 32,
    "config": {"epochs": 3, "margin": 1.0},
    "versions": {"keras": "3.15.1"},
}


def _embed(batch):
    return batch.reshape(len(batch), 2, 14, 2, 14).mean(axis=(2, 4)).reshape(len(batch), 4) * 3


@pytest.fixture(scope="module")
def report():
    data = make_dataset(per_class=15, num_classes=4, seed=5)
    pairs = standard_pairs(data.labels)
    handle = ModelHandle(embedder=_embed, metadata=METADATA)
    return build_report(handle, EvaluationSet(data, pairs, describe_pairs(data, pairs)))


@pytest.fixture(scope="module")
def html_text(report):
    return render_html(report)


def test_html_is_self_contained(report, html_text):
    text = html_text
    assert "http://" not in text and "https://" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in text and "<script" not in text
    # Every embedded image decodes to a PNG.
    for source in sources:
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # histogram + ROC + one tile per gallery pair
    assert len(sources) == 2 + len(report.gallery)


def test_html_says_what_model_data_and_threshold(report, html_text):
    text = html_text
    assert "0.6000 (stored with the model: max accuracy on validation pairs)" in text
    assert "synthetic shapes (train)" in text and "ab" * 32 in text
    assert "120 pairs" in text and "seed 0" in text
    # Metrics carry 95 % intervals: "xx.xx % (lo-hi %)".
    assert re.search(r"\d+\.\d\d % \(\d+\.\d\d-\d+\.\d\d %\)", text)
    assert "Most-confused class pairs" in text
    assert "Gallery of right and wrong pairs" in text
    # Captions name both classes and the distance.
    first = report.gallery[0]
    assert f"{first.class_a} / {first.class_b}" in text and f"distance {first.distance:.3f}" in text


def test_user_threshold_is_reported_as_such(report):
    data = make_dataset(per_class=15, num_classes=4, seed=5)
    pairs = standard_pairs(data.labels)
    handle = ModelHandle(embedder=_embed, metadata=METADATA)
    threshold = Threshold(0.3, ThresholdOrigin.USER, "moved on the Threshold panel")
    other = build_report(handle, EvaluationSet(data, pairs, "d"), threshold)
    assert other.threshold == 0.3
    assert "0.3000 (set by hand: moved on the Threshold panel)" in render_html(other)
    assert other.at_threshold.threshold == 0.3


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"threshold": 0.9, "threshold_origin": "user", "threshold_detail": ""}, "0.9000 (set by hand)"),
        ({"threshold": 0.5, "threshold_origin": "fallback", "threshold_detail": ""},
         "0.5000 (no threshold stored; fallback)"),
        ({"threshold": None, "threshold_detail": ""},
         "0.5000 (no threshold stored; fallback: the model file records no threshold)"),
    ],
    ids=["hand", "fallback-saved", "none"],
)
def test_the_report_says_where_the_stored_threshold_came_from(fields, words):
    data = make_dataset(per_class=15, num_classes=4, seed=5)
    pairs = standard_pairs(data.labels)
    handle = ModelHandle(embedder=_embed, metadata={**METADATA, **fields})
    text = render_html(build_report(handle, EvaluationSet(data, pairs, "d")))
    assert words in text
    assert "stored with the model" not in text


def test_gallery_has_right_and_wrong_pairs(report):
    kinds = {(g.same, g.judged_same) for g in report.gallery}
    assert (True, True) in kinds and (False, False) in kinds
    assert any(not g.correct for g in report.gallery) == (report.at_threshold.accuracy < 1)
    for g in report.gallery:
        assert g.correct == (g.same == g.judged_same)


def test_most_confused_counts_match_the_pairs():
    data = make_dataset(per_class=15, num_classes=4, seed=5)
    pairs = standard_pairs(data.labels)
    distances = pair_distances(_embed(data.images.astype(np.float32) / 255), pairs)
    rows = most_confused(data.labels, data.class_names, pairs, distances, 0.6)
    wrong = (distances < 0.6) != pairs.same
    assert sum(c.rate.hits for c in rows) <= int(wrong.sum())
    for c in rows:
        a, b = data.class_names.index(c.class_a), data.class_names.index(c.class_b)
        la, lb = data.labels[pairs.a], data.labels[pairs.b]
        members = ((la == a) & (lb == b)) | ((la == b) & (lb == a))
        assert c.rate.total == int(members.sum()) and c.rate.hits == int((wrong & members).sum())


def test_auc_interval_contains_the_auc():
    low, high = auc_interval(0.9, 1000, 1000)
    assert low < 0.9 < high and high - low < 0.05
    assert auc_interval(0.9, 5, 1000) is None


def test_pdf_and_suffix(report, tmp_path):
    path = write_pdf(report, tmp_path / "r.pdf")
    assert path.read_bytes()[:5] == b"%PDF-" and path.stat().st_size > 10_000
    assert_user_error(ReportError, lambda: write_report(report, tmp_path / "r.docx"), "r.docx", ".html or .pdf")
    missing = tmp_path / "nope" / "r.html"
    assert_user_error(ReportError, lambda: write_report(report, missing), missing, "does not exist")
