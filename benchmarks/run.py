"""Measure the tutorial's recipe and ours side by side, on this machine, in one run.

    python benchmarks/run.py [--budget-s 120] [--epochs 3] [--out benchmarks/results.md]

Each recipe trains in its own subprocess (so its peak memory is its own) on all 60,000
Fashion-MNIST training images, with a held-out 10 % of them for choosing the threshold,
and is scored on the standard 20,000 test pairs (one same-class and one different-class
partner per test image, seed 0). The tutorial's recipe is its network with the dead
first block fixed, float64 pairs materialised in memory, batch 64 and Adam; ours is
`siamese_gui.core.training.train.train` with the default settings (on this split, the
learned network alone, for the classes it trains on), and again with `--goal new-classes`
(the learned part joined by the gradient histograms). All are evaluated at
intervals (evaluation time is not counted) to find the time to 90 % pair accuracy.
The shipped model is scored on the same pairs. Results go to a Markdown table.
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

TARGET_ACCURACY = 0.90
EVAL_EVERY_S = 10.0


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def hide_sklearn() -> None:
    """Make `import sklearn` fail in this process, as where it is not installed.

    scikit-learn is no dependency of the app, but Keras imports it at start-up wherever
    it is installed (for wrappers the app never uses), about 80 MiB of memory; the
    training subprocesses hide it to measure the app as `pip install .` installs it.
    """
    sys.modules["sklearn"] = None


def _reset_peak_rss() -> bool:
    """Restart the kernel's peak-memory count (VmHWM) from the present size (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _protocol():
    """Training split, threshold pairs and the standard test pairs."""
    from siamese_gui.core.data.datasets import load_fashion_mnist
    from siamese_gui.core.data.pairs import standard_pairs, stratified_split
    from siamese_gui.core.evaluation.validation import validation_pairs

    splits = load_fashion_mnist()
    train_idx, val_idx = stratified_split(splits.train.labels, 0.1, 0)
    val_pairs = validation_pairs(splits.train.labels[val_idx], 0)
    test_pairs = standard_pairs(splits.test.labels)
    return splits, train_idx, val_idx, val_pairs, test_pairs


class _Scorer:
    """Scores an embedding network on the protocol; keeps the time spent out of the clock."""

    def __init__(self, splits, val_idx, val_pairs, test_pairs):
        self.val_images = splits.train.images[val_idx]
        self.test_images = splits.test.images
        self.val_pairs, self.test_pairs = val_pairs, test_pairs
        self.excluded_s = 0.0
        self.reached_s = None
        self.curve = []
        self.peak_mb = 0.0  # training's own peak, checkpoints left out where the kernel allows
        self.peak_includes_scoring = False

    def training_peak_mb(self) -> float:
        """Peak memory of the training so far, read before any scoring after it."""
        return max(self.peak_mb, _peak_rss_mb())

    def score(self, embedding) -> dict:
        from siamese_gui.core.evaluation.metrics import (
            max_accuracy_threshold,
            metrics_at,
            pair_distances,
            roc_auc,
        )
        from siamese_gui.core.model.graph import embed

        val_d = pair_distances(embed(embedding, self.val_images), self.val_pairs)
        _, threshold = max_accuracy_threshold(val_d, self.val_pairs.same)
        test_d = pair_distances(embed(embedding, self.test_images), self.test_pairs)
        at = metrics_at(test_d, self.test_pairs.same, threshold)
        return {"accuracy": at.accuracy, "auc": roc_auc(test_d, self.test_pairs.same), "threshold": threshold}

    def callback(self, start: float, embedding_of):
        import keras

        scorer = self

        class Checkpoint(keras.callbacks.Callback):
            last = start

            def on_train_batch_end(self, batch, logs=None):
                now = time.perf_counter()
                if now - self.last < EVAL_EVERY_S or scorer.reached_s is not None:
                    return
                scorer.peak_mb = scorer.training_peak_mb()
                result = scorer.score(embedding_of(self.model))
                # The scoring's own peak is the benchmark's, not training's.
                scorer.peak_includes_scoring |= not _reset_peak_rss()
                spent = time.perf_counter() - now
                elapsed = now - start - scorer.excluded_s
                scorer.excluded_s += spent
                scorer.curve.append((round(elapsed, 1), round(result["accuracy"], 4)))
                if result["accuracy"] >= TARGET_ACCURACY:
                    scorer.reached_s = elapsed
                self.last = time.perf_counter()

        return Checkpoint()


