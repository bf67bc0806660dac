"""Render each panel of the desktop app into docs/ as PNG (offscreen).

Loads the shipped model (or --model) and the installed data (Fashion-MNIST, else the
bundled samples), fills the gallery, draws the threshold plots and runs a short real
training for the loss plot.

Usage:
    python scripts/screenshots.py [--model FILE.keras] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from siamese_gui.core.evaluation.metrics import Verdict  # noqa: E402
from siamese_gui.core.io.locations import default_model_path  # noqa: E402
from siamese_gui.core.model.config import TrainingConfig  # noqa: E402
from siamese_gui.gui.app import create_application  # noqa: E402
from siamese_gui.gui.main_window import MainWindow  # noqa: E402

SIZE = (1280, 820)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.02)


def save(window: MainWindow, panel, out: Path, name: str) -> None:
    window.tabs.setCurrentWidget(panel)
    wait_until(lambda: True, 1, "layout")
    path = out / f"{name}.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    parser.add_argument("--train-images", type=int, default=3000, help="images in the short training run")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model}: model not found (pass --model)")
    args.out.mkdir(parents=True, exist_ok=True)

    _app = create_application([sys.argv[0]])  # kept alive for the windows
    window = MainWindow(autoload=False)
    window.resize(*SIZE)
    window.show()
    window.start_loading(args.model)
    wait_until(lambda: window.state.evaluation is not None, 180, "the evaluation embeddings")
    state = window.state

    # Training first: its result is not used, so the other panels keep the shipped model.
    train = window.train_panel
    train.limit_spin.setValue(args.train_images)
    train.set_config(TrainingConfig(epochs=3, batch_size=64, seed=1))
    window.tabs.setCurrentWidget(train)
    train.start_training()
    wait_until(lambda: train.outcome is not None and not train.is_training, 600, "the training run")
    save(window, train, args.out, "train")

    compare = window.compare_panel
    compare._rng = np.random.default_rng(7)
    for _ in range(20):  # show a pair the model judges right, as a demo would
        compare.random_pair(same=True)
        wait_until(lambda: compare.distance is not None, 60, "the distance")
        if compare.verdict is Verdict.SAME:
            break
    save(window, compare, args.out, "compare")

    gallery = window.gallery_panel
    gallery.seed_spin.setValue(3)
    gallery.rebuild()
    save(window, gallery, args.out, "gallery")

    threshold = window.threshold_panel
    threshold.apply_preset("max_accuracy")
    save(window, threshold, args.out, "threshold")
    print(f"model {state.model_name}, data {state.test_data.source}, threshold {state.threshold.value:.3f}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
