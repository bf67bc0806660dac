"""The `siamese-gui` command: the desktop app, or `train`, `evaluate`, `compare`, `index`, `search`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import siamese_gui
from siamese_gui.cli_search import add_search_commands, cmd_index, cmd_search
from siamese_gui.core.errors import SiameseError
from siamese_gui.core.runtime import native_stderr_hidden, start_tensorflow

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are JSON when `--json` was given."""

    argv: list[str] | None = None  # what `main` parses; None means sys.argv[1:]

    def error(self, message):
        argv = sys.argv[1:] if _Parser.argv is None else _Parser.argv
        if "--json" in argv:
            print(json.dumps({"error": message, "kind": "usage"}), file=sys.stderr)
            sys.exit(EXIT_USAGE)
        super().error(message)


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


def build_parser() -> argparse.ArgumentParser:
    from siamese_gui.core.config import PRESETS, TrainingConfig
    from siamese_gui.core.locations import default_model_path

    parser = _Parser(
        prog="siamese-gui",
        description="Train Siamese networks, compare images and tune the same/different threshold. "
        "With no command, the desktop app starts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {siamese_gui.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gui = commands.add_parser("gui", help="start the desktop app (the default)")
    gui.add_argument("--model", metavar="FILE", help="model to open instead of the shipped one")

    defaults = TrainingConfig()
    train = commands.add_parser("train", help="train a model and save it")
    _add_data_args(train)
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--lr", type=float, default=defaults.learning_rate, help="learning rate")
    train.add_argument("--margin", type=float, default=defaults.margin)
    train.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
    train.add_argument("--preset", choices=PRESETS, default=defaults.preset)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction)
    train.add_argument("--no-augment", action="store_true", help="do not mirror training images")
    train.add_argument("--out", required=True, metavar="FILE.keras", help="where to save the model")
    train.add_argument("--json", action="store_true", help="print one JSON object at the end")

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, AUC and EER on the standard test pairs"
    )
    evaluate.add_argument("model", nargs="?", default=str(default_model_path()), metavar="MODEL")
    _add_data_args(evaluate)
    evaluate.add_argument("--threshold", type=float, help="threshold instead of the model's")
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    compare = commands.add_parser("compare", help="distance and verdict for two image files")
    compare.add_argument("image_a", metavar="IMAGE_A")
    compare.add_argument("image_b", metavar="IMAGE_B")
    compare.add_argument("--model", default=str(default_model_path()), metavar="FILE")
    compare.add_argument("--threshold", type=float, help="threshold instead of the model's")
    polarity = compare.add_mutually_exclusive_group()
    polarity.add_argument("--invert", dest="invert", action="store_true", default=None,
                          help="always invert the images (dark objects on light)")
    polarity.add_argument("--no-invert", dest="invert", action="store_false",
                          help="never invert (light objects on dark, like Fashion-MNIST)")
    compare.add_argument("--json", action="store_true", help="print JSON")
    add_search_commands(commands, str(default_model_path()))
    return parser


def _load_training_data(args):
    from siamese_gui.core import datasets

    if args.image_folder:
        with native_stderr_hidden():
            data = datasets.load_image_folder(args.image_folder)
        return data, None
    splits = datasets.load_fashion_mnist(args.data, download=args.download)
    return splits.train, splits.test


def _load_eval_data(args):
    from siamese_gui.core import datasets

    if args.image_folder:
        with native_stderr_hidden():
            return datasets.load_image_folder(args.image_folder)
    if args.download:
        return datasets.load_fashion_mnist(args.data, download=True).test
    test = datasets.load_default_data(args.data).test
    if not test.source.startswith("Fashion-MNIST"):
        print(
            "note: Fashion-MNIST is not installed; evaluating on the bundled samples "
            "(install dataset-fashion-mnist or pass --data for the standard 20,000 pairs)",
            file=sys.stderr,
        )
    return test


def _say(args, text: str) -> None:
    if not args.json:
        print(text, flush=True)


def cmd_train(args) -> int:
    from siamese_gui.core.config import TrainingConfig

    start_tensorflow()
    from siamese_gui.core.store import result_metadata, save_model
    from siamese_gui.core.training import train

    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        margin=args.margin,
        embedding_dim=args.embedding_dim,
        preset=args.preset,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        augment=not args.no_augment,
    )
    out = Path(args.out)
    if out.suffix != ".keras":
        raise SiameseError(f"{out}: the output file must end in .keras")
    if not out.parent.resolve().is_dir():
        raise SiameseError(f"{out.parent}: folder does not exist")
    data, test = _load_training_data(args)
    for path, reason in data.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    _say(args, f"training on {data.source}: {len(data)} images, {len(data.class_names)} classes")

    def on_epoch(p):
        val = "" if p.val_loss is None else f"  val_loss {p.val_loss:.4f}"
        _say(args, f"epoch {p.epoch + 1}/{p.epochs}  loss {p.loss:.4f}{val}  {p.elapsed_s:.0f}s")

    result = train(config, data, on_epoch=on_epoch)
    if not result.usable:
        raise SiameseError(f"{result.message}; nothing was saved")
    metadata = result_metadata(result, data.class_names)
    summary = {
        "model": str(out),
        "status": result.status,
        "seconds": round(result.seconds, 1),
        "threshold": result.threshold,
        "validation": result.validation.as_dict(),
    }
    if test is not None:
        from siamese_gui.core.evaluation import metrics_at
        from siamese_gui.core.training import embed

        report, distances, pairs = _evaluate(lambda images: embed(result.embedding, images), test)
        at = metrics_at(distances, pairs.same, result.threshold)
        test_metrics = {"accuracy": at.accuracy, **report.as_dict()}
        metadata["metrics"]["test"] = test_metrics
        summary["test"] = test_metrics
    save_model(result.model, out, metadata)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        v = result.validation
        print(
            f"{result.status} in {result.seconds:.0f}s; validation: accuracy {v.best_accuracy:.4f} "
            f"at threshold {result.threshold:.4f}, AUC {v.auc:.4f}, EER {v.eer:.4f}"
        )
        if "test" in summary:
            t = summary["test"]
            print(f"test pairs: accuracy {t['accuracy']:.4f}, AUC {t['auc']:.4f}, EER {t['eer']:.4f}")
        print(f"saved {out} and {out.with_suffix('.json').name}")
    return EXIT_OK