OTHER_GOAL = "new-classes"  # the goal the default (trained classes, on this split) is not


def run_ours_closed(args) -> dict:
    """Ours aiming at new classes: the learned part joined by the gradient histograms."""
    return run_ours(args, goal=OTHER_GOAL)


def run_ours(args, goal: str = "auto") -> dict:
    import numpy as np

    from siamese_gui.core.model.config import TrainingConfig
    from siamese_gui.core.model.graph import embed
    from siamese_gui.core.training.train import histogram_share as share_of
    from siamese_gui.core.training.train import inference_network, train

    splits, train_idx, val_idx, val_pairs, test_pairs = _protocol()
    scorer = _Scorer(splits, val_idx, val_pairs, test_pairs)
    config = TrainingConfig(epochs=args.epochs, goal=goal)
    # Checkpoints score what the run would give the user: the learned part so far, joined
    # to the gradient histograms at the run's share (the learned part trains alone). With
    # the automatic share, that is the fallback share until the run chooses.
    share = share_of(config, config.resolved_goal(False))
    start = time.perf_counter()
    deadline = start + args.budget_s
    images_seen = []
    result = train(
        config,
        splits.train,
        on_batch=lambda p: images_seen.append(config.batch_size),
        should_stop=lambda: time.perf_counter() - scorer.excluded_s > deadline,
        callbacks=[scorer.callback(start, lambda model: inference_network(model, config, share))],
    )
    train_s = time.perf_counter() - start - scorer.excluded_s
    peak_mb = scorer.training_peak_mb()
    final = scorer.score(result.embedding)
    embed_s = _time_embedding(lambda images: embed(result.embedding, images), splits.test.images)
    compare_ms = _time_compare(result, splits)
    return {
        "recipe": "ours-closed" if goal != "auto" else "ours",
        "histograms": result.histograms,
        "train_s": train_s,
        "images_per_s": sum(images_seen) / max(train_s, 1e-9),
        "peak_rss_mb": peak_mb,
        "peak_includes_scoring": scorer.peak_includes_scoring,
        "time_to_90_s": scorer.reached_s,
        "curve": scorer.curve,
        "embed_10k_s": embed_s,
        "compare_ms": compare_ms,
        "train_images": int(len(np.asarray(train_idx))),
        **final,
    }


def _time_embedding(embed_fn, images, repeats: int = 3) -> float:
    embed_fn(images[:64])  # warm-up: graph tracing is a one-off cost
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        embed_fn(images)
        times.append(time.perf_counter() - start)
    return min(times)


def _write_pair_pngs(splits, folder: Path) -> tuple[Path, Path]:
    import cv2

    a, b = folder / "a.png", folder / "b.png"
    cv2.imwrite(str(a), 255 - splits.test.images[0])  # dark on light, as a photo would be
    cv2.imwrite(str(b), splits.test.images[1])
    return a, b


