"""The `siamese-gui` command: the desktop app, or `train`, `evaluate`, `compare`, `index`,
`search`, `verify`, `report` and `export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import siamese_gui
from siamese_gui.cli import desktop as cli_desktop
from siamese_gui.cli import reports as cli_reports
from siamese_gui.cli.common import (
    _dumps,
    _load_source,
    _say,
    _vet_model,
    _warn,
    data_notes,
    note_left_out,
    warn_skipped,
)
from siamese_gui.cli.search import add_search_commands, cmd_index, cmd_search
from siamese_gui.core.errors import ConfigError, SiameseError, printable
from siamese_gui.core.io.native import library_warnings_hidden
from siamese_gui.core.io.untrusted import SanitisedStream
from siamese_gui.core.runtime.memory import cap_malloc_arenas
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden, start_tensorflow
from siamese_gui.gui import THEME_HELP, THEMES

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are JSON when `--json` was given."""

    argv: list[str] | None = None  # what `main` parses; None means sys.argv[1:]

    def error(self, message):
        argv = sys.argv[1:] if _Parser.argv is None else _Parser.argv
        if "--json" in argv:
            print(json.dumps({"error": message, "kind": "usage"}), file=sys.stderr)
            sys.exit(EXIT_USAGE)
        # One line, like every other error (argparse would print the usage too).
        print(f"{self.prog}: error: {printable(message)} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _threshold(text: str) -> float:
    """Parse `--threshold`: a finite number from 0 to `THRESHOLD_MAX`."""
    from siamese_gui.core.evaluation.metrics import validate_threshold

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return validate_threshold(value, "--threshold")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _threshold_help() -> str:
    from siamese_gui.core.evaluation.metrics import THRESHOLD_MAX

    return f"threshold instead of the model's: 0 to {THRESHOLD_MAX:,g}"


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--data", metavar="PATH", help="folder with the Fashion-MNIST .gz files")
    group.add_argument(
        "--image-folder", metavar="DIR", help="folder of class sub-folders of images (your own data)"
    )
    parser.add_argument(
        "--download", action="store_true",
        help="download Fashion-MNIST into the Keras cache if no installed copy is found",
    )
    parser.add_argument(
        "--classes", metavar="A,B,...", type=_name_list,
        help="use only these classes (names or indices, comma-separated)",
    )
    parser.add_argument(
        "--per-class", metavar="N", type=_bounded_int(2, 10**7),
        help="use at most N images of each class (a seeded sample)",
    )


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return names


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {printable(text)[:40]!r}") from None
        if not low <= value <= high:
            shown = text if len(text) <= 40 else text[:20] + "…"
            raise argparse.ArgumentTypeError(
                f"must be between {_number(low)} and {_number(high)}, got {printable(shown)}")
        return value

    return parse


def _number(value) -> str:
    """A bound as people write it: 10,000 or 0.001."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _bounded_float(low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(
                f"must be between {_number(low)} and {_number(high)}, got {printable(text)[:40]}")
        return value

    return parse


def _add_setting_args(parser: argparse.ArgumentParser) -> None:
    """One option per declared training setting (see `core.config.setting`)."""
    from siamese_gui.core.model.config import TrainingConfig, setting_help, settings

    defaults = TrainingConfig()
    for spec in settings():
        meta = spec.metadata
        # argparse formats help with %: a share's "%" must reach it doubled.
        text = setting_help(spec).replace("%", "%%")
        option = "--" + spec.name.replace("_", "-")
        default = getattr(defaults, spec.name)
        if meta["widget"] == "check":
            parser.add_argument(
                option, action=argparse.BooleanOptionalAction, default=default,
                help=f"{text} (default: {'on' if default else 'off'})",
            )
        elif meta["choices"]:
            parser.add_argument(option, choices=meta["choices"], default=default,
                                help=f"{text} (default: {default})")
        else:
            kind = _bounded_int if meta["widget"] == "spin" else _bounded_float
            parser.add_argument(
                option, type=kind(meta["low"], meta["high"]), default=default, metavar="N",
                help=f"{text}; {_number(meta['low'])} to {_number(meta['high'])} "
                f"(default: {_number(default)})",
            )


def build_parser() -> argparse.ArgumentParser:
    from siamese_gui.core.io.locations import default_model_path

    parser = _Parser(
        prog="siamese-gui",
        description="Train Siamese networks, compare images and tune the same/different threshold. "
        "With no command, the desktop app starts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {siamese_gui.__version__}")
    parser.add_argument("--theme", choices=THEMES, help="with no command: " + THEME_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gui = commands.add_parser("gui", help="start the desktop app (the default)")
    gui.add_argument("--model", metavar="FILE", help="model to open instead of the shipped one")
    # SUPPRESS: absent here, the option given before the command stands.
    gui.add_argument("--theme", choices=THEMES, default=argparse.SUPPRESS, help=THEME_HELP)

    train = commands.add_parser("train", help="train a model and save it")
    _add_data_args(train)
    _add_setting_args(train)
    train.add_argument("--lr", dest="learning_rate", type=_bounded_float(1e-5, 10.0),
                       default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    train.add_argument(
        "--test-folder", metavar="DIR",
        help="with --image-folder: a separate folder of test images (the image folder then "
        "splits into train and validation only)",
    )
    train.add_argument(
        "--split", choices=("images", "classes"), default="images",
        help="'images' (default): every class in train/validation/test; 'classes': hold out "
        "whole classes as the test set (open set)",
    )
    train.add_argument("--held-out", metavar="A,B,...", type=_name_list,
                       help="with --split classes: the classes to hold out (names or indices)")
    train.add_argument("--held-out-fraction", metavar="F", type=_bounded_float(0.01, 0.99),
                       default=0.5, help="with --split classes: share of classes held out at "
                       "random (seeded; default 0.5)")
    train.add_argument("--out", required=True, metavar="FILE.keras", help="where to save the model")
    train.add_argument("--json", action="store_true", help="print one JSON object at the end")

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy (with 95%% intervals), AUC, EER and a per-class breakdown on held-out pairs",
    )
    evaluate.add_argument("model", nargs="*", metavar="MODEL",
                          help="one or more model files (default: the shipped model); with two or "
                          "more, they are compared side by side on the same pairs")
    _add_data_args(evaluate)
    evaluate.add_argument("--threshold", type=_threshold, help=_threshold_help())
    evaluate.add_argument("--pairs", type=_bounded_int(2, 10**7), metavar="N",
                          help="score N random balanced pairs (default: the standard protocol, "
                          "one same- and one different-class partner per image)")
    evaluate.add_argument("--seed", type=_bounded_int(0, 2**31 - 1), default=0,
                          help="seeds the pairs (default 0)")
    evaluate.add_argument("--baselines", action="store_true",
                          help="also score training-free baselines (raw pixels, PCA, HOG) on the same "
                          "pairs, each with its threshold chosen on the same validation pairs")
    evaluate.add_argument("--polarity", choices=("auto", "on", "off"),
                          help="how to read --image-folder files (default: as the model was trained)")
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    compare = commands.add_parser("compare", help="distance and verdict for two image files")
    compare.add_argument("image_a", metavar="IMAGE_A")
    compare.add_argument("image_b", metavar="IMAGE_B")
    compare.add_argument("--model", default=str(default_model_path()), metavar="FILE")
    compare.add_argument("--threshold", type=_threshold, help=_threshold_help())
    compare.add_argument("--polarity", choices=("auto", "on", "off"),
                         help="invert the images to light-on-dark: auto, on or off (default: as "
                         "the model was trained)")
    polarity = compare.add_mutually_exclusive_group()
    polarity.add_argument("--invert", dest="polarity", action="store_const", const="on",
                          help="same as --polarity on")
    polarity.add_argument("--no-invert", dest="polarity", action="store_const", const="off",
                          help="same as --polarity off")
    compare.add_argument("--json", action="store_true", help="print JSON")
    cli_reports.add_commands(commands, _add_data_args, str(default_model_path()))

    export = commands.add_parser(
        "export", help="export the embedding network to LiteRT (.tflite) or ONNX, with a JSON card"
    )
    export.add_argument("model", metavar="MODEL", help="the .keras model")
    export.add_argument("--format", required=True, choices=("tflite", "onnx"), dest="export_format",
                        help="tflite runs in LiteRT; onnx needs pip install 'siamese-gui[onnx]'")
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write (.tflite or .onnx)")
    export.add_argument("--json", action="store_true", help="print JSON")
    add_search_commands(commands, str(default_model_path()))
    cli_desktop.add_desktop_command(commands)
    return parser


def _record_run(run, out: Path) -> None:
    """Add the run to the history the app lists (a failure to is a warning, not an error)."""
    from siamese_gui.core.app.run_history import RunHistory, record_from_run

    try:
        for notice in RunHistory().add(record_from_run(run, out.resolve(), origin="cli")):
            _warn(notice)
    except SiameseError as exc:
        _warn(f"the run was not added to the history: {exc}")


def cmd_train(args) -> int:
    from siamese_gui.core.app.training_run import prepare_training, run_lead, run_training, training_source
    from siamese_gui.core.data.sampling import TrainingSample
    from siamese_gui.core.data.splits import Role, choose_held_out_classes
    from siamese_gui.core.model.config import TrainingConfig, describe_settings, settings

    config = TrainingConfig(**{spec.name: getattr(args, spec.name) for spec in settings()})
    from siamese_gui.core.runtime.archive import check_model_target

    # A name too long, a missing or read-only folder, a symlink or device there: refused
    # now, not after the training.
    out = check_model_target(Path(args.out))
    if args.test_folder and not args.image_folder:
        raise SiameseError("--test-folder needs --image-folder")
    # Narrowed by the run (as in the app), not when loading: the same sample either way.
    source = _load_source(args, config.polarity, narrow=False)
    for data in (source.dataset, source.test_dataset):
        warn_skipped(data.skipped if data is not None else ())
    sample = TrainingSample(classes=tuple(args.classes) if args.classes else None, per_class=args.per_class)
    unseen = ()
    if args.split == "classes":
        names = training_source(source, sample, config.seed).training_pool.class_names
        unseen = choose_held_out_classes(
            names, args.held_out, None if args.held_out else args.held_out_fraction, config.seed
        )
    prepared = prepare_training(source, config, sample, unseen)
    splits = prepared.splits
    _say(args, f"training on {splits.describe(Role.TRAIN)}")
    _say(args, f"validation: {splits.describe(Role.VALIDATION)}")
    _say(args, f"test: {splits.describe(Role.TEST)}")
    if unseen:
        _say(args, f"held-out classes (never trained on): {', '.join(unseen)}")

    start_tensorflow()
    from siamese_gui.cli.progress import ProgressReporter
    from siamese_gui.core.runtime.store import save_model
    from siamese_gui.core.text import format_duration

    progress = ProgressReporter("training", "steps", json_output=args.json)

    def on_batch(p):
        progress.note = "" if p.by_steps else f"epoch {p.epoch + 1}/{p.epochs}"
        progress(p.done, p.steps)

    def on_epoch(p):
        val = "" if p.val_loss is None else f"  val_loss {p.val_loss:.4f}"
        progress.clear()
        _say(args, f"{p.position()}  loss {p.loss:.4f}{val}  {format_duration(p.elapsed_s)}")

    run = run_training(config, prepared, on_batch=on_batch, on_epoch=on_epoch)
    progress.close()
    result = run.result
    if run.handle is None:
        raise SiameseError(f"{result.message}; nothing was saved")
    metadata = run.metadata
    summary = {"model": str(out), "status": result.status, "lead": run_lead(run), "message": result.message,
               "seconds": round(result.seconds, 1), "schedule": result.schedule,
               "steps_done": result.steps_done, "trained": result.trained,
               "goal": result.goal, "histograms": result.histograms, "share_choice": result.share_choice,
               "threshold": result.threshold,
               "threshold_origin": metadata["threshold_origin"],
               "threshold_detail": metadata["threshold_detail"],
               "validation": result.validation.as_dict()}
    summary.update(run.figures.as_dict())  # the test figures, as `evaluate` gives them
    summary["baseline"] = run.baseline.as_dict() if run.baseline is not None else None
    save_model(result.model, out, metadata)
    _record_run(run, out)
    if args.json:
        print(_dumps(summary))
        return EXIT_OK
    print(run_lead(run))
    print(result.summary())
    v = result.validation
    if v.defined:
        print(f"validation AUC {v.auc:.4f}, EER {v.eer:.4f}; "
              f"threshold {result.threshold:.4f} ({metadata['threshold_detail']})")
    print(f"schedule: {result.schedule}")
    print(f"settings: {describe_settings(config.as_dict())}")
    if result.histograms:
        print(f"embedding: {result.histograms}")
    for key in run.figures.keys():
        _print_evaluation(summary[key], key.replace("_", " "))
    if run.baseline is not None:
        print(run.baseline.text())
    print(f"saved {printable(str(out))}")
    return EXIT_OK


def _evaluation_summary(evaluation, threshold: float) -> dict:
    """The numbers of one evaluation at `threshold` (`core.app.scoring.evaluation_summary`)."""
    from siamese_gui.core.app.scoring import evaluation_summary

    return evaluation_summary(evaluation, threshold)


def _print_evaluation(summary: dict, title: str) -> None:
    from siamese_gui.core.evaluation.metrics import wilson_rate

    print(f"{title}: {summary['pairs']:,} pairs ({summary['same_pairs']:,} same, "
          f"{summary['different_pairs']:,} different) from {summary['data']}")
    accuracy = wilson_rate(summary["true_accepts"] + summary["true_rejects"], summary["pairs"])
    far = wilson_rate(summary["false_accepts"], summary["different_pairs"])
    frr = wilson_rate(summary["false_rejects"], summary["same_pairs"])
    print(f"  accuracy {accuracy.describe(2)} at threshold {summary['threshold']:.4f}")
    print(f"  FAR {far.describe(2)}; FRR {frr.describe(2)}  (95 % intervals)")
    if summary["auc"] is None:
        print("  ROC AUC and EER: undefined (the pairs hold only one kind)")
    else:
        print(f"  ROC AUC {summary['auc']:.4f}; EER {100 * summary['eer']:.2f} % "
              f"at {summary['eer_threshold']:.4f}")
    r = summary["retrieval"]
    if r["queries"]:
        shown = {k: "n/a" if v is None else f"{v:.4f}" for k, v in r.items() if k != "queries"}
        print(f"  retrieval, each of the {r['queries']:,} images with another of its class against the "
              f"rest: precision@1 {shown['precision_at_1']}, R-precision {shown['r_precision']}, "
              f"MAP@R {shown['map_at_r']}")
    else:
        print("  retrieval: not measured (no class has two images to find each other)")
    breakdown = summary["breakdown"]
    rows = [(name, rate) for name, rate in breakdown["frr_per_class"].items()]
    if rows:
        print("  FRR per class: " + "; ".join(
            f"{name} {_short_rate(rate)}" for name, rate in rows))
    if breakdown["most_confused"]:
        print("  most confused: " + "; ".join(
            f"{row['a']} / {row['b']} {row['false_accepts']} of {row['pairs']}"
            for row in breakdown["most_confused"]))


def _short_rate(rate: dict) -> str:
    if rate["value"] is None:
        return f"n/a ({rate['total']} pairs)"
    return f"{100 * rate['value']:.1f} %"


def cmd_evaluate(args) -> int:
    from siamese_gui.core.io.locations import default_model_path

    if len(args.model) > 1:
        return cli_reports.cmd_evaluate_models(args)
    args.model = args.model[0] if args.model else str(default_model_path())
    from siamese_gui.core.app.scoring import compare_with_baseline, score_images
    from siamese_gui.core.app.session import Session, images_to_score, own_splits
    from siamese_gui.core.data.splits import Role
    from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin
    from siamese_gui.core.runtime.loading import load_model_handle

    _vet_model(args.model)
    handle = load_model_handle(args.model)
    for warning in handle.warnings:
        _warn(warning)
    handle.embed = cli_reports.embedding_progress(handle.embed, args.json)
    polarity = args.polarity or (handle.metadata.get("config") or {}).get("polarity", "auto")
    source = _load_source(args, polarity, [handle])
    notes = data_notes(args, source)
    threshold = handle.threshold if args.threshold is None else Threshold(
        args.threshold, ThresholdOrigin.USER, "--threshold")
    images = images_to_score(source, handle)
    own = own_splits(source, handle)
    if own is not None:
        notes.append(f"{own.train.root} is the folder this model trained on: the {images.left_out:,} "
                     "images its record puts in training or validation are left out, the other "
                     f"{sum(len(d) for _, d in images.parts()):,} are scored")
    else:
        note_left_out(images, source, notes)
    figures = score_images(handle.embed, images, threshold, args.pairs, args.seed)
    main = figures.main.evaluation
    baseline = compare_with_baseline(figures)
    summary = {"model": str(args.model), "threshold": threshold.as_dict(), "notes": notes,
               **figures.as_dict(), "baseline": baseline.as_dict() if baseline is not None else None}
    if args.baselines:
        splits = own if own is not None else None
        if source.fashion_mnist is not None:
            session = Session()
            try:
                session.set_model(handle)
                session.set_data(source)
                splits = session.splits
            finally:
                session.close()
        if splits is not None and len(splits.validation):
            from siamese_gui.core.evaluation.protocol import evaluate

            validation = evaluate(handle.embed, splits.validation, splits.describe(Role.VALIDATION),
                                  seed=args.seed)
            summary["baselines"] = _baseline_summary(splits, validation, main)
        else:
            summary["baselines"] = _ranked_baselines_summary(main)
            what = args.image_folder or main.data.source
            notes.append(f"baselines: AUC and EER only. {what} is not the folder the model trained on, "
                         "so it holds none of its validation images to choose their thresholds on, "
                         "and no training images to fit PCA on")
    if args.json:
        print(_dumps(summary))
        return EXIT_OK
    for note in notes:
        print(f"note: {printable(note)}", file=sys.stderr)
    print(f"model {args.model}; threshold {threshold.describe()}")
    for key in figures.keys():
        _print_evaluation(summary[key], key.replace("_", " "))
    if baseline is not None:
        print(baseline.text())
    if "baselines" in summary:
        which = "unseen classes' " if figures.main.classes == "unseen" else ""
        how = ("threshold from the same validation pairs" if "threshold" in next(iter(summary["baselines"].values()))
               else "AUC and EER only, see the note")
        print(f"training-free baselines on the same {which}test pairs ({how}):")
        for name, row in summary["baselines"].items():
            if row["auc"] is None:
                print(f"  {name:7s} AUC and EER undefined (the pairs hold only one kind)")
            elif "threshold" in row:
                print(f"  {name:7s} AUC {row['auc']:.4f}  accuracy {100 * row['accuracy']:.2f} % at "
                      f"{row['threshold']:.4f}")
            else:
                print(f"  {name:7s} AUC {row['auc']:.4f}  EER {100 * row['eer']:.2f} %")
    return EXIT_OK


def _ranked_baselines_summary(test) -> dict:
    """AUC and EER of the baselines that need no fitting, on an evaluation's own pairs."""
    from siamese_gui.core.evaluation.baselines import rank_baselines

    return {
        name: {"auc": report.auc, "eer": report.eer}  # None where the pairs hold one kind only
        for name, report in rank_baselines(test.data.images, test.pairs).items()
    }


def _baseline_summary(splits, validation, test) -> dict:
    """Raw pixels, PCA (fitted on the training images) and HOG on the model's own pairs."""
    import numpy as np

    from siamese_gui.core.data.pairs import threshold_pairs
    from siamese_gui.core.evaluation.baselines import score_baselines

    pairs, partners = threshold_pairs(validation.data.labels, splits.train.labels, seed=1)
    if not len(partners):  # the validation images pair among themselves: the model's own pairs
        pairs = validation.pairs
    images = np.concatenate([validation.data.images, splits.train.images[partners]])
    scores = score_baselines(splits.train.images, images, pairs, test.data.images, test.pairs)
    return {
        name: {"auc": score.test.auc, "eer": score.test.eer, "threshold": score.threshold,
               "accuracy": score.at_threshold.accuracy}
        for name, score in scores.items()
    }


def cmd_compare(args) -> int:
    from siamese_gui.core.errors import ImageError
    from siamese_gui.core.evaluation.threshold import Threshold, ThresholdOrigin
    from siamese_gui.core.io.image_format import GREY_28
    from siamese_gui.core.io.images import is_blank, load_image
    from siamese_gui.core.runtime.loading import load_model_handle

    def read(polarity, image_format=GREY_28):
        invert = {"auto": None, "on": True, "off": False}.get(polarity)
        images = []
        for name in (args.image_a, args.image_b):
            with native_stderr_hidden():
                images.append(load_image(name, invert=invert, image_format=image_format))
        return images

    def check_blank(images):
        # As the model sees them: one flat colour is blank in grey, not in colour.
        for name, image in zip((args.image_a, args.image_b), images):
            if is_blank(image):
                raise ImageError(
                    f"{name}: no object found (the image is blank or one flat colour after preprocessing)"
                )

    # The images first: a bad image file is reported without waiting for the model.
    image_a, image_b = read(args.polarity)
    _vet_model(args.model)
    # Runs in LiteRT when the model has a runtime copy; TensorFlow starts only otherwise.
    handle = load_model_handle(args.model)
    for warning in handle.warnings:
        _warn(warning)
    trained_polarity = (handle.metadata.get("config") or {}).get("polarity", "auto")
    polarity = trained_polarity if args.polarity is None else args.polarity
    if polarity != args.polarity or handle.image_format != GREY_28:
        # As the model sees images: its polarity, size and colour.
        image_a, image_b = read(polarity, handle.image_format)
    check_blank((image_a, image_b))
    distance = handle.distance(image_a, image_b)
    threshold = handle.threshold if args.threshold is None else Threshold(
        args.threshold, ThresholdOrigin.USER, "--threshold")
    verdict = handle.verdict(distance, threshold.value)
    if args.json:
        print(_dumps({
            "image_a": args.image_a, "image_b": args.image_b, "model": args.model,
            "distance": distance, "threshold": threshold.value,
            "threshold_origin": threshold.as_dict(), "verdict": verdict.value,
            "same": verdict.value == "same", "engine": handle.engine,
        }))
    else:
        origin = threshold.describe().partition(" ")[2]
        print(f"distance {distance:.4f}  threshold {threshold.value:.4f}  {verdict.value}  {origin}")
    return EXIT_OK


def cmd_export(args) -> int:
    from siamese_gui.core.runtime.copies import card_path
    from siamese_gui.core.runtime.loading import export_model

    out = export_model(args.model, args.out, args.export_format)
    card = card_path(out)
    if args.json:
        print(json.dumps({"model": args.model, "format": args.export_format, "out": str(out),
                          "card": str(card)}, indent=2))
    else:
        print(f"wrote {out} and {card.name}")
    return EXIT_OK


def cmd_gui(args) -> int:
    from siamese_gui.gui.app import run

    return run(model_path=getattr(args, "model", None), theme_name=getattr(args, "theme", None))


COMMANDS = {
    "train": cmd_train, "evaluate": cmd_evaluate, "compare": cmd_compare, "export": cmd_export,
    "index": cmd_index, "search": cmd_search, "gui": cmd_gui, **cli_reports.COMMANDS,
    **cli_desktop.COMMANDS,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    cap_malloc_arenas()  # before any TensorFlow thread allocates
    _Parser.argv = sys.argv[1:] if argv is None else list(argv)
    args = argparse.Namespace(json="--json" in _Parser.argv)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SanitisedStream(sys.stdout), SanitisedStream(sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "json"):
            args.json = False
        with library_warnings_hidden():
            return COMMANDS[args.command or "gui"](args)
    except SiameseError as exc:
        _report(args, str(exc), type(exc).__name__)
    except FileNotFoundError as exc:
        _report(args, f"{exc.filename}: file not found", "FileNotFoundError")
    except KeyboardInterrupt:
        _report(args, "interrupted", "KeyboardInterrupt")
    except MemoryError:
        _report(args, "out of memory", "MemoryError")
    except RecursionError:
        _report(args, "internal error: input nested too deeply", "RecursionError")
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _report(args, f"internal error: {type(exc).__name__}: {text}"[:1000], "InternalError")
    finally:
        sys.stdout, sys.stderr = streams
    return EXIT_ERROR


def _report(args, message: str, kind: str) -> None:
    """Print one error line; every non-printable character in it escaped."""
    if args.json:
        print(json.dumps({"error": message, "kind": kind}), file=sys.stderr)
    else:
        print(f"siamese-gui: error: {printable(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
