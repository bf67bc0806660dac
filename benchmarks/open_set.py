"""Open-set benchmark: verify pairs of classes the model never saw.

    python benchmarks/open_set.py [--folds even,odd] [--no-digits] [--no-glyphs] [--no-scripts] [--budget-s 120]
                                  [--jobs 1]
                                  [--out benchmarks/results-open-set.md]

Leave-classes-out folds. Fashion-MNIST "even": train on the training images of classes
0, 2, 4, 6, 8 and test on pairs of the *test* images of classes 1, 3, 5, 7, 9; "odd"
the other way round. Held-out classes never reach training, PCA's fit or the threshold.
Validation pairs are held-out training images of the seen classes (the 10 % that
`train` holds out with the default settings, paired as `train` pairs them): every row
chooses its threshold there, as a user's model does. Test pairs: one same-class and one
different-class partner for each test image of the unseen classes, seed 0.

Rows: our default recipe (`train(TrainingConfig())`, what `siamese-gui train` runs with
no options), the tutorial's recipe (its network, the fixed-pair contrastive loss, batch
64, float64 pairs in memory, at most `--budget-s` CPU seconds of training), and the
training-free baselines of `siamese_gui.core.evaluation.baselines`. A second, small dataset of
another kind: scikit-learn's bundled 8x8 handwritten digits (1,797 images), scaled to
28x28; digits 0, 2, 4, 6, 8 against 1, 3, 5, 7, 9 and back, trained on all images of the
seen digits and tested on pairs of all images of the unseen ones. A third, of many
classes: 50 letters and digits (look-alikes such as O/0 and l/1 left out) drawn in every
installed font that has them all (`fc-list`, 126 on the machine of the results; 28x28,
light on dark, the glyph scaled to 20 pixels and shifted by up to 1 pixel, seed 0);
classes at even positions of that list against those at odd positions and back, on all
images of each class. Its figures depend on the installed fonts; `--no-glyphs` skips it.
A fourth, the same way: 55 Greek and Cyrillic letters that look like no Latin letter
(`SCRIPTS`), in every installed font whose character map has them all (57 on the machine
of the results); `--no-scripts` skips it.

Each training run has its own subprocess, so its peak memory is its own. Those
subprocesses hide scikit-learn, as the app's install lacks it (`run.hide_sklearn`);
`--keep-sklearn` measures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from run import _peak_rss_mb, hide_sklearn, tutorial_pairs  # noqa: E402 - benchmarks/run.py, beside this script

VALIDATION_FRACTION = 0.1
SEED = 0


def load_digits_dataset(saved: str | None = None):
    """scikit-learn's 1,797 8x8 digits (bundled with it, no download) as 28x28 uint8, or
    the copy `save_small_dataset` wrote to `saved`."""
    import numpy as np

    from siamese_gui.core.data.datasets import Dataset

    names = tuple(str(d) for d in range(10))
    source = "scikit-learn digits (8x8 scaled to 28x28)"
    if saved:
        return _saved_dataset(names, source, saved)
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = np.clip(digits.images / 16.0 * 255.0, 0, 255).astype(np.uint8)
    # Nearest neighbours scaled to 24x24 inside a 2-pixel border, like an MNIST digit.
    images = np.zeros((len(small), 28, 28), np.uint8)
    for i, img in enumerate(small):
        images[i, 2:26, 2:26] = cv2.resize(img, (24, 24), interpolation=cv2.INTER_LINEAR)
    return Dataset(images, digits.target.astype(np.int64), names, source)


GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghijkmnqrty23456789"
# Greek and Cyrillic letters that no Latin letter (or each other) looks like.
SCRIPTS = "ΓΔΘΛΞΠΣΦΨΩαβγδζθλξπσφψωБДЖЗИЛПФЦЧШЩЫЭЮЯбгджзилфцчшщыэюя"


def load_glyphs_dataset(saved: str | None = None):
    """`GLYPHS` drawn in every installed font that has them all (see the module help), or
    the copy `save_small_dataset` wrote to `saved`."""
    source = "letters and digits in the installed fonts"
    if saved:
        return _saved_dataset(tuple(GLYPHS), source, saved)
    return _drawn_font_dataset(GLYPHS, source, _listed_fonts(":lang=en", (".ttf", ".otf", ".t1", ".pfb")))


def load_scripts_dataset(saved: str | None = None):
    """`SCRIPTS` drawn in every installed font whose character map has them all, or the
    saved copy."""
    source = "Greek and Cyrillic letters in the installed fonts"
    if saved:
        return _saved_dataset(tuple(SCRIPTS), source, saved)
    fonts = [f for f in _listed_fonts(":lang=ru", (".ttf", ".otf")) if _maps_all(f, SCRIPTS)]
    return _drawn_font_dataset(SCRIPTS, source, fonts)


def _listed_fonts(pattern: str, endings: tuple[str, ...]) -> list[str]:
    """Font files `fc-list` lists for `pattern`, sorted."""
    listed = subprocess.run(["fc-list", pattern, "file"], capture_output=True, text=True).stdout.split()
    return sorted({f.rstrip(":") for f in listed if f.endswith(tuple(e + ":" for e in endings))})


def _maps_all(file: str, chars: str) -> bool:
    """Whether the font's character map has every one of `chars` (else it draws boxes)."""
    from fontTools.ttLib import TTFont

    try:
        covered = TTFont(file, fontNumber=0, lazy=True).getBestCmap() or {}
    except Exception:  # a file fontTools cannot read
        return False
    return all(ord(c) in covered for c in chars)


