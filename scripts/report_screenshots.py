"""Render the Verify and Models panels into docs/ as PNG (offscreen).

Loads the shipped model (or --model) and the installed data, scores a CSV of pairs of
bundled sample images (a few of them broken on purpose) in the Verify panel, and
compares the model with --other in the Models panel.

Usage:
    python scripts/report_screenshots.py --other OTHER.keras [--model FILE.keras] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from siamese_gui.core.io.locations import default_model_path, samples_dir  # noqa: E402
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


def write_pairs_csv(folder: Path, count: int = 40, seed: int = 3) -> Path:
    """A CSV of pairs of bundled sample images (half same-class), plus two broken rows."""
    rng = np.random.default_rng(seed)
    classes = sorted(p for p in samples_dir().iterdir() if p.is_dir())
    files = {c: sorted(c.iterdir()) for c in classes}
    rows = ["image_a,image_b", f"{files[classes[0]][0]},photos/missing.png", "only-one-column.png"]
    for k in range(count):
        a = classes[rng.integers(len(classes))]
        b = a if k % 2 == 0 else classes[rng.integers(len(classes))]
        fa, fb = rng.choice(len(files[a]), 2, replace=False)
        rows.append(f"{files[a][fa]},{files[b][fb]}")
    path = folder / "pairs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--other", type=Path, required=True, help="a second model for the Models panel")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    create_application([sys.argv[0]])
    window = MainWindow(autoload=False)
    window.resize(*SIZE)
    window.show()
    window.start_loading(args.model)
    wait_until(lambda: window.state.evaluation is not None, 600, "the evaluation embeddings")

    verify = window.verify_panel
    window.tabs.setCurrentWidget(verify)
    with tempfile.TemporaryDirectory() as folder:
        verify.import_csv(write_pairs_csv(Path(folder)))
        wait_until(lambda: bool(verify.results), 300, "the verification")
        window.grab().save(str(args.out / "verify.png"))
        print(f"wrote {args.out / 'verify.png'}")

    models = window.models_panel
    window.tabs.setCurrentWidget(models)
    wait_until(lambda: len(models.scores) == 1, 900, "the current model's scores")
    models.add_model(args.other)
    wait_until(lambda: len(models.scores) == 2, 900, "the second model's scores")
    window.grab().save(str(args.out / "models.png"))
    print(f"wrote {args.out / 'models.png'}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
