"""Write the bundled samples: a fixed subset of the Fashion-MNIST test split as PNG files.

    python scripts/make_samples.py [--data PATH] [--per-class 50]

Images are chosen with seed 0 and written to resources/samples/<k>_<class>/test-<index>.png,
so a person can also drag them into the Compare panel.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siamese_gui.core.data.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with the Fashion-MNIST .gz files")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "resources" / "samples"))
    args = parser.parse_args()
    test = load_fashion_mnist(args.data).test
    rng = np.random.default_rng(0)
    out = Path(args.out)
    for old in out.glob("*/"):  # class folders only: the licence notice stays
        shutil.rmtree(old)
    for label, name in enumerate(FASHION_MNIST_CLASSES):
        members = np.flatnonzero(test.labels == label)
        chosen = np.sort(rng.choice(members, size=args.per_class, replace=False))
        folder = out / f"{label}_{name.replace('/', '-').replace(' ', '-')}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in chosen:
            cv2.imwrite(str(folder / f"test-{index:05d}.png"), test.images[index])
    print(f"wrote {args.per_class * len(FASHION_MNIST_CLASSES)} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