def _saved_dataset(names: tuple[str, ...], source: str, saved: str):
    """The copy of a small dataset that `save_small_dataset` wrote to `saved`."""
    import numpy as np

    from siamese_gui.core.data.datasets import Dataset

    with np.load(saved) as arrays:
        return Dataset(arrays["images"], arrays["labels"], names, source)


def _drawn_font_dataset(chars: str, source: str, fonts: list[str]):
    """`chars` (one class each) drawn in each of `fonts` that draws them all."""
    import numpy as np
    from PIL import ImageFont

    from siamese_gui.core.data.datasets import Dataset

    rng = np.random.default_rng(SEED)
    images = []
    for file in fonts:
        try:
            font = ImageFont.truetype(file, 40)
        except OSError:
            continue
        drawn = [_glyph(font, c, rng) for c in chars]
        if all(g is not None for g in drawn):
            images += drawn
    labels = np.tile(np.arange(len(chars), dtype=np.int64), len(images) // len(chars))
    return Dataset(np.stack(images), labels, tuple(chars), f"{source} ({len(images) // len(chars)} fonts)")


def _glyph(font, char: str, rng):
    """One glyph, light on dark, scaled to 20 pixels in a 28x28 image (None if blank)."""
    import numpy as np
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(canvas).text((32, 32), char, fill=255, font=font, anchor="mm")
    pixels = np.array(canvas)
    ys, xs = np.nonzero(pixels > 30)
    if len(ys) < 20:
        return None
    crop = pixels[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.array(Image.fromarray(crop).resize(size, Image.BILINEAR))
    out = np.zeros((28, 28), np.uint8)
    dy, dx = rng.integers(-1, 2, 2)
    top, left = (28 - small.shape[0]) // 2 + dy, (28 - small.shape[1]) // 2 + dx
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


SMALL_DATASETS = {"digits": load_digits_dataset, "glyphs": load_glyphs_dataset, "scripts": load_scripts_dataset}


def save_small_dataset(name: str, path: Path) -> str:
    """Write a small dataset for the training subprocesses, which may not import
    scikit-learn, and must all see the same images."""
    import numpy as np

    data = SMALL_DATASETS[name]()
    np.savez(path, images=data.images, labels=data.labels)
    return str(path)


def held_out_classes(dataset_name: str, fold: str) -> tuple[int, ...]:
    """The classes a fold holds out: odd positions for "even", even ones for "odd"."""
    count = {"glyphs": len(GLYPHS), "scripts": len(SCRIPTS)}.get(dataset_name, 10)
    return tuple(range(1 if fold == "even" else 0, count, 2))


def protocol(dataset_name: str, fold: str, data_file: str | None = None):
    """The images and pairs of one fold (`data_file`: see `save_small_dataset`).

    Returns:
        dict with `train` (a Dataset of the seen classes' training images), `val_images`,
        `val_pairs`, `test_images`, `test_pairs`, `seen`, `unseen`.
    """
    import numpy as np

    from siamese_gui.core.data.pairs import balanced_pairs, class_holdout_split, stratified_split
    from siamese_gui.core.evaluation.validation import validation_pairs

    if dataset_name == "fashion-mnist":
        from siamese_gui.core.data.datasets import load_fashion_mnist

        splits = load_fashion_mnist()
        train_all, test_all = splits.train, splits.test
    else:
        train_all = test_all = SMALL_DATASETS[dataset_name](data_file)
    seen, unseen = class_holdout_split(train_all.labels, held_out=held_out_classes(dataset_name, fold))
    train = train_all.subset(np.flatnonzero(np.isin(train_all.labels, seen)))
    test_idx = np.flatnonzero(np.isin(test_all.labels, unseen))
    # The split `train` makes with the default settings, so every row shares one threshold set.
    _, val_idx = stratified_split(train.labels, VALIDATION_FRACTION, SEED)
    return {
        "train": train,
        "val_images": train.images[val_idx],
        "val_pairs": validation_pairs(train.labels[val_idx], SEED),
        "test_images": test_all.images[test_idx],
        "test_pairs": balanced_pairs(test_all.labels[test_idx], seed=SEED),
        "seen": seen.tolist(),
        "unseen": unseen.tolist(),
    }


def _score(embed, p) -> dict:
    from siamese_gui.core.evaluation.baselines import score_embedder

    s = score_embedder(embed, "", p["val_images"], p["val_pairs"], p["test_images"], p["test_pairs"])
    return {"auc": s.test.auc, "accuracy": s.at_threshold.accuracy, "far": s.at_threshold.far,
            "frr": s.at_threshold.frr, "threshold": s.threshold}


def run_ours(p, budget_s: float) -> dict:
    from siamese_gui.core.model.config import TrainingConfig
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.training.train import train

    cpu = time.process_time()
    config = TrainingConfig()
    result = train(config, p["train"], open_set=True)  # classes held out: `--split classes`
    cpu_s = time.process_time() - cpu
    peak = _peak_rss_mb()  # while training: before the test images are embedded
    scores = _score(lambda x: embed(result.embedding, x), p)
    assert abs(scores["threshold"] - result.threshold) < 1e-9, "the threshold must be the one train chose"
    return {"train_s": result.seconds, "cpu_s": cpu_s, "schedule": result.schedule,
            "histograms": result.histograms, "peak_rss_mb": peak, **scores,
            "auc_by_share": _auc_by_share(result.embedding, p)}


def _auc_by_share(embedding, p) -> dict:
    """In hindsight: the unseen pairs' AUC of the trained learned part joined to the
    histograms, plain and whitened, at every share the run could have chosen (not used to
    choose it)."""
    import numpy as np

    from siamese_gui.core.evaluation.metrics import pair_distances
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.model.networks import LEARNED
    from siamese_gui.core.training.share_choice import auc_by_share

    pairs = p["test_pairs"]
    histograms = _histogram_embedder()
    whitening = _run_whitening(p, histograms)
    plain = histograms(p["test_images"])
    learned_sq = pair_distances(embed(embedding.get_layer(LEARNED), p["test_images"]), pairs).astype(float) ** 2
    by_share = {}
    for name, vectors in (("plain", plain), ("whitened", whitening.apply(plain))):
        histograms_sq = pair_distances(np.asarray(vectors), pairs).astype(float) ** 2
        by_share[name] = {f"{share:g}": auc for share, auc in auc_by_share(learned_sq, histograms_sq, pairs.same).items()}
    return by_share


def run_tutorial(p, budget_s: float) -> dict:
    """The tutorial's recipe: float64 pairs in memory, batch 64, the seed network."""
    import keras

    from siamese_gui.core.data.pairs import stratified_split
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.model.networks import (
        INPUT_SHAPE,
        ContrastiveLoss,
        EuclideanDistance,
        build_embedding_network,
    )

    start, cpu = time.perf_counter(), time.process_time()
    train = p["train"]
    train_idx, _ = stratified_split(train.labels, VALIDATION_FRACTION, SEED)
    pairs, same = tutorial_pairs(train.images[train_idx], train.labels[train_idx], seed=SEED)
    keras.utils.set_random_seed(SEED)
    base = build_embedding_network("seed", 48)
    a, b = keras.Input(INPUT_SHAPE), keras.Input(INPUT_SHAPE)
    model = keras.Model([a, b], EuclideanDistance()([base(a), base(b)]))
    model.compile(loss=ContrastiveLoss(1.0), optimizer="adam")
    def stop_at_deadline(batch, logs):
        # CPU seconds, not wall seconds: on a shared machine wall time buys varying work.
        if time.process_time() - cpu > budget_s:
            model.stop_training = True

    # The tutorial runs 70 epochs; here it runs until the budget is spent.
    model.fit(
        [pairs[:, 0], pairs[:, 1]], same, batch_size=64, epochs=70, verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=stop_at_deadline)],
    )
    train_s, cpu_s, peak = time.perf_counter() - start, time.process_time() - cpu, _peak_rss_mb()
    return {"train_s": train_s, "cpu_s": cpu_s, "peak_rss_mb": peak,
            "schedule": f"until {budget_s:.0f} CPU seconds were spent", **_score(lambda x: embed(base, x), p)}


