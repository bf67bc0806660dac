"""Command-line reports: `verify` (a CSV of pairs), `report` (HTML/PDF), and `evaluate`
with two or more models side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from siamese_gui.core.errors import SiameseError
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden

EXIT_OK, EXIT_ERROR = 0, 1
SHOWN_ERRORS = 10


def add_commands(commands, add_data_args, default_model: str) -> None:
    """Add the `verify` and `report` sub-commands to `commands` (an argparse subparsers)."""
    verify = commands.add_parser(
        "verify", help="distance and verdict for every pair of images in a CSV file",
        description="Score each row of PAIRS.csv (two image paths per row, relative to the CSV's folder; "
        "header optional). Rows that cannot be scored get an error and the rest still run.",
    )
    verify.add_argument("pairs", metavar="PAIRS.csv")
    verify.add_argument("--out", required=True, metavar="RESULTS.csv",
                        help="where to write the results (the pairs plus distance, verdict, threshold, error)")
    verify.add_argument("--model", default=default_model, metavar="FILE")
    verify.add_argument("--threshold", type=float, help="threshold instead of the model's")
    verify.add_argument("--json", action="store_true", help="print a JSON summary")

    report = commands.add_parser(
        "report", help="write a self-contained HTML (or PDF) report about a model",
        description="Metrics with 95 % intervals, histograms, ROC, the most-confused classes and a gallery, "
        "on the standard test pairs (or --image-folder).",
    )
    report.add_argument("model", nargs="?", default=default_model, metavar="MODEL")
    report.add_argument("--out", required=True, metavar="REPORT.html|REPORT.pdf")
    add_data_args(report)
    report.add_argument("--threshold", type=float, help="threshold instead of the model's")
    report.add_argument("--json", action="store_true", help="print a JSON summary")


def _reporter(args, label: str, unit: str):
    from siamese_gui.cli.progress import ProgressReporter

    return ProgressReporter(label, unit, json_output=args.json)


def embedding_progress(embed, json_output: bool):
    """Wrap a model's `embed` so that each call shows its own progress bar."""
    from types import SimpleNamespace

    from siamese_gui.cli.progress import ProgressReporter
    from siamese_gui.core.model.embedding import embed_with_progress

    def embed_showing_progress(images, should_stop=None):
        progress = ProgressReporter("embedding", "images", json_output=json_output)
        try:
            return embed_with_progress(SimpleNamespace(embed=embed), images, progress, should_stop)
        finally:
            progress.close()

    return embed_showing_progress


def _load_handle(path):
    from siamese_gui.cli.common import _vet_model
    from siamese_gui.core.runtime.loading import load_model_handle

    _vet_model(path)
    handle = load_model_handle(path)
    for warning in handle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return handle


def _threshold(handle, value):
    """The model's threshold, or `value` set by hand."""
    from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin, check_threshold

    if value is None:
        return handle.threshold
    return Threshold(check_threshold(value, "--threshold"), ThresholdOrigin.USER, "--threshold on the command line")


def evaluation_set_for(args, handles):
    """The held-out images and pairs several models are measured on side by side.

    Fashion-MNIST's test split (or the bundled samples where it is not installed), or an
    image folder (by default the one the models record) less every image any of the
    models trained on or chose its threshold on; then the standard pairs.
    """
    from siamese_gui.cli.common import _load_source
    from siamese_gui.core.app.model_comparison import evaluation_set_from
    from siamese_gui.core.data.splits import held_out_images

    polarity = (handles[0].metadata.get("config") or {}).get("polarity", "auto") if handles else "auto"
    source = _load_source(args, polarity, handles)
    if source.fashion_mnist is not None:
        data = source.fashion_mnist.test
    else:
        data = source.test_dataset if source.test_dataset is not None else source.dataset
        for handle in handles:
            held = held_out_images(data, handle.metadata.get("split"))
            if held.overlap:
                print(f"warning: {held.overlap} images of {data.source} were used to train {handle.name} "
                      "or choose its threshold; they are left out", file=sys.stderr)
            elif not held.known and source.kind.name == "IMAGE_FOLDER" and not args.json:
                print(f"note: {handle.name} does not record which files it trained on; if this folder "
                      "holds its training images, these figures are optimistic", file=sys.stderr)
            data = held.data
        if len(data) == 0:
            raise SiameseError(f"{data.source}: every image was used in training; nothing is left to score")
    if source.kind.name == "SAMPLES" and not args.json:
        print("note: Fashion-MNIST is not installed; evaluating on the bundled samples "
              "(install dataset-fashion-mnist or pass --data for the standard 20,000 pairs)", file=sys.stderr)
    return evaluation_set_from(data)


