"""Time to a first answer: the LiteRT path side by side with the TensorFlow path.

Measures, in fresh processes on this machine, in one run:
  1. `siamese-gui compare A B` wall time with the shipped model's runtime copy (LiteRT),
     with `SIAMESE_GUI_RUNTIME=tensorflow` (the TensorFlow path), and
     `python -c "import tensorflow"` alone, interleaved run by run;
  2. embedding the 10,000 Fashion-MNIST test images with each path (after loading);
  3. the desktop app (offscreen): window visible, first verdict on the Compare panel
     (the random held-out pair it opens on), Gallery/Threshold ready (their first
     figures, on a seeded sample of the test images) and the Threshold panel on all the
     test images, for each path.
Writes the tables to benchmarks/results-startup.md.

Usage:
    python benchmarks/startup.py [--runs 5] [--app-runs 3] [--out benchmarks/results-startup.md]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {"LiteRT": {}, "TensorFlow": {"SIAMESE_GUI_RUNTIME": "tensorflow"}}
SAMPLES = sorted((ROOT / "resources" / "samples").glob("*/*.png"))

EMBED_CHILD = r"""
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, {root!r})
from siamese_gui.core.data.datasets import find_fashion_mnist, load_fashion_mnist, load_samples
from siamese_gui.core.runtime.loading import load_model_handle
from siamese_gui.core.io.locations import default_model_path
import numpy as np
folder = find_fashion_mnist()
if folder is not None:
    images, source = load_fashion_mnist(folder).test.images, "Fashion-MNIST test"
else:
    samples = load_samples()
    images, source = np.resize(samples.images, (10000, 28, 28)), "bundled samples, repeated"
loaded_data = time.perf_counter()
handle = load_model_handle(default_model_path(), cache=False)
loaded = time.perf_counter()
vectors = handle.embed(images)
done = time.perf_counter()
print(json.dumps({{"engine": handle.engine, "load_s": loaded - loaded_data, "embed_s": done - loaded,
                  "images": len(images), "source": source, "checksum": float(np.abs(vectors).sum())}}))
"""

APP_CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import siamese_gui.gui.app as app_module

def watch():
    for window in QApplication.topLevelWidgets():
        if type(window).__name__ != "MainWindow":  # not imported here: the app imports it late
            continue
        handle = window.windowHandle()
        if handle is not None and handle.isExposed() and "visible" not in seen:
            seen.add("visible"); print("visible", flush=True)
        if window.compare_panel.distance is not None and "verdict" not in seen:
            seen.add("verdict"); print("verdict", window.compare_panel.verdict, flush=True)
        evaluation = window.state.evaluation
        if evaluation is not None and window.panels_built and "ready" not in seen:
            seen.add("ready"); print("ready", flush=True)
        if (evaluation is not None and "full" not in seen
                and len(evaluation.data) >= min(len(window.state.test_data), 10000)):
            seen.add("full"); print("full", flush=True)
        if {{"verdict", "ready", "full"}} <= seen:
            window.close()

seen = set()
app_module.create_application()
timer = QTimer(); timer.timeout.connect(watch); timer.start(5)
sys.exit(app_module.run(None))
"""


