"""The `siamese-gui` command: the desktop app, or `train`, `evaluate` and `compare`."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import siamese_gui
from siamese_gui.core.errors import ConfigError, ModelFileError, SiameseError, printable
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
        super().error(printable(message))


def _threshold(text: str) -> float:
    """Parse `--threshold`: a finite number from 0 to `THRESHOLD_MAX`."""
    from siamese_gui.core.evaluation import validate_threshold

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return validate_threshold(value, "--threshold")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _threshold_help() -> str:
    from siamese_gui.core.evaluation import THRESHOLD_MAX

    return f"threshold instead of the model's: 0 to {THRESHOLD_MAX:,g}"


def _range_help(name: str, text: str) -> str:
    from siamese_gui.core.config import LIMITS

    low, high = LIMITS[name]
    return text.format(low=f"{low:,}", high=f"{high:,}")


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
    train.add_argument("--epochs", type=int, default=defaults.epochs, help=_range_help("epochs", "{low} to {high}"))
    train.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help=_range_help("batch_size", "{low} to {high}"))
    train.add_argument("--lr", type=float, default=defaults.learning_rate,
                       help=_range_help("learning_rate", "learning rate: above {low}, at most {high}"))
    train.add_argument("--margin", type=float, default=defaults.margin,
                       help=_range_help("margin", "above {low}, at most {high}"))
    train.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim,
                       help=_range_help("embedding_dim", "{low} to {high}"))
    train.add_argument("--preset", choices=PRESETS, default=defaults.preset)
    train.add_argument("--seed", type=int, default=defaults.seed, help=_range_help("seed", "{low} to {high}"))
    train.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction,
                       help=_range_help("validation_fraction", "above {low}, below {high}"))
    train.add_argument("--no-augment", action="store_true", help="do not mirror training images")
    train.add_argument("--out", required=True, metavar="FILE.keras", help="where to save the model")
    train.add_argument("--json", action="store_true", help="print one JSON object at the end")

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, AUC and EER on the standard test pairs"
    )
    evaluate.add_argument("model", nargs="?", default=str(default_model_path()), metavar="MODEL")
    _add_data_args(evaluate)
    evaluate.add_argument("--threshold", type=_threshold, help=_threshold_help())
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    compare = commands.add_parser("compare", help="distance and verdict for two image files")
    compare.add_argument("image_a", metavar="IMAGE_A")
    compare.add_argument("image_b", metavar="IMAGE_B")
    compare.add_argument("--model", default=str(default_model_path()), metavar="FILE")
    compare.add_argument("--threshold", type=_threshold, help=_threshold_help())
    polarity = compare.add_mutually_exclusive_group()
    polarity.add_argument("--invert", dest="invert", action="store_true", default=None,
                          help="always invert the images (dark objects on light)")
    polarity.add_argument("--no-invert", dest="invert", action="store_false",
                          help="never invert (light objects on dark, like Fashion-MNIST)")
    compare.add_argument("--json", action="store_true", help="print JSON")
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
        print(printable(text), flush=True)


def _warn(text: str) -> None:
    print(f"warning: {printable(text)}", file=sys.stderr)


def _dumps(value) -> str:
    """JSON text; NaN and infinities are refused, never printed as invalid JSON."""
    return json.dumps(value, indent=2, allow_nan=False)


def _vet_model(path) -> None:
    """Read and check a model file before TensorFlow starts, so a hostile one costs little."""
    from siamese_gui.core.archive import model_metadata, open_model_file

    model_metadata(open_model_file(path))


def _check_distances(distances, model) -> None:
    import numpy as np

    if not np.all(np.isfinite(distances)):
        raise ModelFileError(f"{model}: gives non-finite distances (NaN or infinity); the model is broken")


def cmd_train(args) -> int:
    from siamese_gui.core.config import TrainingConfig

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
    start_tensorflow()
    from siamese_gui.core.store import result_metadata, save_model
    from siamese_gui.core.training import train

    data, test = _load_training_data(args)
    for path, reason in data.skipped:
        print(f"skipped {printable(reason)}", file=sys.stderr)
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
        print(_dumps(summary))
    else:
        v = result.validation
        print(
            f"{result.status} in {result.seconds:.0f}s; validation: accuracy {v.best_accuracy:.4f} "
            f"at threshold {result.threshold:.4f}, AUC {v.auc:.4f}, EER {v.eer:.4f}"
        )
        if "test" in summary:
            t = summary["test"]
            print(f"test pairs: accuracy {t['accuracy']:.4f}, AUC {t['auc']:.4f}, EER {t['eer']:.4f}")
        print(f"saved {printable(str(out))}")
    return EXIT_OK


def _evaluate(embed_images, data):
    """Distances and summary on the standard pairs of `data` (seed 0, two per image)."""
    import numpy as np

    from siamese_gui.core.evaluation import evaluate_distances, pair_distances
    from siamese_gui.core.pairs import standard_pairs

    pairs = standard_pairs(data.labels)
    with np.errstate(all="ignore"):  # non-finite distances are reported by the caller
        distances = pair_distances(embed_images(data.images), pairs)
    return evaluate_distances(distances, pairs.same), distances, pairs


def cmd_evaluate(args) -> int:
    from siamese_gui.core.evaluation import metrics_at

    _vet_model(args.model)
    start_tensorflow()
    from siamese_gui.core.store import Comparator

    comparator = Comparator.from_file(args.model)
    for warning in comparator.loaded.warnings:
        _warn(warning)
    data = _load_eval_data(args)
    report, distances, pairs = _evaluate(comparator.embed, data)
    _check_distances(distances, args.model)
    threshold = comparator.threshold if args.threshold is None else args.threshold
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
    if args.json:
        print(_dumps(summary))
    else:
        print(f"{summary['pairs']} pairs from {printable(data.source)}")
        print(f"accuracy {at.accuracy:.4f} at threshold {threshold:.4f}  (FAR {at.far:.4f}, FRR {at.frr:.4f})")
        print(f"ROC AUC {report.auc:.4f}; EER {report.eer:.4f} at {report.eer_threshold:.4f}")
        print(f"best threshold on these pairs {report.best_threshold:.4f} ({report.best_accuracy:.4f})")
    return EXIT_OK


def cmd_compare(args) -> int:
    import numpy as np

    from siamese_gui.core.errors import ImageError
    from siamese_gui.core.evaluation import judged_same
    from siamese_gui.core.images import is_blank, load_image

    images = []
    for name in (args.image_a, args.image_b):
        with native_stderr_hidden():
            image = load_image(name, invert=args.invert)
        if is_blank(image):
            raise ImageError(
                f"{name}: no object found (the image is blank or one flat colour after preprocessing)"
            )
        images.append(image)
    _vet_model(args.model)
    start_tensorflow()
    from siamese_gui.core.store import Comparator

    comparator = Comparator.from_file(args.model)
    for warning in comparator.loaded.warnings:
        _warn(warning)
    with np.errstate(all="ignore"):  # a broken model's overflow is reported below, once
        distance = comparator.distance(*images)
    if not math.isfinite(distance):
        raise ModelFileError(f"{args.model}: gives a non-finite distance (NaN or infinity); the model is broken")
    threshold = comparator.threshold if args.threshold is None else args.threshold
    same = bool(judged_same(distance, threshold))
    if args.json:
        print(_dumps({
            "image_a": args.image_a, "image_b": args.image_b, "model": args.model,
            "distance": distance, "threshold": threshold, "same": same,
        }))
    else:
        print(f"distance {distance:.4f}  threshold {threshold:.4f}  {'same' if same else 'different'}")
    return EXIT_OK


def cmd_gui(args) -> int:
    from siamese_gui.gui.app import run

    return run(model_path=getattr(args, "model", None))


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "compare": cmd_compare, "gui": cmd_gui}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    _Parser.argv = sys.argv[1:] if argv is None else list(argv)
    args = argparse.Namespace(json="--json" in _Parser.argv)
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "json"):
            args.json = False
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
    return EXIT_ERROR


def _report(args, message: str, kind: str) -> None:
    """Print one error line; every non-printable character in it escaped."""
    if args.json:
        print(json.dumps({"error": message, "kind": kind}), file=sys.stderr)
    else:
        print(f"siamese-gui: error: {printable(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
