"""Measure how fast the desktop app shows its window and becomes usable.

Starts `python -m siamese_gui` as a new user would (a fresh process) and reports the
seconds from process start until the main window is exposed on screen, and until the
model, the data and the evaluation pairs are ready. Run it under a display, for example
`xvfb-run -a python scripts/measure_startup.py`, or offscreen.

Usage:
    python scripts/measure_startup.py [--runs 3] [--model FILE.keras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import siamese_gui.gui.app as app_module
from siamese_gui.gui.main_window import MainWindow

def watch():
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow):
            handle = widget.windowHandle()
            if handle is not None and handle.isExposed() and "visible" not in seen:
                seen.add("visible"); print("visible", flush=True)
            if widget.state.model is not None and "model" not in seen:
                seen.add("model"); print("model", flush=True)
            if widget.state.evaluation is not None and "ready" not in seen:
                seen.add("ready"); print("ready", flush=True); widget.close()

seen = set()
app_module.create_application()
timer = QTimer(); timer.timeout.connect(watch); timer.start(5)
sys.exit(app_module.run({model!r}))
"""


def measure(model: str | None) -> dict[str, float]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), model=model)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    times = {}
    for line in child.stdout:
        times[line.strip()] = time.perf_counter() - start
    child.wait(timeout=300)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="model to open instead of the shipped one")
    args = parser.parse_args()
    results = [measure(args.model) for _ in range(args.runs)]
    for key, label in (("visible", "window visible"), ("model", "model loaded"),
                       ("ready", "gallery and threshold ready")):
        values = [r[key] for r in results if key in r]
        if values:
            print(f"{label:>28}: median {statistics.median(values):.2f} s  "
                  f"(runs: {', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
