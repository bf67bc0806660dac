"""Colour benchmark: unseen classes of real colour icons, and colour-only pairs.

    python benchmarks/colour.py [--data FOLDER] [--folds 2] [--models default,grey28] [--ways 20]
                                [--out benchmarks/results-colour.md]

The data is built by `colour_icons.py` (Debian's icon themes; see its help for the
packages) into a cache folder on first use. Classes are split into `--folds`
class-disjoint folds (scikit-learn's `GroupKFold`, groups = classes); each fold's test
classes are never trained on, fitted on (PCA) or looked at before scoring. Every row is
scored on the same figures:

- AUC: balanced pairs of the test classes' images (`core.data.pairs.balanced_pairs`,
  one same- and one different-class partner per image, seed 0), with its Hanley-McNeil
  standard error.
- 20-way one-shot (`core.evaluation.one_shot`, Koch et al.'s trials): each test image a
  query, its own class drawn by another theme family among 19 other test classes drawn by
  that family; 95 % bootstrap-over-classes interval.
- Colour-only pairs AUC: `colour_icons.DEFINITION`; the pairs whose icon name is not a
  training class of the fold. 0.5 = blind to colour.
- Time: fitting plus embedding every image of the fold (training too, for model rows).

Rows: every training-free baseline of `core.evaluation.baselines` on the images as
(N, 64, 64, 3) floats in [0, 1], composited onto white (the grey ones see their
luminance), and models trained on the fold's training classes. A model row is a name and
a function `train(folder) -> embed_files`: `folder` is an image folder of the training
classes (the app's format), `embed_files(paths) -> vectors` embeds image files as that
model sees them (`MODEL_ROWS`). `default` is the app's training run with default
settings aimed at new classes (`core.app.training_run`, what `siamese-gui train --split
classes` aims at: colour and size chosen from the images; the fold already keeps the
test classes out, so no training class is held out again); `grey28` the same run made to
see 28x28 grey images.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import colour_icons  # noqa: E402 - benchmarks/colour_icons.py, beside this script

SIDE = 64  # the baselines' colour input; each baseline resizes it to its own size
SEED = 0


def load_colour(files: list[Path], side: int = SIDE) -> np.ndarray:
    """Image files as (N, side, side, 3) float32 in [0, 1]: alpha composited onto white,
    letterboxed (white) to a square, area-resized."""
    import cv2

    out = np.ones((len(files), side, side, 3), np.float32)
    for k, f in enumerate(files):
        raw = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise SystemExit(f"{f}: OpenCV cannot read it")
        scale = 65535.0 if raw.dtype == np.uint16 else 255.0
        x = raw.astype(np.float32) / scale
        if x.ndim == 2:
            x = x[..., None]
        if x.shape[-1] in (1, 2):  # grey, grey + alpha
            x = np.concatenate([np.repeat(x[..., :1], 3, -1), x[..., 1:]], -1)
        rgb, alpha = x[..., 2::-1][..., :3], (x[..., 3:4] if x.shape[-1] == 4 else np.ones_like(x[..., :1]))
        rgb = rgb * alpha + (1.0 - alpha)
        h, w = rgb.shape[:2]
        n = max(h, w)
        square = np.ones((n, n, 3), np.float32)
        square[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = rgb
        out[k] = cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0.0, 1.0)


@dataclass
class IconData:
    files: list[Path]
    labels: np.ndarray
    class_names: list[str]
    families: np.ndarray
    variant_files: list[Path]
    colour_pairs: list[tuple[int, int, bool, str]]  # indices into variant_files, same, icon


def load_icons(root: Path) -> IconData:
    manifest = colour_icons.build(root)
    entries = manifest["images_list"]
    names = sorted({e["class"] for e in entries})
    index = {n: i for i, n in enumerate(names)}
    files = [root / e["file"] for e in entries]
    labels = np.array([index[e["class"]] for e in entries])
    families = np.array([e["family"] for e in entries])
    variant_files = sorted({e["file"] for e in manifest["colour_variants"]})
    where = {f: i for i, f in enumerate(variant_files)}
    with open(root / "colour_pairs.csv") as fh:
        rows = list(csv.DictReader(fh))
    pairs = [(where[r["a"]], where[r["b"]], r["same"] == "True", r["icon"]) for r in rows]
    return IconData(files, labels, names, families, [root / f for f in variant_files], pairs)


@dataclass
class Fold:
    number: int
    train: np.ndarray  # image indices
    test: np.ndarray
    train_classes: set[str]


def class_folds(data: IconData, folds: int) -> list[Fold]:
    """Class-disjoint folds: `GroupKFold` with the classes as groups (classes shuffled
    first, seeded, so alphabetical neighbours such as `audio-volume-*` spread out)."""
    from sklearn.model_selection import GroupKFold

    order = np.random.default_rng(SEED).permutation(len(data.class_names))
    groups = order[data.labels]
    out = []
    for k, (train, test) in enumerate(GroupKFold(n_splits=folds).split(data.labels, groups=groups)):
        out.append(Fold(k + 1, train, test, {data.class_names[c] for c in np.unique(data.labels[train])}))
    return out


def score(embed_files: Callable[[list[Path]], np.ndarray], data: IconData, fold: Fold, ways: int) -> dict:
    """AUC, N-way one-shot and colour-only AUC of one embedding on one fold's test classes."""
    from siamese_gui.core.data.pairs import Pairs, balanced_pairs
    from siamese_gui.core.evaluation.metrics import auc_standard_error, evaluate_distances, pair_distances
    from siamese_gui.core.evaluation.one_shot import n_way_one_shot

    test_files = [data.files[i] for i in fold.test]
    labels, families = data.labels[fold.test], data.families[fold.test]
    start = time.perf_counter()
    vectors = embed_files(test_files)
    pick = [p for p in data.colour_pairs if p[3] not in fold.train_classes]
    used = sorted({i for p in pick for i in p[:2]})
    where = {i: k for k, i in enumerate(used)}
    variant_vectors = embed_files([data.variant_files[i] for i in used])
    seconds = time.perf_counter() - start
    pairs = balanced_pairs(labels, seed=SEED)
    report = evaluate_distances(pair_distances(vectors, pairs), pairs.same)
    one_shot = n_way_one_shot(vectors, labels, families, ways=ways, seed=SEED)
    cpairs = Pairs(
        np.array([where[p[0]] for p in pick], np.int64),
        np.array([where[p[1]] for p in pick], np.int64),
        np.array([p[2] for p in pick], bool),
    )
    colour = evaluate_distances(pair_distances(variant_vectors, cpairs), cpairs.same)
    return {
        "auc": report.auc,
        "auc_se": auc_standard_error(report.auc, report.same_pairs, report.different_pairs),
        "pairs": len(pairs),
        "one_shot": one_shot.accuracy,
        "one_shot_low": one_shot.low,
        "one_shot_high": one_shot.high,
        "trials": one_shot.trials,
        "colour_auc": colour.auc,
        "colour_pairs": len(cpairs),
        "embed_s": seconds,
    }