def _time_compare(result, splits, repeats: int = 30) -> float:
    import tempfile

    from siamese_gui.core.io.images import load_image
    from siamese_gui.core.runtime.loading import load_model_handle
    from siamese_gui.core.runtime.store import result_metadata, save_model

    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(result.model, Path(tmp) / "bench.keras", result_metadata(result, ()))
        comparator = load_model_handle(path, runtime="tensorflow", cache=False)
        a, b = _write_pair_pngs(splits, Path(tmp))
        comparator.distance(load_image(a), load_image(b))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            comparator.distance(load_image(a), load_image(b))
            times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[len(times) // 2]


def tutorial_pairs(images, labels, seed: int):
    """The tutorial's training pairs: float64 images, one same-class and one
    different-class partner per image, every pair's two images copied into one array.

    Returns:
        (pairs of shape (2N, 2, 28, 28, 1), same-class flags of shape (2N,)).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    images = np.expand_dims(images / 255.0, -1)
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    others = {c: np.flatnonzero(labels != c) for c in by_class}
    pairs, same = [], []
    for i in range(len(images)):
        pairs.append([images[i], images[rng.choice(by_class[labels[i]])]])
        same.append(1)
        pairs.append([images[i], images[rng.choice(others[labels[i]])]])
        same.append(0)
    return np.array(pairs), np.array(same)


def run_tutorial(args) -> dict:
    """The tutorial's recipe: float64 pairs in memory, batch 64, the seed network."""
    import keras
    import numpy as np

    from siamese_gui.core.model.networks import (
        INPUT_SHAPE,
        ContrastiveLoss,
        EuclideanDistance,
        build_embedding_network,
    )

    splits, train_idx, val_idx, val_pairs, test_pairs = _protocol()
    scorer = _Scorer(splits, val_idx, val_pairs, test_pairs)
    # As the tutorial does: scale to float64, then copy every pair's two images.
    pairs_start = time.perf_counter()
    pairs, same = tutorial_pairs(splits.train.images[train_idx], splits.train.labels[train_idx], seed=0)
    pairs_s = time.perf_counter() - pairs_start
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    base = build_embedding_network("seed", 48)
    a, b = keras.Input(INPUT_SHAPE), keras.Input(INPUT_SHAPE)
    model = keras.Model([a, b], EuclideanDistance()([base(a), base(b)]))
    model.compile(loss=ContrastiveLoss(1.0), optimizer="adam")
    deadline = start + args.budget_s
    batches = []

    def count_and_stop(batch, logs):
        batches.append(batch)
        if time.perf_counter() - scorer.excluded_s > deadline:
            model.stop_training = True

    budget = keras.callbacks.LambdaCallback(on_train_batch_end=count_and_stop)
    model.fit(
        [pairs[:, 0], pairs[:, 1]], same, batch_size=64, epochs=args.tutorial_epochs, verbose=0,
        callbacks=[scorer.callback(start, lambda _: base), budget],
    )
    train_s = time.perf_counter() - start - scorer.excluded_s
    peak_mb = scorer.training_peak_mb()
    final = scorer.score(base)
    embed_s = _time_embedding(lambda x: base.predict(np.expand_dims(x / 255.0, -1), verbose=0), splits.test.images)
    compare_ms = _time_tutorial_compare(model, splits)
    return {
        "recipe": "tutorial",
        "train_s": train_s,
        "images_per_s": 2 * 64 * len(batches) / max(train_s, 1e-9),
        "peak_rss_mb": peak_mb,
        "peak_includes_scoring": scorer.peak_includes_scoring,
        "time_to_90_s": scorer.reached_s,
        "curve": scorer.curve,
        "embed_10k_s": embed_s,
        "compare_ms": compare_ms,
        "train_images": int(len(train_idx)),
        "pairs_gib": pairs.nbytes / 2**30,
        "pairs_s": pairs_s,
        **final,
    }


def _time_tutorial_compare(model, splits, repeats: int = 30) -> float:
    import tempfile

    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        a, b = _write_pair_pngs(splits, Path(tmp))

        def once():
            # The tutorial's way: read, scale, and run the pair model with predict().
            x = [np.expand_dims(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) / 255.0, (0, -1)) for p in (a, b)]
            return float(model.predict(x, verbose=0)[0, 0])

        once()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            once()
            times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[len(times) // 2]


def run_shipped(args) -> dict:
    from siamese_gui.core.evaluation.metrics import metrics_at, pair_distances, roc_auc
    from siamese_gui.core.io.locations import default_model_path
    from siamese_gui.core.runtime.loading import load_model_handle

    splits, _, _, _, test_pairs = _protocol()
    comparator = load_model_handle(default_model_path(), runtime="tensorflow", cache=False)
    distances = pair_distances(comparator.embed(splits.test.images), test_pairs)
    threshold = comparator.threshold.value
    at = metrics_at(distances, test_pairs.same, threshold)
    return {
        "recipe": "shipped",
        "accuracy": at.accuracy,
        "auc": roc_auc(distances, test_pairs.same),
        "threshold": threshold,
        "embed_10k_s": _time_embedding(comparator.embed, splits.test.images),
        "peak_rss_mb": _peak_rss_mb(),
    }


RECIPES = {"ours": run_ours, "ours-closed": run_ours_closed, "tutorial": run_tutorial, "shipped": run_shipped}


def _child(recipe: str, args) -> dict:
    command = [sys.executable, __file__, "--child", recipe, "--budget-s", str(args.budget_s),
               "--epochs", str(args.epochs), "--tutorial-epochs", str(args.tutorial_epochs)]
    command += ["--keep-sklearn"] if args.keep_sklearn else []
    print(f"running {recipe} ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{recipe} failed with exit code {done.returncode}")
    result = json.loads(lines[-1])
    print(json.dumps(result), flush=True)
    return result


def _fmt(value, pattern="{:.1f}"):
    return "not reached" if value is None else pattern.format(value)


def _ratio(ours, theirs, higher_is_better: bool) -> str:
    if ours is None or theirs is None:
        if ours is not None:
            return "reached only by ours"
        return "n/a"
    ratio = ours / theirs if higher_is_better else theirs / ours
    return f"{ratio:.2f}x"


def report(results: dict, args) -> str:
    ours, closed, tut, shipped = results["ours"], results["ours-closed"], results["tutorial"], results["shipped"]
    rows = [
        ("Pair accuracy, standard 20,000 test pairs", "{:.2%}", "accuracy", True),
        ("ROC AUC, same pairs", "{:.4f}", "auc", True),
        (f"Time to {TARGET_ACCURACY:.0%} pair accuracy (s)", "{:.1f}", "time_to_90_s", False),
        ("Peak resident memory while training (MiB)", "{:.0f}", "peak_rss_mb", False),
        ("Embed the 10,000 test images (s)", "{:.2f}", "embed_10k_s", False),
        ("One comparison of two image files (ms)", "{:.1f}", "compare_ms", False),
        ("Images trained per second", "{:.0f}", "images_per_s", True),
    ]
    lines = [
        "# Benchmark: tutorial recipe vs siamese-gui",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M')}.",
        f"Both recipes train on the same {ours['train_images']:,} Fashion-MNIST training images "
        f"with a {args.budget_s:.0f} s training budget (evaluation time excluded); ours uses "
        f"{args.epochs} epochs. Accuracy is at the threshold chosen "
        "on validation pairs from the training split.",
        "",
        f"| Measure | Tutorial recipe | Ours, default settings | Ratio | Ours, `--goal "
        f"{OTHER_GOAL}` | Ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for title, pattern, key, higher in rows:
        lines.append(
            f"| {title} | {_fmt(tut.get(key), pattern)} | {_fmt(ours.get(key), pattern)} | "
            f"{_ratio(ours.get(key), tut.get(key), higher)} | {_fmt(closed.get(key), pattern)} | "
            f"{_ratio(closed.get(key), tut.get(key), higher)} |"
        )
    lines += [
        "",
        f"Tutorial pairs materialised in memory: {tut['pairs_gib']:.2f} GiB of float64, "
        f"built in {tut['pairs_s']:.0f} s before its clock starts.",
        f"Training time used: tutorial {tut['train_s']:.0f} s, ours {ours['train_s']:.0f} s and "
        f"{closed['train_s']:.0f} s. Ratios: ours against the tutorial, above 1 is better.",
        f"Ours, default settings: {ours['histograms']}.",
        f"Ours, `--goal {OTHER_GOAL}` (the setting for classes the model never saw, scored "
        f"here on the classes it trained on): {closed['histograms']}.",
        "Peak memory: VmHWM of each recipe's process from its start until training ends"
        + (", accuracy checkpoints included (this kernel cannot restart the count)"
           if ours.get("peak_includes_scoring") or tut.get("peak_includes_scoring") else
           "; the count restarts after each accuracy checkpoint, so scoring is not counted")
        + (". scikit-learn importable." if args.keep_sklearn else
           ". Without scikit-learn, as the app is installed (see `hide_sklearn`)."),
        "",
        "Accuracy during training (seconds of training, pair accuracy; ours scored as it "
        "would be saved: the learned part so far, joined to the gradient histograms where the goal "
        "uses them, at the fallback share until the run chooses):",
        f"- tutorial: {tut['curve']}",
        f"- ours, default settings: {ours['curve']}",
        f"- ours, `--goal {OTHER_GOAL}`: {closed['curve']}",
        "",
        "## Shipped model (`models/fashion_mnist.keras`)",
        "",
        f"- pair accuracy on the standard test pairs at its stored threshold "
        f"{shipped['threshold']:.4f}: **{shipped['accuracy']:.2%}**",
        f"- ROC AUC: **{shipped['auc']:.4f}**",
        f"- embedding the 10,000 test images: {shipped['embed_10k_s']:.2f} s",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=120.0, help="training time per recipe")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of our recipe")
    parser.add_argument("--tutorial-epochs", type=int, default=2)
    parser.add_argument("--only", choices=sorted(RECIPES), action="append", help="run only these")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keep-sklearn", action="store_true",
                        help="let the recipes' subprocesses import scikit-learn (see hide_sklearn)")
    args = parser.parse_args()
    if args.child:
        if not args.keep_sklearn:
            hide_sklearn()
        print(json.dumps(RECIPES[args.child](args)))
        return 0
    results = {name: _child(name, args) for name in (args.only or ["shipped", "ours", "ours-closed", "tutorial"])}
    if len(results) == len(RECIPES):
        text = report(results, args)
        Path(args.out).write_text(text)
        print(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
