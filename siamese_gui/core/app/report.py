"""A report for stakeholders: one self-contained HTML file (or a PDF) about one model.

It says which model and which data, the threshold and how it was chosen, the metrics
with 95 % intervals, the distance histograms and the ROC curve, the class pairs the
model confuses most, and a captioned gallery of right and wrong pairs. Figures are
matplotlib `Figure`s (never pyplot) embedded as base64 PNG, so the HTML file needs
nothing else to display.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import html
import io
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import siamese_gui
from siamese_gui.core.app.model_comparison import EvaluationSet
from siamese_gui.core.errors import SiameseError
from siamese_gui.core.evaluation.metrics import (
    MIN_PAIRS,
    EvaluationReport,
    Rate,
    ThresholdMetrics,
    auc_standard_error,
    class_pair_errors,
    evaluate_distances,
    judged_same,
    metrics_at,
    pair_distances,
    roc_curve,
    wilson_rate,
)
from siamese_gui.core.io.safe_files import (
    OutputKind,
    check_output,
    looks_like_pdf,
    looks_like_text,
    write_atomically,
)
from siamese_gui.core.io.untrusted import LITERAL_TEXT, shown
from siamese_gui.core.model.config import describe_settings
from siamese_gui.core.model.embedding import embed_with_progress
from siamese_gui.core.training.schedule import run_record_summary

SAME_COLOR = "#1f77b4"
DIFFERENT_COLOR = "#ff7f0e"
RIGHT_COLOR = "#1e8e3e"
WRONG_COLOR = "#d93025"
GALLERY_PER_GROUP = 5
CONFUSED_ROWS = 8
TILE_SCALE = 3
_Z95 = 1.959963984540054


class ReportError(SiameseError):
    """A report cannot be built or written."""


@dataclass(frozen=True)
class GalleryPair:
    """One pair shown in the gallery.

    Attributes:
        index_a: index of the first image in the evaluation images.
        index_b: index of the second image.
        class_a: class name of the first image.
        class_b: class name of the second image.
        distance: the pair's distance.
        same: whether both images have the same class.
        judged_same: the model's verdict at the report's threshold.
    """

    index_a: int
    index_b: int
    class_a: str
    class_b: str
    distance: float
    same: bool
    judged_same: bool

    @property
    def correct(self) -> bool:
        return self.same == self.judged_same

    @property
    def outcome(self) -> str:
        """"right" or "wrong (false accept)" / "wrong (false reject)"."""
        if self.correct:
            return "right"
        return "wrong (false accept)" if self.judged_same else "wrong (false reject)"

    def caption(self) -> str:
        verdict = "same" if self.judged_same else "different"
        return (
            f"{self.class_a} / {self.class_b}: distance {self.distance:.3f}, "
            f"judged {verdict}, {self.outcome}"
        )


@dataclass(frozen=True)
class ConfusedPair:
    """A class pair with the share of its pairs judged wrong.

    Attributes:
        class_a: first class name.
        class_b: second class name (equal to `class_a` for same-class pairs).
        rate: wrong verdicts among this pair's pairs, with its 95 % interval.
        kind: "false rejects" (same class) or "false accepts" (different classes).
    """

    class_a: str
    class_b: str
    rate: Rate
    kind: str


@dataclass(frozen=True)
class Report:
    """Everything the report shows, computed once; rendered by `render_html`/`write_pdf`."""

    title: str
    created: str
    model_name: str
    model_facts: tuple[tuple[str, str], ...]
    data_facts: tuple[tuple[str, str], ...]
    threshold: float
    threshold_text: str
    threshold_facts: tuple[tuple[str, str], ...]
    evaluation: EvaluationReport
    at_threshold: ThresholdMetrics
    auc_interval: tuple[float, float] | None
    distances: np.ndarray
    same: np.ndarray
    roc: tuple[np.ndarray, np.ndarray, np.ndarray]
    confused: tuple[ConfusedPair, ...]
    gallery: tuple[GalleryPair, ...]
    images: np.ndarray
    notes: tuple[str, ...]

    def headline(self) -> str:
        """One sentence: how many pairs are judged right at the threshold."""
        acc = self.at_threshold.accuracy_rate
        n = self.evaluation.pairs
        if acc.value is None:
            return f"Too few pairs ({n}) to measure accuracy."
        return (
            f"At threshold {self.threshold:.3f}, {100 * acc.value:.1f} % of {n:,} held-out pairs "
            f"are judged right (95 % interval {100 * acc.low:.1f}–{100 * acc.high:.1f} %)."
        )

    def metric_rows(self) -> list[tuple[str, str, str]]:
        """(metric, value with interval, what it means) rows."""
        m = self.at_threshold
        ev = self.evaluation
        rows = [
            ("Accuracy", m.accuracy_rate.describe(2), "pairs judged right"),
            ("False accept rate (FAR)", m.far_rate.describe(2),
             f"different-class pairs judged same ({m.false_accepts:,} of {m.false_accepts + m.true_rejects:,})"),
            ("False reject rate (FRR)", m.frr_rate.describe(2),
             f"same-class pairs judged different ({m.false_rejects:,} of {m.false_rejects + m.true_accepts:,})"),
            ("Precision", _rate_text(wilson_rate(m.true_accepts, m.true_accepts + m.false_accepts)),
             "pairs judged same that are same"),
        ]
        if ev.auc is None:
            rows.append(("ROC AUC", "undefined", "needs both same- and different-class pairs"))
        else:
            auc = f"{ev.auc:.4f}"
            if self.auc_interval is not None:
                auc += f" ({self.auc_interval[0]:.4f}–{self.auc_interval[1]:.4f})"
            rows.append(("ROC AUC", auc, "chance that a same pair is closer than a different pair"))
            rows.append(("Equal error rate", f"{100 * ev.eer:.2f} % at {ev.eer_threshold:.4f}",
                         "where FAR equals FRR (point estimate)"))
        return rows


def _rate_text(rate: Rate) -> str:
    return rate.describe(2)


def auc_interval(auc: float, n_same: int, n_different: int) -> tuple[float, float] | None:
    """95 % interval of an ROC AUC (Hanley & McNeil, 1982), or None with too few pairs."""
    if min(n_same, n_different) < MIN_PAIRS:
        return None
    half = _Z95 * auc_standard_error(auc, n_same, n_different)
    return max(0.0, auc - half), min(1.0, auc + half)


def most_confused(
    labels: np.ndarray, class_names, pairs, distances, threshold: float, rows: int = CONFUSED_ROWS
) -> tuple[ConfusedPair, ...]:
    """The class pairs most often judged wrong, ranked by the lower end of the 95 % interval
    of their share wrong (so a high share measured on a handful of pairs does not lead)."""
    num_classes = len(class_names)
    errors, totals = class_pair_errors(labels, pairs, distances, threshold, num_classes)
    found = []
    for i in range(num_classes):
        for j in range(i, num_classes):
            if errors[i, j] > 0:
                rate = wilson_rate(errors[i, j], totals[i, j])
                kind = "false rejects" if i == j else "false accepts"
                low = rate.low if rate.low is not None else 0.0
                found.append((low, int(errors[i, j]), ConfusedPair(class_names[i], class_names[j], rate, kind)))
    found.sort(key=lambda t: (-t[0], -t[1], t[2].class_a, t[2].class_b))
    return tuple(c for _, _, c in found[:rows])


def pick_gallery(
    labels, class_names, pairs, distances, threshold: float, per_group: int = GALLERY_PER_GROUP, seed: int = 0
) -> tuple[GalleryPair, ...]:
    """Pairs chosen at random (seeded) from each group: right same, right different,
    false accepts, false rejects."""
    rng = np.random.default_rng(seed)
    accepted = judged_same(distances, threshold)
    chosen = []
    for same, judged in ((True, True), (False, False), (False, True), (True, False)):
        members = np.flatnonzero((pairs.same == same) & (accepted == judged))
        if len(members) > per_group:
            members = np.sort(rng.choice(members, per_group, replace=False))
        for k in members:
            a, b = int(pairs.a[k]), int(pairs.b[k])
            chosen.append(GalleryPair(a, b, class_names[labels[a]], class_names[labels[b]],
                                      float(distances[k]), bool(same), bool(judged)))
    return tuple(chosen)


def _facts(pairs) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in pairs if v not in (None, "", [], {}))


def _split_text(split: dict) -> str:
    counts = split.get("counts") or {}
    if not counts:
        return ""
    parts = ", ".join(f"{n:,} {role}" for role, n in counts.items())
    return f"{split.get('kind', '')} split, seed {split.get('seed', '?')}: {parts} images".strip()


def model_facts(handle) -> tuple[tuple[str, str], ...]:
    """Provenance of the model from its file and metadata."""
    meta = handle.metadata or {}

    def record(key: str) -> dict:
        value = meta.get(key)
        return value if isinstance(value, dict) else {}

    training, versions, split = record("training"), record("versions"), record("split")
    return _facts([
        ("File", handle.path or "not saved"),
        ("Weights SHA-256", handle.fingerprint),
        ("Saved", meta.get("created")),
        ("Trained on", meta.get("data_source")),
        ("Split", _split_text(split)),
        ("Classes never trained on", ", ".join(split.get("unseen_classes") or [])),
        ("Classes", ", ".join(handle.class_names)),
        ("Settings", describe_settings(record("config"))),
        ("Training run", run_record_summary(training) if training else ""),
        ("Software", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
    ])


def _notes(handle, dataset) -> tuple[str, ...]:
    notes = []
    trained_on = str((handle.metadata or {}).get("data_source") or "")
    if dataset.source.startswith("bundled samples"):
        notes.append("Fashion-MNIST is not installed: these figures come from the 500 bundled test "
                     "samples, so their intervals are wide.")
    if "images not trained on" in dataset.source:
        notes.append("Images this model trained on or chose its threshold on were found in this "
                     "folder and left out.")
    elif dataset.source.startswith("image folder") and dataset.source.split(" (")[0] in trained_on:
        notes.append("The model was trained on images from this same folder and does not record "
                     "which: unless it held some out, these figures are optimistic.")
    if handle.class_names and tuple(dataset.class_names) != tuple(handle.class_names):
        notes.append("The evaluation classes differ from the model's training classes: this measures "
                     "verification of classes the model was not trained on.")
    return tuple(notes)


def build_report(
    handle,
    evaluation: EvaluationSet,
    threshold=None,
    distances: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    per_group: int = GALLERY_PER_GROUP,
) -> Report:
    """Compute everything the report shows.

    Args:
        handle: a `core.inference.ModelHandle`.
        evaluation: the images and pairs to report on (see `model_comparison.evaluation_set`).
        threshold: a `core.inference.Threshold` (the model's own when None).
        distances: the pairs' distances, when already computed (else they are embedded here).
        progress: called with (images embedded, images) while embedding.
        should_stop: polled while embedding.
        per_group: gallery pairs per group (right same, right different, each kind of mistake).
    """
    dataset, pairs = evaluation.dataset, evaluation.pairs
    if len(pairs) == 0:
        raise ReportError(f"{dataset.source}: no evaluation pairs to report on")
    if distances is None:
        embeddings = embed_with_progress(handle, dataset.images, progress, should_stop)
        distances = pair_distances(embeddings, pairs)
    distances = np.asarray(distances, np.float64)
    threshold = handle.threshold if threshold is None else threshold
    summary = evaluate_distances(distances, pairs.same)
    at = metrics_at(distances, pairs.same, threshold.value)
    n_same = int(pairs.same.sum())
    # Where it comes from in one plain sentence first, then in full.
    threshold_facts = [("In short", f"{threshold.value:.4f}: {threshold.lead()}"), ("Used", threshold.describe())]
    if summary.defined:
        threshold_facts += [
            ("Best on these pairs", f"{summary.best_threshold:.4f} (accuracy {100 * summary.best_accuracy:.2f} %; "
                                    "chosen on the test pairs, so shown for reference only)"),
            ("Equal error rate at", f"{summary.eer_threshold:.4f}"),
        ]
    data_facts = (
        ("Images", dataset.source),
        ("Pairs", evaluation.description),
        ("Classes", ", ".join(dataset.class_names)),
    )
    return Report(
        title=f"Siamese model report: {handle.name}",
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        model_name=handle.name,
        model_facts=model_facts(handle),
        data_facts=data_facts,
        threshold=float(threshold.value),
        threshold_text=threshold.describe(),
        threshold_facts=tuple(threshold_facts),
        evaluation=summary,
        at_threshold=at,
        auc_interval=None if summary.auc is None else auc_interval(summary.auc, n_same, len(pairs) - n_same),
        distances=distances,
        same=np.asarray(pairs.same, bool),
        roc=roc_curve(distances, pairs.same),
        confused=most_confused(dataset.labels, dataset.class_names, pairs, distances, threshold.value),
        gallery=pick_gallery(dataset.labels, dataset.class_names, pairs, distances, threshold.value, per_group),
        images=dataset.images,
        notes=_notes(handle, dataset),
    )


def report_from_figures(handle, figures, notes=(), per_group: int = GALLERY_PER_GROUP) -> Report:
    """The report of a model's figures (`core.app.scoring.ModelFigures`): its headline part
    (the unseen classes where there are any) in full, every part's accuracy in words, so
    the report says what `evaluate` says, seen and unseen classes apart.

    Args:
        handle: the model.
        figures: its figures on the images it may be scored on.
        notes: more notes to show (where the data came from).
        per_group: gallery pairs per group.
    """
    from siamese_gui.core.app.model_comparison import EvaluationSet, describe_pairs
    from siamese_gui.core.app.scoring import compare_with_baseline

    main = figures.main.evaluation
    evaluation = EvaluationSet(main.data, main.pairs, describe_pairs(main.data, main.pairs))
    report = build_report(handle, evaluation, figures.threshold, distances=main.distances, per_group=per_group)
    scored = [("Scored", figures.main.evaluation.description)]
    scored += [("Figures by class", part.headline(figures.threshold.value)) for part in figures.parts]
    if figures.left_out:
        scored.append(("Left out", f"{figures.left_out:,} images this model trained on or chose its "
                                   "threshold on"))
    baseline = compare_with_baseline(figures)
    if baseline is not None:
        scored.append(("Against a training-free baseline", baseline.text()))
    return dataclasses.replace(report, data_facts=tuple(scored) + report.data_facts,
                               notes=tuple(notes) + report.notes)


# Figures ------------------------------------------------------------------------------


def _style(ax) -> None:
    ax.grid(True, color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw_histogram(ax, report: Report) -> None:
    """Distances of same- and different-class pairs, with the threshold."""
    d, same = report.distances, report.same
    upper = max(float(np.quantile(d, 0.999)) if len(d) else 1.0, report.threshold) * 1.05
    bins = np.linspace(0, max(upper, 1e-3), 60)
    ax.hist(d[same], bins=bins, color=SAME_COLOR, alpha=0.6, label=f"same class ({int(same.sum()):,})")
    ax.hist(d[~same], bins=bins, color=DIFFERENT_COLOR, alpha=0.6, label=f"different class ({int((~same).sum()):,})")
    ax.axvline(report.threshold, color="#2a2a2a", linewidth=2, label=f"threshold {report.threshold:.3f}")
    ax.set_xlim(0, bins[-1])
    ax.set_xlabel("distance (judged same below the threshold)")
    ax.set_ylabel("pairs")
    ax.set_title("Distances of held-out pairs", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    _style(ax)


def draw_roc(ax, report: Report) -> None:
    """The ROC curve with the operating point at the threshold."""
    far, tar, _ = report.roc
    m = report.at_threshold
    ax.plot([0, 1], [0, 1], color="#cccccc", linewidth=1, linestyle=":")
    auc = "" if report.evaluation.auc is None else f" (AUC {report.evaluation.auc:.4f})"
    ax.plot(far, tar, color=SAME_COLOR, linewidth=2, label="ROC" + auc)
    ax.plot([m.far], [1 - m.frr], "o", color="#d62728", markersize=8,
            label=f"threshold: FAR {100 * m.far:.1f} %, FRR {100 * m.frr:.1f} %")
    ax.set_xlim(-0.01, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (1 − FRR)")
    ax.set_title("ROC", fontsize=11)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _style(ax)


def histogram_figure(report: Report) -> Figure:
    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    draw_histogram(figure.add_subplot(), report)
    return figure


def roc_figure(report: Report) -> Figure:
    figure = Figure(figsize=(4.2, 3.6), dpi=100, layout="constrained")
    draw_roc(figure.add_subplot(), report)
    return figure


def figure_png(figure: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes (Agg, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def pair_png(image_a: np.ndarray, image_b: np.ndarray, scale: int = TILE_SCALE) -> bytes:
    """Two images as the model sees them (grey (H, W) or RGB (H, W, 3)) side by side,
    enlarged with sharp pixels, as PNG bytes."""
    import cv2

    def to_u8(image):
        image = np.asarray(image)
        return image if image.dtype == np.uint8 else np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)

    a, b = to_u8(image_a), to_u8(image_b)
    gap = np.full((a.shape[0], 2, *a.shape[2:]), 255, np.uint8)
    strip = np.hstack([a, gap, b])
    strip = np.repeat(np.repeat(strip, scale, axis=0), scale, axis=1)
    if strip.ndim == 3:
        strip = np.ascontiguousarray(strip[:, :, ::-1])  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", strip)
    if not ok:
        raise ReportError("cannot encode a gallery image as PNG")
    return encoded.tobytes()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# HTML ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;
margin:0;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:28px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:1px solid #e3e3e3;
padding-bottom:4px}h3{font-size:14px;margin:18px 0 8px}
.muted{color:#6b6b6b;font-size:13px}.headline{font-size:17px;margin:14px 0;padding:12px 14px;
background:#eef5ff;border-left:4px solid #1f77b4}
.note{background:#fff6e5;border-left:4px solid #f0a500;padding:8px 12px;margin:8px 0;font-size:14px}
table{border-collapse:collapse;font-size:14px;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #ececec;vertical-align:top}th{background:#fafafa;font-weight:600}
table.facts th{width:190px;background:none;font-weight:600;color:#444}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.figures{display:flex;gap:12px;flex-wrap:wrap}.figures img{max-width:100%}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
figure{margin:0;padding:8px;border:1px solid #e3e3e3;border-radius:4px;background:#fafafa}
figure img{display:block;margin:0 auto;image-rendering:pixelated}
figcaption{font-size:12px;margin-top:6px;line-height:1.35}
.right{border-top:3px solid #1e8e3e}.wrong{border-top:3px solid #d93025}
.tag{font-weight:600}.right .tag{color:#1e8e3e}.wrong .tag{color:#d93025}
"""

_GROUPS = (
    ("Right: same class, judged same", True, True),
    ("Right: different classes, judged different", False, False),
    ("Wrong: different classes, judged same (false accepts)", False, True),
    ("Wrong: same class, judged different (false rejects)", True, False),
)


def _e(text) -> str:
    return html.escape(shown(text), quote=True)


def _facts_table(facts) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts">{rows}</table>'


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document (figures inlined as PNG)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(report.title)}</h1>",
        f'<div class="muted">Created {_e(report.created)} by siamese-gui {_e(siamese_gui.__version__)}</div>',
        f'<p class="headline">{_e(report.headline())}</p>',
    ]
    parts += [f'<div class="note">{_e(n)}</div>' for n in report.notes]
    parts += ["<h2>Model</h2>", _facts_table(report.model_facts)]
    parts += ["<h2>Evaluation data</h2>", _facts_table(report.data_facts)]
    parts += ["<h2>Threshold</h2>", _facts_table(report.threshold_facts)]
    rows = "".join(
        f'<tr><td>{_e(name)}</td><td class="num">{_e(value)}</td><td>{_e(meaning)}</td></tr>'
        for name, value, meaning in report.metric_rows()
    )
    parts += [
        "<h2>Metrics at the threshold</h2>",
        f"<table><tr><th>Metric</th><th>Value (95 % interval)</th><th>Meaning</th></tr>{rows}</table>",
        '<p class="muted">Intervals: Wilson score intervals for rates; Hanley–McNeil for the AUC. '
        "Rates measured on fewer than 10 pairs are not reported.</p>",
    ]
    hist = _data_uri(figure_png(histogram_figure(report)))
    roc = _data_uri(figure_png(roc_figure(report)))
    parts += [
        "<h2>Distances and ROC</h2>",
        '<div class="figures">',
        f'<img src="{hist}" height="330" alt="Histogram of pair distances, same versus different class, with the threshold">',
        f'<img src="{roc}" height="330" alt="ROC curve with the operating point at the threshold">',
        "</div>",
    ]
    parts.append("<h2>Most-confused class pairs</h2>")
    if report.confused:
        rows = "".join(
            f"<tr><td>{_e(c.class_a)}</td><td>{_e(c.class_b)}</td><td>{_e(c.kind)}</td>"
            f'<td class="num">{c.rate.hits:,} of {c.rate.total:,}</td><td class="num">{_e(c.rate.describe(1))}</td></tr>'
            for c in report.confused
        )
        parts.append(
            "<table><tr><th>Class</th><th>Class</th><th>Kind of mistake</th><th>Wrong</th>"
            f"<th>Share wrong (95 % interval)</th></tr>{rows}</table>"
        )
    else:
        parts.append("<p>No pair is judged wrong at this threshold.</p>")
    parts.append("<h2>Gallery of right and wrong pairs</h2>")
    parts.append('<p class="muted">Chosen at random (seed 0) from each group; each tile shows the two images '
                 "as the model sees them (enlarged).</p>")
    for title, same, judged in _GROUPS:
        members = [g for g in report.gallery if g.same == same and g.judged_same == judged]
        parts.append(f"<h3>{_e(title)}</h3>")
        if not members:
            parts.append('<p class="muted">None.</p>')
            continue
        parts.append('<div class="gallery">')
        for g in members:
            uri = _data_uri(pair_png(report.images[g.index_a], report.images[g.index_b]))
            css = "right" if g.correct else "wrong"
            verdict = "same" if g.judged_same else "different"
            parts.append(
                f'<figure class="{css}"><img src="{uri}" alt="{_e(g.caption())}">'
                f"<figcaption><span class=\"tag\">{_e(g.outcome.capitalize())}</span><br>"
                f"{_e(g.class_a)} / {_e(g.class_b)}<br>distance {g.distance:.3f}, judged {verdict}"
                "</figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


# Files --------------------------------------------------------------------------------


HTML_KIND = OutputKind("HTML report (text)", looks_like_text)
PDF_KIND = OutputKind("PDF file", looks_like_pdf)


def report_kind(path: str | os.PathLike) -> OutputKind:
    """What a report file is, by its suffix (.html, .htm or .pdf).

    Raises:
        ReportError: for another suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return HTML_KIND
    if suffix == ".pdf":
        return PDF_KIND
    raise ReportError(f"{path}: the report must end in .html or .pdf")


def check_report_target(path: str | os.PathLike, inputs=()) -> Path:
    """Refuse a report path before the model is evaluated (see `safe_files.check_output`).

    Raises:
        ReportError: on a wrong suffix or a refused path.
    """
    return check_output(path, report_kind(path), ReportError, inputs)


def _atomic_write(path: Path, write: Callable, kind: OutputKind) -> Path:
    return write_atomically(path, write, ReportError, "the report", kind)


def write_html(report: Report, path: str | os.PathLike) -> Path:
    """Write the HTML report atomically."""
    data = render_html(report).encode("utf-8")
    return _atomic_write(Path(path), lambda handle: handle.write(data), HTML_KIND)


def _text_page(report: Report) -> Figure:
    figure = Figure(figsize=(8.27, 11.69), dpi=100)
    y = 0.95

    def line(text, size=9, weight="normal", color="#222222", indent=0.07, wrap=110):
        nonlocal y
        for chunk in textwrap.wrap(shown(text), wrap) or [""]:
            figure.text(indent, y, chunk, fontsize=size, weight=weight, color=color, va="top")
            y -= 0.0165 * size / 9
        return y

    line(report.title, 15, "bold")
    y -= 0.005
    line(f"Created {report.created} by siamese-gui {siamese_gui.__version__}", 8, color="#666666")
    y -= 0.01
    line(report.headline(), 10.5, "bold", "#1f4e79", wrap=95)
    for note in report.notes:
        line("Note: " + note, 9, color="#8a5a00")
    for heading, facts in (("Model", report.model_facts), ("Evaluation data", report.data_facts),
                           ("Threshold", report.threshold_facts)):
        y -= 0.012
        line(heading, 11.5, "bold")
        for key, value in facts:
            line(f"{key}: {value}", 8.5, indent=0.09, wrap=118)
    y -= 0.012
    line("Metrics at the threshold (95 % intervals)", 11.5, "bold")
    for name, value, meaning in report.metric_rows():
        line(f"{name}: {value}  ({meaning})", 8.5, indent=0.09, wrap=118)
    y -= 0.012
    line("Most-confused class pairs", 11.5, "bold")
    if not report.confused:
        line("No pair is judged wrong at this threshold.", 8.5, indent=0.09)
    for c in report.confused:
        line(f"{c.class_a} / {c.class_b}: {c.rate.hits} of {c.rate.total} wrong, {c.rate.describe(1)} ({c.kind})",
             8.5, indent=0.09)
    return figure


def _plots_page(report: Report) -> Figure:
    figure = Figure(figsize=(8.27, 11.69), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[1, 1.1])
    draw_histogram(top, report)
    draw_roc(bottom, report)
    bottom.set_box_aspect(1)
    return figure


def _gallery_page(report: Report) -> Figure:
    figure = Figure(figsize=(8.27, 11.69), dpi=100)
    figure.suptitle("Gallery of right and wrong pairs (random, seed 0)", fontsize=13, weight="bold", y=0.975)
    groups = [(t, [g for g in report.gallery if g.same == s and g.judged_same == j]) for t, s, j in _GROUPS]
    cols = max([len(m) for _, m in groups] + [1])
    grid = figure.add_gridspec(len(groups) * 2, cols, height_ratios=[0.12, 1] * len(groups),
                               left=0.03, right=0.97, top=0.94, bottom=0.02, hspace=0.9, wspace=0.15)
    for row, (title, members) in enumerate(groups):
        head = figure.add_subplot(grid[2 * row, :])
        head.axis("off")
        head.text(0, 0, title + ("" if members else ": none"), fontsize=10, weight="bold")
        for col, g in enumerate(members):
            ax = figure.add_subplot(grid[2 * row + 1, col])
            top = 255.0 if report.images.dtype == np.uint8 else 1.0
            first = np.asarray(report.images[g.index_a], np.float32) / top
            strip = np.hstack([first, np.ones((first.shape[0], 2, *first.shape[2:]), np.float32),
                               np.asarray(report.images[g.index_b], np.float32) / top])
            ax.imshow(np.clip(strip, 0, 1), cmap="gray", interpolation="nearest", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            color = RIGHT_COLOR if g.correct else WRONG_COLOR
            for spine in ax.spines.values():
                spine.set_color(color)
                spine.set_linewidth(2)
            ax.set_title(f"{shown(g.class_a)} / {shown(g.class_b)}\nd={g.distance:.3f}, {g.outcome}",
                         fontsize=6.5, color=color)
    return figure


def write_pdf(report: Report, path: str | os.PathLike) -> Path:
    """Write the report as a three-page PDF (summary, plots, gallery), atomically."""
    from matplotlib.backends.backend_pdf import PdfPages

    def write(handle) -> None:
        # Class names and file names are drawn as written, never parsed as mathtext.
        with matplotlib.rc_context(LITERAL_TEXT), PdfPages(
            handle, metadata={"Title": shown(report.title), "Creator": "siamese-gui"}
        ) as pdf:
            for page in (_text_page(report), _plots_page(report), _gallery_page(report)):
                pdf.savefig(page)

    return _atomic_write(Path(path), write, PDF_KIND)


def write_report(report: Report, path: str | os.PathLike) -> Path:
    """Write HTML or PDF, chosen by the file's suffix (.html, .htm or .pdf).

    Raises:
        ReportError: for another suffix, a missing folder or a failed write.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return write_html(report, path)
    if suffix == ".pdf":
        return write_pdf(report, path)
    raise ReportError(f"{path}: the report must end in .html or .pdf")