def worker(args) -> None:
    if not args.keep_sklearn:
        hide_sklearn()
    p = protocol(args.dataset, args.fold, args.data_file)
    run = {"ours": run_ours, "tutorial": run_tutorial}[args.worker]
    result = run(p, args.budget_s)
    print("RESULT " + json.dumps(result), flush=True)


def _run_or_report(recipe: str, dataset: str, fold: str, budget_s: float, extra: list[str]) -> dict:
    try:
        return _subprocess(recipe, dataset, fold, budget_s, extra)
    except RuntimeError as exc:
        print(exc, file=sys.stderr, flush=True)
        return {"error": str(exc).splitlines()[0]}


def _subprocess(recipe: str, dataset: str, fold: str, budget_s: float, extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--worker", recipe, "--dataset", dataset, "--fold", fold,
               "--budget-s", str(budget_s), *extra]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{recipe} on {dataset}/{fold} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def baselines_rows(p) -> dict:
    from siamese_gui.core.evaluation.baselines import score_baselines

    rows = {}
    start = time.perf_counter()
    for name, s in score_baselines(
        p["train"].images, p["val_images"], p["val_pairs"], p["test_images"], p["test_pairs"], seed=SEED
    ).items():
        rows[name] = {"auc": s.test.auc, "accuracy": s.at_threshold.accuracy, "far": s.at_threshold.far,
                      "frr": s.at_threshold.frr, "threshold": s.threshold, "train_s": 0.0}
    rows["_seconds"] = time.perf_counter() - start
    rows["histograms"] = {**_score(_histogram_embedder(), p), "train_s": 0.0}
    rows["whitened"] = {**_score(_whitened_embedder(p), p), "train_s": 0.0}
    return rows