def _env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SIAMESE_GUI_RUNTIME"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return {**env, **extra}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(argv: list[str], extra: dict) -> tuple[float, float]:
    """Run a command; return its wall time and its CPU time (user + system)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=_env(extra), cwd=ROOT, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return elapsed, _children_cpu() - cpu


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def measure_compare(runs: int) -> dict[str, list[tuple[float, float]]]:
    a, b = str(SAMPLES[0]), str(SAMPLES[len(SAMPLES) // 2])
    compare = [sys.executable, "-m", "siamese_gui", "compare", a, b]
    commands = {
        "compare, LiteRT path": (compare, PATHS["LiteRT"]),
        "compare, TensorFlow path": (compare, PATHS["TensorFlow"]),
        'python -c "import tensorflow"': ([sys.executable, "-c", "import tensorflow"], {}),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so a busy moment hits every command alike
        for name, (argv, extra) in commands.items():
            times[name].append(_wall(argv, extra))
    return times


def measure_embedding(runs: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in PATHS}
    for _ in range(runs):
        for name, extra in PATHS.items():
            done = subprocess.run(
                [sys.executable, "-c", EMBED_CHILD.format(root=str(ROOT))],
                env=_env(extra), capture_output=True, text=True, timeout=600,
            )
            if done.returncode != 0:
                raise RuntimeError(f"embedding with {name} failed: {done.stderr.strip()[-500:]}")
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def measure_app(runs: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in PATHS}
    for _ in range(runs):
        for name, extra in PATHS.items():
            start = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-c", APP_CHILD.format(root=str(ROOT))],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env=_env({**extra, "TF_CPP_MIN_LOG_LEVEL": "3"}),
            )
            times = {}
            for line in child.stdout:
                times[line.split()[0]] = time.perf_counter() - start
            child.wait(timeout=300)
            results[name].append(times)
    return results


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def report(compare, embedding, app, runs: int, app_runs: int, load_before: float | None = None) -> str:
    load = _load()
    busy = (f"; 1-minute load average {load_before:.1f} before and {load:.1f} after the run "
            "(above the core count means other work shared the CPUs and every time is inflated)"
            if load is not None and load_before is not None else "")
    lines = [
        "# Time to a first answer: LiteRT path vs TensorFlow path",
        "",
        f"Measured {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `python benchmarks/startup.py` "
        f"on {os.cpu_count()} CPU cores ({platform.machine()}, Python {platform.python_version()})"
        + busy + ".",
        "The LiteRT path runs the shipped model's runtime copy (`models/fashion_mnist.tflite`); the "
        "TensorFlow path is the same command with `SIAMESE_GUI_RUNTIME=tensorflow`. Every figure is the "
        "wall time of fresh processes: median (min, max).",
        "",
        f"## `siamese-gui compare A B` ({runs} runs each, interleaved)",
        "",
        "CPU time (user + system) is what the process itself used; on a busy machine it stays "
        "closer to the quiet-machine wall time than the wall time does.",
        "",
        "| command | wall time | CPU time |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {_summary([w for w, _ in values])} | {_summary([c for _, c in values])} |"
              for name, values in compare.items()]
    first = next(iter(embedding.values()))[0]
    lines += [
        "",
        f"## Embedding the {first['images']:,} {first['source']} images ({len(next(iter(embedding.values())))} "
        "runs each; after loading)",
        "",
        "| path | load the model | embed | images per second |",
        "| --- | --- | --- | --- |",
    ]
    for name, rows in embedding.items():
        embeds = [r["embed_s"] for r in rows]
        rate = rows[0]["images"] / statistics.median(embeds)
        lines.append(f"| {rows[0]['engine']} | {_summary([r['load_s'] for r in rows])} | "
                     f"{_summary(embeds)} | {rate:,.0f} |")
    lines += [
        "",
        f"## The app, offscreen ({app_runs} launches each)",
        "",
        "Seconds from process start. First verdict: Compare shows the distance and verdict of the "
        "random held-out pair it opens on. Ready: every panel is built and "
        "Gallery and Threshold show their first figures (pairs of a seeded sample of 2,000 test "
        "images, which the Threshold panel says); last column: the Threshold panel's figures on all "
        "10,000 test images (the standard 20,000 pairs).",
        "",
        "| path | window visible | first verdict | Gallery and Threshold ready (first figures) | "
        "Threshold on all the test images |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rows in app.items():
        cells = []
        for key in ("visible", "verdict", "ready", "full"):
            values = [r[key] for r in rows if key in r]
            cells.append(_summary(values) if values else "not reached")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each compare command")
    parser.add_argument("--embed-runs", type=int, default=2, help="runs of each embedding measurement")
    parser.add_argument("--app-runs", type=int, default=3, help="launches of the app per path")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-startup.md"))
    args = parser.parse_args()
    load_before = _load()
    compare = measure_compare(args.runs)
    print(json.dumps(compare), flush=True)
    embedding = measure_embedding(args.embed_runs)
    print(json.dumps(embedding), flush=True)
    app = measure_app(args.app_runs)
    print(json.dumps(app), flush=True)
    text = report(compare, embedding, app, args.runs, args.app_runs, load_before)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
