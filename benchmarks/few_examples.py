"""Few examples per class: the threshold a folder of 2, 4 or 8 images a class gets.

    python benchmarks/few_examples.py [--per-class 2,4,8] [--out benchmarks/results-few-examples.md]

The data: the letters and digits of `open_set.GLYPHS` and the Greek and Cyrillic letters
of `open_set.SCRIPTS`, one class each (105 classes), each class drawn in N fonts picked
at random (seed 0) from the installed fonts that draw them all; written as a folder and
read back as the app reads a user's folder. Each run trains with the defaults (what
`siamese-gui train --image-folder DIR` does), splits as `core.data.splits.folder_splits`
decides, and is scored on its test pairs: accuracy at the threshold the run stored,
against the best accuracy any threshold reaches on those very pairs (hindsight, for
scale only), AUC, and HOG's AUC on the same pairs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from open_set import GLYPHS, SCRIPTS, _glyph, _listed_fonts, _maps_all  # noqa: E402


def build_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    import cv2
    import numpy as np
    from PIL import ImageFont

    chars = GLYPHS + SCRIPTS
    fonts = [f for f in _listed_fonts(":lang=ru", (".ttf", ".otf")) if _maps_all(f, chars)]
    rng = np.random.default_rng(seed)
    drawn = []
    for file in rng.permutation(fonts):
        try:
            font = ImageFont.truetype(str(file), 40)
        except OSError:
            continue
        glyphs = [_glyph(font, c, rng) for c in chars]
        if all(g is not None for g in glyphs):
            drawn.append(glyphs)
        if len(drawn) == per_class:
            break
    if len(drawn) < per_class:
        raise SystemExit(f"only {len(drawn)} installed fonts draw all {len(chars)} characters")
    for c, char in enumerate(chars):
        folder = root / f"{c:03d}_U{ord(char):04X}"
        folder.mkdir(parents=True, exist_ok=True)
        for f, glyphs in enumerate(drawn):
            cv2.imwrite(str(folder / f"font{f}.png"), glyphs[c])
    return root


def run(per_class: int) -> dict:
    from siamese_gui.core.app.session import load_source
    from siamese_gui.core.app.training_run import prepare_training, run_training
    from siamese_gui.core.data.pairs import balanced_pairs
    from siamese_gui.core.evaluation.baselines import HOGEmbedder
    from siamese_gui.core.evaluation.metrics import (
        evaluate_distances,
        max_accuracy_threshold,
        metrics_at,
        pair_distances,
    )
    from siamese_gui.core.model.config import TrainingConfig

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_folder(Path(tmp) / "glyphs", per_class)
        source = load_source(image_folder=str(folder))
        config = TrainingConfig()
        start = time.perf_counter()
        data = prepare_training(source, config)
        done = run_training(config, data)
        seconds = time.perf_counter() - start
    splits = data.splits
    test = splits.test
    pairs = balanced_pairs(test.labels, seed=0)
    distances = pair_distances(done.handle.embed(test.images), pairs)
    stored = done.handle.threshold
    at_stored = metrics_at(distances, pairs.same, stored.value)
    best, best_threshold = max_accuracy_threshold(distances, pairs.same)
    hog = evaluate_distances(pair_distances(HOGEmbedder().embed(test.images), pairs), pairs.same)
    return {
        "per_class": per_class, "classes": len(splits.train.class_names),
        "validation_classes": len(splits.validation_classes), "test_classes": len(splits.unseen_classes),
        "test_pairs": len(pairs), "threshold": stored.value, "threshold_detail": stored.detail,
        "accuracy": at_stored.accuracy, "best": best, "auc": evaluate_distances(distances, pairs.same).auc,
        "hog_auc": hog.auc, "seconds": seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", default="2,4,8")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-few-examples.md")
    args = parser.parse_args(argv)
    rows = [run(int(n)) for n in args.per_class.split(",")]
    lines = [
        "# Few examples per class", "",
        f"`python benchmarks/few_examples.py --per-class {args.per_class}`, {time.strftime('%Y-%m-%d %H:%M')}. "
        "105 classes of letters drawn in N fonts; default settings; test pairs of the test classes "
        "(never trained on), one same- and one different-class partner per test image, seed 0.", "",
        "| images a class | validation classes | test classes | test pairs | threshold | accuracy at it "
        "| best on these pairs (hindsight) | AUC | HOG AUC | seconds |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['per_class']} | {r['validation_classes']} | {r['test_classes']} | {r['test_pairs']:,} | "
            f"{r['threshold']:.3f} | {100 * r['accuracy']:.1f} % | {100 * r['best']:.1f} % | {r['auc']:.3f} | "
            f"{r['hog_auc']:.3f} | {r['seconds']:.0f} |")
    lines += ["", "Thresholds: " + "; ".join(f"{r['per_class']}: {r['threshold_detail']}" for r in rows), ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