def _histogram_embedder():
    """The gradient histograms inside our default model, alone: what its learned part adds."""
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.model.networks import histogram_network

    model = histogram_network()
    return lambda x: embed(model, x)


def _whitened_embedder(p):
    """Our histograms whitened as a run learns it from the seen classes, alone."""
    histograms = _histogram_embedder()
    whitening = _run_whitening(p, histograms)
    return lambda x: whitening.apply(histograms(x))


def _run_whitening(p, histograms):
    """The whitening a run learns where it chooses it: from its training images (the
    validation share left out), given a function that embeds images as histograms."""
    from siamese_gui.core.data.pairs import stratified_split
    from siamese_gui.core.model.whitening import learn_whitening

    train = p["train"]
    train_idx, _ = stratified_split(train.labels, VALIDATION_FRACTION, SEED)
    return learn_whitening(lambda i: histograms(train.images[i]), train_idx, train.labels[train_idx])


LABELS = {"ours": "Ours (default settings)", "tutorial": "Tutorial's recipe",
          "pixels": "Raw pixels (zero-mean, unit length)", "pca": "PCA, 64 components (fit on seen classes)",
          "hog": "HOG (OpenCV layout, 9 unsigned bins)",
          "histograms": "Ablation: our model's gradient histograms alone (no learned part)",
          "whitened": "Ablation: the histograms whitened as learned from the seen classes, alone (no learned part)"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", default="even,odd")
    parser.add_argument("--no-digits", action="store_true", help="skip the small digits dataset")
    parser.add_argument("--no-glyphs", action="store_true", help="skip the letters and digits in the installed fonts")
    parser.add_argument("--no-scripts", action="store_true", help="skip the Greek and Cyrillic letters in the installed fonts")
    parser.add_argument("--budget-s", type=float, default=120.0, help="most training CPU seconds of the tutorial's recipe")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--recipes", default="ours,tutorial")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-open-set.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default="fashion-mnist", help=argparse.SUPPRESS)
    parser.add_argument("--fold", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", help=argparse.SUPPRESS)
    parser.add_argument("--keep-sklearn", action="store_true",
                        help="let the training subprocesses import scikit-learn (see the module help)")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    datasets = (["fashion-mnist"] + ([] if args.no_digits else ["digits"]) + ([] if args.no_glyphs else ["glyphs"])
                + ([] if args.no_scripts else ["scripts"]))
    runs = [(r, d, f) for d in datasets for f in args.folds.split(",") for r in args.recipes.split(",")]
    from concurrent.futures import ThreadPoolExecutor
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as folder, ThreadPoolExecutor(max(args.jobs, 1)) as pool:
        extra = ["--keep-sklearn"] if args.keep_sklearn else []
        files = {name: save_small_dataset(name, Path(folder) / f"{name}.npz") for name in datasets if name in SMALL_DATASETS}
        futures = {
            run: pool.submit(_run_or_report, *run, args.budget_s,
                             extra + (["--data-file", files[run[1]]] if run[1] in files else []))
            for run in runs
        }
        trained = {run: future.result() for run, future in futures.items()}
        tables = []
        for dataset in datasets:
            for fold in args.folds.split(","):
                p = protocol(dataset, fold, files.get(dataset))  # the copy the runs trained on
                rows = {r: trained[(r, dataset, fold)] for r in args.recipes.split(",")}
                rows.update(baselines_rows(p))
                rows.pop("_seconds")
                best = max(rows[name]["auc"] for name in ("pixels", "pca", "hog"))
                tables.append((dataset, fold, p, rows, best))
                print(json.dumps({"dataset": dataset, "fold": fold, "rows": rows}), flush=True)
    for run, result in trained.items():
        print("RUN", run, json.dumps(result), flush=True)
    lines = [
        "# Open-set benchmark: pairs of classes the model never saw",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"run {time.strftime('%Y-%m-%d %H:%M')}. Command: `python benchmarks/open_set.py"
        + (f" --folds {args.folds}" if args.folds != "even,odd" else "")
        + (" --no-digits" if args.no_digits else "") + (" --no-glyphs" if args.no_glyphs else "")
        + (" --no-scripts" if args.no_scripts else "") + (f" --jobs {args.jobs}" if args.jobs > 1 else "")
        + (f" --recipes {args.recipes}" if args.recipes != "ours,tutorial" else "")
        + (" --keep-sklearn" if args.keep_sklearn else "") + "`.",
        "",
        "Train on the seen classes, test on pairs of the unseen ones (one same-class and one "
        "different-class partner per image, seed 0). Every threshold is chosen on validation "
        "pairs of held-out training images of the seen classes; accuracy is at that threshold. "
        "Training seconds: wall time, and CPU time of the training process summed over its "
        "threads (the machine is shared, so wall time varies with the load). Peak memory: the "
        "training process's VmHWM when training ends, "
        + ("with scikit-learn importable." if args.keep_sklearn else
           "without scikit-learn, as the app is installed (where it is installed, Keras imports "
           "it at start-up: about 80 MiB more; `--keep-sklearn` measures that)."),
        "",
    ]
    for dataset, fold, p, rows, best in tables:
        lines += [
            f"## {dataset}, fold {fold}: train on classes {p['seen']}, test on {p['unseen']}",
            "",
            f"{len(p['train'])} training images; {len(p['val_pairs'])} validation pairs; "
            f"{len(p['test_pairs'])} test pairs from {len(p['test_images'])} images.",
            "",
            "| Method | AUC | Accuracy at validation threshold | FAR | FRR | Training, wall (s) | Training, CPU (s) | Peak memory while training (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in rows.items():
            if "error" in row:
                lines.append(f"| {LABELS[name]} | failed: {row['error']} | | | | | | |")
                continue
            memory = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "-"
            cpu = f"{row['cpu_s']:.0f}" if "cpu_s" in row else "-"
            lines.append(
                f"| {LABELS[name]} | {row['auc']:.4f} | {row['accuracy']:.2%} | {row['far']:.2%} | "
                f"{row['frr']:.2%} | {row['train_s']:.0f} | {cpu} | {memory} |"
            )
        if "auc" in rows.get("ours", {}):
            lines += ["", f"Ours minus the best training-free baseline: {rows['ours']['auc'] - best:+.4f} AUC. "
                      f"Schedule: {rows['ours']['schedule']}. Embedding: {rows['ours']['histograms']}."]
            by_share = rows["ours"].get("auc_by_share")
            if by_share:
                best_kind, top = max(((k, s) for k in by_share for s in by_share[k]), key=lambda ks: by_share[ks[0]][ks[1]])
                lines += ["", "In hindsight, the trained model's AUC on these unseen pairs at every share "
                          f"it could have chosen (best: {best_kind} {top}, {by_share[best_kind][top]:.4f}). "
                          + " ".join(f"{kind.capitalize()} histograms: "
                                     + ", ".join(f"{share} {auc:.4f}" for share, auc in scores.items()) + "."
                                     for kind, scores in by_share.items())]
        lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
