"""LiteRT or ONNX Runtime for the TensorFlow-free path: import time, latency, throughput.

Exports the shipped model's embedding network to ONNX in a temp folder (the `.tflite`
copy ships in models/), then in fresh processes, interleaved run by run, measures for
each runtime: the import of the runtime module, loading the file, the median latency of
embedding one pair (50 calls after a warm-up), and embedding 10,000 images in batches of
256 (random images: the arithmetic does not depend on the pixels). Writes
benchmarks/results-runtimes.md.

Usage:
    python benchmarks/runtimes.py [--runs 3]   (needs `pip install "siamese-gui[onnx]"`)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
imported_numpy = time.perf_counter()
sys.path.insert(0, {root!r})
path = {path!r}
if path.endswith(".onnx"):
    import onnxruntime
    imported = time.perf_counter()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    run = lambda x: session.run(None, {{name: x}})[0]
else:
    import ai_edge_litert.interpreter
    imported = time.perf_counter()
    from siamese_gui.core.runtime.copies import LiteRTEmbedder
    run = LiteRTEmbedder(path)
loaded = time.perf_counter()
rng = np.random.default_rng(0)
pair = rng.random((2, 28, 28, 1), dtype=np.float32)
run(pair)
latencies = []
for _ in range(50):
    t = time.perf_counter(); run(pair); latencies.append(time.perf_counter() - t)
images = rng.random((10000, 28, 28, 1), dtype=np.float32)
t = time.perf_counter()
for i in range(0, len(images), 256):
    run(images[i:i + 256])
bulk = time.perf_counter() - t
print(json.dumps({{"import_s": imported - imported_numpy, "load_s": loaded - imported,
                  "pair_ms": 1000 * float(np.median(latencies)), "bulk_s": bulk}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-runtimes.md"))
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        onnx = Path(folder) / "fashion_mnist.onnx"
        subprocess.run([sys.executable, "-m", "siamese_gui", "export", str(ROOT / "models" / "fashion_mnist.keras"),
                        "--format", "onnx", "--out", str(onnx)], check=True, env=env, cwd=ROOT)
        files = {"LiteRT (ai-edge-litert)": str(ROOT / "models" / "fashion_mnist.tflite"),
                 "ONNX Runtime": str(onnx)}
        results = {name: [] for name in files}
        for _ in range(args.runs):
            for name, path in files.items():
                done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), path=path)],
                                      capture_output=True, text=True, env=env, check=True, timeout=600)
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps(results))

    def cell(rows, key, unit):
        values = [r[key] for r in rows]
        return f"{statistics.median(values):.{1 if unit == 'ms' else 2}f} {unit} (min {min(values):.2f})"

    lines = [
        "# TensorFlow-free runtimes for the embedding network",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC by `python benchmarks/runtimes.py` on "
        f"{os.cpu_count()} CPU cores ({platform.machine()}, Python {platform.python_version()}); 1-minute load "
        f"average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after (above the core count means other "
        f"work shared the CPUs). Shipped model, {args.runs} fresh processes per runtime, interleaved: median (min).",
        "",
        "| runtime | import | load the file | one pair | 10,000 images (batches of 256) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rows in results.items():
        lines.append(f"| {name} | {cell(rows, 'import_s', 's')} | {cell(rows, 'load_s', 's')} | "
                     f"{cell(rows, 'pair_ms', 'ms')} | {cell(rows, 'bulk_s', 's')} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
