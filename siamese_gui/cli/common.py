"""Helpers every command shares: loading data, printing, vetting a model file."""

from __future__ import annotations

import json
import sys

from siamese_gui.core.errors import printable
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden


def _load_source(args, polarity: str | None, models=(), narrow: bool = True):
    """The data the options name, read with `polarity`; with none, the folder the `models`
    record (if any). Narrowed by `--classes` and `--per-class` unless `narrow` is False
    (training narrows it itself)."""
    from siamese_gui.core.app.session import load_model_data, load_source

    invert = {"auto": None, "on": True, "off": False}[polarity or "auto"]
    if models and not args.data and not args.image_folder:
        with native_stderr_hidden():
            recorded = load_model_data([m.metadata for m in models], args.classes, args.per_class, invert,
                                       "--image-folder DIR (or --data for Fashion-MNIST)")
        if recorded is not None:
            return recorded
    with native_stderr_hidden():
        return load_source(
            data=args.data,
            image_folder=args.image_folder,
            test_folder=getattr(args, "test_folder", None),
            classes=args.classes if narrow else None,
            per_class=args.per_class if narrow else None,
            invert=invert,
            download=args.download,
            # A model sees the folder at its own size and colour; training chooses them.
            image_format=models[0].image_format if models else None,
        )


def _say(args, text: str) -> None:
    if not args.json:
        print(printable(text), flush=True)


def _warn(text: str) -> None:
    print(f"warning: {printable(text)}", file=sys.stderr, flush=True)


def _dumps(value) -> str:
    """JSON text; NaN and infinities are refused, never printed as invalid JSON."""
    return json.dumps(value, indent=2, allow_nan=False)


def _vet_model(path) -> None:
    """Read and check a model file before TensorFlow starts, so a hostile one costs little."""
    from siamese_gui.core.runtime.archive import model_metadata, open_model_file

    model_metadata(open_model_file(path))



# Skipped files named one by one before the rest are counted (a folder of 100,000 empty
# files would otherwise print 100,000 lines).
SHOWN_SKIPS = 10


def warn_skipped(skipped) -> None:
    """Warn about files that were skipped: the first `SHOWN_SKIPS` by name, then a count.

    Args:
        skipped: (path, reason) pairs, as datasets and indexes record them.
    """
    skipped = list(skipped)
    for _, reason in skipped[:SHOWN_SKIPS]:
        _warn(f"skipped {reason}")
    if len(skipped) > SHOWN_SKIPS:
        _warn(f"... and {len(skipped) - SHOWN_SKIPS:,} more files skipped ({len(skipped):,} in all)")


def data_notes(args, source) -> list[str]:
    """Notes on where the data came from: the bundled samples, or the model's own folder."""
    notes = []
    if source.kind.name == "SAMPLES":
        notes.append("Fashion-MNIST is not installed; scoring the bundled samples (install "
                     "dataset-fashion-mnist or pass --data for the standard 20,000 pairs)")
    elif not args.data and not args.image_folder and source.dataset is not None:
        notes.append(f"scoring {source.dataset.root}, the folder this model records (pass "
                     "--image-folder or --data for other data)")
    return notes


def note_left_out(images, source, notes: list[str]) -> None:
    """Say which images were left out of a folder the model partly trained on."""
    if source.fashion_mnist is not None or source.kind.name == "SAMPLES":
        return
    data = source.test_dataset if source.test_dataset is not None else source.dataset
    if images.left_out:
        kept = len(data) - images.left_out
        _warn(f"{data.root or data.source}: {images.left_out} of {len(data)} images are images this "
              f"model trained on or chose its threshold on; they are LEFT OUT, only the other {kept} "
              "are scored")
    elif not images.known:
        notes.append("the model does not record which files it trained on; if this folder holds its "
                     "training images, these figures are optimistic")
