"""Helpers every command shares: loading data, printing, vetting a model file."""

from __future__ import annotations

import json
import sys

from siamese_gui.core.errors import printable
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden


def _load_source(args, polarity: str | None, narrow: bool = True):
    """The data the options name, read with `polarity`; narrowed by `--classes` and
    `--per-class` unless `narrow` is False (training narrows it itself)."""
    from siamese_gui.core.app.session import load_source

    with native_stderr_hidden():
        return load_source(
            data=args.data,
            image_folder=args.image_folder,
            test_folder=getattr(args, "test_folder", None),
            classes=args.classes if narrow else None,
            per_class=args.per_class if narrow else None,
            invert={"auto": None, "on": True, "off": False}[polarity or "auto"],
            download=args.download,
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