def cmd_verify(args) -> int:
    from siamese_gui.core.app.verify import (
        check_results_target,
        read_pairs_csv,
        summarize,
        verify_pairs,
        write_results_csv,
    )

    inputs = (args.pairs, args.model)
    out = check_results_target(Path(args.out), inputs)
    rows = read_pairs_csv(args.pairs)
    handle = _load_handle(args.model)
    threshold = _threshold(handle, args.threshold)
    progress = _reporter(args, "verifying", "images")
    with native_stderr_hidden():
        results = verify_pairs(handle, rows, threshold.value, progress=progress)
    progress.close()
    write_results_csv(results, out, inputs)
    summary = summarize(results)
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps({
            "pairs_file": str(args.pairs), "out": str(out), "model": str(args.model),
            "threshold": threshold.value, "threshold_origin": threshold.as_dict(),
            "pairs": summary.pairs, "scored": summary.scored, "same": summary.same,
            "different": summary.different, "errors": summary.errors,
            "failed_rows": [{"line": r.line, "error": r.error} for r in failed[:100]],
        }, indent=2))
    else:
        for r in failed[:SHOWN_ERRORS]:
            located = r.error.startswith(Path(args.pairs).name)  # row-shape errors name the line already
            print(r.error if located else f"line {r.line}: {r.error}", file=sys.stderr)
        if len(failed) > SHOWN_ERRORS:
            print(f"… and {len(failed) - SHOWN_ERRORS} more rows with errors", file=sys.stderr)
        print(f"{summary.scored} of {summary.pairs} pairs scored: {summary.same} same, "
              f"{summary.different} different, {summary.errors} with errors")
        print(f"threshold {threshold.describe()}")
        print(f"wrote {out}")
    if summary.scored == 0:
        raise SiameseError(f"{args.pairs}: no pair could be scored (see the error column in {out})")
    return EXIT_OK


def cmd_report(args) -> int:
    from siamese_gui.cli.common import _load_source, data_notes, note_left_out
    from siamese_gui.core.app.report import check_report_target, report_from_figures, write_report
    from siamese_gui.core.app.scoring import score_images
    from siamese_gui.core.app.session import images_to_score, own_splits

    out = check_report_target(Path(args.out), (args.model,))
    handle = _load_handle(args.model)
    polarity = (handle.metadata.get("config") or {}).get("polarity", "auto")
    source = _load_source(args, polarity, [handle])
    notes = data_notes(args, source)
    images = images_to_score(source, handle)
    if own_splits(source, handle) is None:
        note_left_out(images, source, notes)
    threshold = _threshold(handle, args.threshold)
    embed = handle.embed
    handle.embed = embedding_progress(embed, args.json)
    try:
        figures = score_images(handle.embed, images, threshold)
    finally:
        handle.embed = embed
    report = report_from_figures(handle, figures, notes)
    write_report(report, out)
    acc = report.at_threshold.accuracy_rate
    main = figures.main.evaluation
    if args.json:
        print(json.dumps({
            "report": str(out), "model": str(args.model), "evaluation": main.description,
            "classes": figures.main.classes, "pairs": len(main.pairs),
            "threshold": report.threshold, "threshold_origin": threshold.as_dict(),
            "accuracy": acc.value, "accuracy_ci95": None if acc.value is None else [acc.low, acc.high],
            "auc": report.evaluation.auc, "auc_ci95": report.auc_interval, "eer": report.evaluation.eer,
            "figures": {key: {"classes": part.classes, "pairs": len(part.evaluation.pairs),
                              "accuracy": part.evaluation.at(threshold.value).accuracy}
                        for key, part in zip(figures.keys(), figures.parts)},
            "notes": list(notes),
        }, indent=2))
    else:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"evaluated on {main.description}")
        print(report.headline())
        if len(figures.parts) > 1:
            print(figures.headline())
        print(f"wrote {out}")
    return EXIT_OK


def cmd_evaluate_models(args) -> int:
    """`evaluate A.keras B.keras ...`: every model on the same pairs, side by side."""
    from siamese_gui.core.app.model_comparison import compare_models, comparison_table, format_table

    if args.threshold is not None:
        raise SiameseError("--threshold applies to one model; with several, each is measured at its own threshold")
    handles = [_load_handle(path) for path in args.model]
    evaluation = evaluation_set_for(args, handles)
    progress = _reporter(args, "embedding", "images")
    comparison = compare_models(handles, evaluation, progress=progress)
    progress.close()
    if args.json:
        result = comparison.as_dict()
        for entry, path in zip(result["models"], args.model):
            entry["path"] = str(path)
        print(json.dumps(result, indent=2))
    else:
        print(comparison.evaluation)
        print(format_table(comparison_table(comparison)))
        print("accuracy at each model's own threshold; FAR at the threshold where each model's FRR "
              f"is {100 * comparison.frr_target:g} %")
    return EXIT_OK


COMMANDS = {"verify": cmd_verify, "report": cmd_report}