def baseline_rows(data: IconData, fold: Fold, ways: int) -> dict[str, dict]:
    """Every training-free baseline, PCA fitted on the fold's training images."""
    from siamese_gui.core.evaluation.baselines import make_baselines

    cache: dict[Path, np.ndarray] = {}

    def images(files):
        missing = [f for f in files if f not in cache]
        for f, img in zip(missing, load_colour(missing)):
            cache[f] = img
        return np.stack([cache[f] for f in files]) if files else np.zeros((0, SIDE, SIDE, 3), np.float32)

    start = time.perf_counter()
    embedders = make_baselines(images([data.files[i] for i in fold.train]), seed=SEED)
    fit_s = time.perf_counter() - start
    rows = {}
    for name, embedder in embedders.items():
        row = score(lambda files, e=embedder: e.embed(images(files)), data, fold, ways)
        row["train_s"] = fit_s if name == "pca" else 0.0
        rows[name] = row
    return rows


def _class_folder(tmp: Path, data: IconData, indices: np.ndarray) -> Path:
    """An image folder of links to the images at `indices`, one sub-folder per class."""
    folder = tmp / "train"
    for i in indices:
        f = data.files[i]
        dest = folder / f.parent.name / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(f)
    return folder


def train_app(folder: Path, **settings) -> Callable[[list[Path]], np.ndarray]:
    """The app's training run on `folder` (as `siamese-gui train --image-folder folder`
    with `settings`); embeds files through the app's own pipeline at the model's format."""
    from siamese_gui.core.app.session import load_source
    from siamese_gui.core.app.training_run import prepare_training, run_training
    from siamese_gui.core.io.images import load_image
    from siamese_gui.core.model.config import TrainingConfig

    config = TrainingConfig(**settings)
    done = run_training(config, prepare_training(load_source(image_folder=str(folder)), config))
    fmt = done.handle.image_format

    def embed_files(files):
        images = np.stack([load_image(f, image_format=fmt) for f in files])
        return done.handle.embed(images)

    return embed_files


