"""The `index` and `search` commands: search a folder of images by example (1:N)."""

from __future__ import annotations

import json
import os
import sys

from siamese_gui.cli.common import warn_skipped
from siamese_gui.core.errors import SiameseError, printable
from siamese_gui.core.runtime.tensorflow import native_stderr_hidden

DEFAULT_TOP = 5


def add_search_commands(commands, default_model: str) -> None:
    """Add `index` and `search` to the `siamese-gui` sub-command parsers."""
    index = commands.add_parser(
        "index", help="embed a folder of images once into a search index (.npz)",
        description="Embed every image in DIR and its class sub-folders. Re-running it with the "
        "same --out embeds only new or changed files; an index made with another model is refused.",
    )
    index.add_argument("folder", metavar="DIR")
    index.add_argument("--model", default=default_model, metavar="FILE")
    index.add_argument("--out", required=True, metavar="INDEX.npz", help="the index file to write or update")
    index.add_argument("--json", action="store_true", help="print JSON")

    search = commands.add_parser(
        "search", help="the K images of a folder or index nearest to a query image",
    )
    search.add_argument("query", metavar="QUERY", help="the query image file")
    source = search.add_mutually_exclusive_group(required=True)
    source.add_argument("--gallery", metavar="DIR", help="search this folder (embedded now)")
    source.add_argument("--index", metavar="INDEX.npz", help="search an index made by `siamese-gui index`")
    search.add_argument("--model", default=default_model, metavar="FILE")
    search.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="K", help="how many results")
    search.add_argument("--threshold", type=float, help="threshold instead of the model's")
    search.add_argument("--backend", choices=("numpy", "faiss"), default="numpy",
                        help="exact search with numpy (default) or faiss (pip install faiss-cpu)")
    search.add_argument("--json", action="store_true", help="print JSON")


def _load_handle(path: str):
    # Runs in LiteRT when the model has a runtime copy; TensorFlow starts only otherwise.
    from siamese_gui.core.runtime.loading import load_model_handle

    handle = load_model_handle(path)
    for warning in handle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return handle


def cmd_index(args) -> int:
    """Build or update a search index file."""
    from pathlib import Path

    from siamese_gui.core.app.search import SearchIndex, check_index_target, update_index_file

    # A refused --out, or a broken or foreign index there, fails before the model loads.
    out = check_index_target(Path(args.out), (args.model,))
    if os.path.lexists(out):
        SearchIndex.load(out)
    handle = _load_handle(args.model)
    with native_stderr_hidden():
        index, update = update_index_file(args.folder, handle, out, inputs=(args.model,))
    warn_skipped(update.skipped)
    summary = {
        "index": str(out), "folder": str(index.root), "model": str(args.model), "images": len(index),
        "embedded": update.embedded, "reused": update.reused, "removed": update.removed,
        "skipped": len(update.skipped), "classes": sorted({c for c in index.classes if c}),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"indexed {len(index)} images of {printable(str(index.root))}: {update.embedded} embedded, "
            f"{update.reused} unchanged, {update.removed} removed, {len(update.skipped)} skipped"
        )
        print(f"wrote {printable(str(out))}")
    return 0


def cmd_search(args) -> int:
    """Print the K nearest images to a query."""
    from siamese_gui.core.app.search import SearchIndex
    from siamese_gui.core.app.search_sources import SearchSource, open_gallery, search_gallery
    from siamese_gui.core.evaluation.threshold import check_threshold
    from siamese_gui.core.io.image_format import GREY_28
    from siamese_gui.core.io.images import load_image

    if args.top < 1:
        raise SiameseError(f"--top must be at least 1, got {args.top}")
    with native_stderr_hidden():
        query = load_image(args.query)
    if args.index:
        SearchIndex.load(args.index)  # a broken file fails before the model loads
    source = SearchSource.index_file(args.index) if args.index else SearchSource.folder(args.gallery)
    handle = _load_handle(args.model)
    if handle.image_format != GREY_28:
        with native_stderr_hidden():
            query = load_image(args.query, image_format=handle.image_format)
    with native_stderr_hidden():
        gallery = open_gallery(source, handle, backend=args.backend)
    warn_skipped(gallery.skipped)
    index = gallery.index
    threshold = handle.threshold.value if args.threshold is None else check_threshold(args.threshold, "--threshold")
    hits = [result.hit for result in search_gallery(gallery, handle, query, args.top, threshold, images=False)]
    if args.json:
        print(json.dumps({
            "query": args.query, "model": str(args.model), "gallery": str(index.root),
            "images": len(index), "threshold": threshold, "backend": args.backend,
            "results": [hit.as_dict() for hit in hits],
        }, indent=2))
    else:
        # Paths and classes come from the index file or the folder: escaped, never raw.
        print(f"{len(hits)} nearest of {len(index)} images in {printable(str(index.root))} "
              f"(threshold {threshold:.4f})")
        for hit in hits:
            verdict = "same" if hit.same else "different"
            label = f"  [{printable(hit.class_name)}]" if hit.class_name else ""
            print(f"{hit.rank:>3}  {hit.distance:.4f}  {verdict:<9} {printable(hit.path)}{label}")
    return 0