def _evaluate(embed_images, data):
    """Distances and summary on the standard pairs of `data` (seed 0, two per image)."""
    from siamese_gui.core.evaluation import evaluate_distances, pair_distances
    from siamese_gui.core.pairs import standard_pairs

    pairs = standard_pairs(data.labels)
    distances = pair_distances(embed_images(data.images), pairs)
    return evaluate_distances(distances, pairs.same), distances, pairs


def cmd_evaluate(args) -> int:
    from siamese_gui.core.evaluation import metrics_at

    start_tensorflow()
    from siamese_gui.core.inference import load_model_handle

    handle = load_model_handle(args.model)
    for warning in handle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    data = _load_eval_data(args)
    embeddings = handle.embed(data.images)
    report, distances, pairs = _evaluate(lambda _images: embeddings, data)
    threshold = handle.threshold.value if args.threshold is None else args.threshold
    at = metrics_at(distances, pairs.same, threshold)
    summary = {
        "model": str(args.model),
        "data": data.source,
        "pairs": len(pairs),
        "threshold": threshold,
        "accuracy": at.accuracy,
        "far": at.far,
        "frr": at.frr,
        "auc": report.auc,
        "eer": report.eer,
        "eer_threshold": report.eer_threshold,
        "best_threshold": report.best_threshold,
        "best_accuracy": report.best_accuracy,
    }
    summary["retrieval"] = _retrieval_block(embeddings, data)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['pairs']} pairs from {data.source}")
        print(f"accuracy {at.accuracy:.4f} at threshold {threshold:.4f}  (FAR {at.far:.4f}, FRR {at.frr:.4f})")
        print(f"ROC AUC {report.auc:.4f}; EER {report.eer:.4f} at {report.eer_threshold:.4f}")
        print(f"best threshold on these pairs {report.best_threshold:.4f} ({report.best_accuracy:.4f})")
        r = summary["retrieval"]
        print(
            f"retrieval, each of the {r['queries']} images against the rest: precision@1 "
            f"{r['precision_at_1']:.4f}, R-precision {r['r_precision']:.4f}, MAP@R {r['map_at_r']:.4f}"
        )
    return EXIT_OK


def _retrieval_block(embeddings, data) -> dict:
    """Retrieval metrics of the evaluation images (leave-self-out; see core.retrieval)."""
    from siamese_gui.core.retrieval import retrieval_summary

    return retrieval_summary(embeddings, data.labels)


def cmd_compare(args) -> int:
    from siamese_gui.core.images import load_image

    with native_stderr_hidden():
        image_a = load_image(args.image_a, invert=args.invert)
        image_b = load_image(args.image_b, invert=args.invert)
    start_tensorflow()
    from siamese_gui.core.inference import load_model_handle

    handle = load_model_handle(args.model)
    for warning in handle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    distance = handle.distance(image_a, image_b)
    threshold = handle.threshold.value if args.threshold is None else args.threshold
    same = distance < threshold
    if args.json:
        print(json.dumps({
            "image_a": args.image_a, "image_b": args.image_b, "model": args.model,
            "distance": distance, "threshold": threshold, "same": same,
        }, indent=2))
    else:
        print(f"distance {distance:.4f}  threshold {threshold:.4f}  {'same' if same else 'different'}")
    return EXIT_OK


def cmd_gui(args) -> int:
    from siamese_gui.gui.app import run

    return run(model_path=getattr(args, "model", None))


COMMANDS = {
    "train": cmd_train, "evaluate": cmd_evaluate, "compare": cmd_compare, "gui": cmd_gui,
    "index": cmd_index, "search": cmd_search,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    _Parser.argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    command = args.command or "gui"
    if not hasattr(args, "json"):
        args.json = False
    try:
        return COMMANDS[command](args)
    except SiameseError as exc:
        _report(args, str(exc), type(exc).__name__)
    except FileNotFoundError as exc:
        _report(args, f"{exc.filename}: file not found", "FileNotFoundError")
    except KeyboardInterrupt:
        _report(args, "interrupted", "KeyboardInterrupt")
    except MemoryError:
        _report(args, "out of memory", "MemoryError")
    return EXIT_ERROR


def _report(args, message: str, kind: str) -> None:
    if args.json:
        print(json.dumps({"error": message, "kind": kind}), file=sys.stderr)
    else:
        print(f"siamese-gui: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
