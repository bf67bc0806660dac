"""The core's import contract: no Qt anywhere in it, no TensorFlow in its numpy-only parts."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

NUMPY_ONLY = [
    "siamese_gui.core",
    "siamese_gui.core.errors",
    "siamese_gui.core.model.config",
    "siamese_gui.core.io.locations",
    "siamese_gui.core.io.images",
    "siamese_gui.core.data.datasets",
    "siamese_gui.core.data.pairs",
    "siamese_gui.core.evaluation.metrics",
    "siamese_gui.core.runtime.handle",
    "siamese_gui.core.runtime.copies",
    "siamese_gui.core.runtime.export",
]
WITH_TENSORFLOW = ["siamese_gui.core.model.networks", "siamese_gui.core.training.train", "siamese_gui.core.runtime.store"]


def _imported_after(modules):
    """Import `modules` in a fresh interpreter; return the top-level names it then holds."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_numpy_only_modules_import_neither_qt_nor_tensorflow():
    loaded = _imported_after(NUMPY_ONLY + ["siamese_gui.cli.commands"])
    assert "siamese_gui" in loaded and "numpy" in loaded and "cv2" in loaded
    for heavy in ("PySide6", "shiboken6", "tensorflow", "keras", "matplotlib"):
        assert heavy not in loaded, f"{heavy} was imported by the numpy-only core"


def test_tensorflow_modules_do_not_import_qt():
    loaded = _imported_after(WITH_TENSORFLOW)
    assert "tensorflow" in loaded
    assert "PySide6" not in loaded and "shiboken6" not in loaded