MODEL_ROWS: dict[str, Callable[[Path], Callable[[list[Path]], np.ndarray]]] = {
    "default": lambda folder: train_app(folder, goal="new-classes"),
    "grey28": lambda folder: train_app(folder, goal="new-classes", colour="off", image_size=28),
}
ROW_TITLES = {
    "default": "`siamese-gui train --goal new-classes` (format chosen from the data), trained on the training classes",
    "grey28": "`siamese-gui train --goal new-classes --colour off --image-size 28` (the grey recipe)",
    "pixels": "pixels (grey 28x28, training-free)",
    "pca": "PCA (grey 28x28, fitted on training classes)",
    "hog": "HOG (grey 28x28, training-free)",
    "colour-pixels": "colour pixels 32x32x3 (training-free)",
    "colour-histogram": "colour histogram 8x8x8 RGB, Hellinger (training-free)",
}


def model_row(name: str, data: IconData, fold: Fold, ways: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _class_folder(Path(tmp), data, fold.train)
        start = time.perf_counter()
        embed_files = MODEL_ROWS[name](folder)
        train_s = time.perf_counter() - start
        row = score(embed_files, data, fold, ways)
    row["train_s"] = train_s
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _f(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def write_results(path: Path, data: IconData, folds: list[Fold], rows: dict, ways: int, command: str) -> None:
    names = list(rows)
    lines = [
        "# Colour benchmark: unseen icon classes and colour-only pairs",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} CPUs), "
        f"{time.strftime('%Y-%m-%d')}. See `benchmarks/colour.py`'s help for the protocol.",
        "",
        f"Data: {len(data.class_names)} classes (freedesktop icon names), {len(data.files)} images, "
        f"from {len(set(data.families))} icon-theme families (one image per family and class); "
        f"{len(data.variant_files)} colour-variant images for {len(data.colour_pairs)} colour-only pairs. "
        f"{len(folds)} class-disjoint folds.",
        "",
        colour_icons.DEFINITION,
        "",
        f"Means over the folds; in brackets the range over folds (AUC) or the 95 % bootstrap-over-classes "
        f"interval of the first fold ({ways}-way one-shot, chance {1 / ways:.2f}).",
        "",
        f"| on unseen classes | AUC | {ways}-way one-shot | colour-only pairs AUC (0.5 = blind) | "
        "train / fit s | embed s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        per = rows[name]
        auc = [r["auc"] for r in per]
        os_ = [r["one_shot"] for r in per]
        col = [r["colour_auc"] for r in per]
        lines.append(
            f"| {ROW_TITLES.get(name, name)} | {np.mean(auc):.3f} ({min(auc):.3f}-{max(auc):.3f}) | "
            f"{np.mean(os_):.3f} ({per[0]['one_shot_low']:.3f}-{per[0]['one_shot_high']:.3f}) | "
            f"{np.mean(col):.3f} | {np.mean([r['train_s'] for r in per]):.1f} | "
            f"{np.mean([r['embed_s'] for r in per]):.1f} |"
        )
    lines += ["", "Per fold:", "", "| row | fold | test classes | AUC ± SE (pairs) | one-shot (trials) | "
              "colour-only AUC (pairs) | peak RSS MB (the process so far) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        for fold, r in zip(folds, rows[name]):
            lines.append(
                f"| {name} | {fold.number} | {len(np.unique(data.labels[fold.test]))} | "
                f"{r['auc']:.3f} ± {r['auc_se']:.3f} ({r['pairs']}) | {r['one_shot']:.3f} ({r['trials']}) | "
                f"{_f(r['colour_auc'])} ({r['colour_pairs']}) | {_f(r.get('peak_rss_mb'), 0)} |"
            )
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=colour_icons.default_cache())
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--models", default="", help=f"comma-separated model rows of {sorted(MODEL_ROWS)}")
    parser.add_argument("--ways", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-colour.md")
    args = parser.parse_args(argv)
    data = load_icons(args.data)
    folds = class_folds(data, args.folds)
    rows: dict[str, list[dict]] = {}
    models = [m for m in args.models.split(",") if m]
    for fold in folds:
        for name in models:
            rows.setdefault(name, []).append(model_row(name, data, fold, args.ways))
            print(name, fold.number, rows[name][-1], flush=True)
        for name, row in baseline_rows(data, fold, args.ways).items():
            rows.setdefault(name, []).append(row)
            print(name, fold.number, row, flush=True)
    command = "python benchmarks/colour.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_results(args.out, data, folds, rows, args.ways, command.strip())
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
