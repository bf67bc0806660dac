"""What a large folder's split record costs when a model is loaded.

    python benchmarks/big_record.py [--images 0,10000,100000,200000] [--repeats 3]
                                    [--out benchmarks/results-big-record.md]

For each size, a tiny pair model is saved with the metadata `train` writes for a folder of
that many images (made-up paths "class 00042/image_0001234.png" in 500 classes, 70/15/15,
made-up SHA-256; 0 means a model without a file list). Each load then runs in a fresh
Python, as the command line does, and reports its wall time and the process's peak
resident memory (VmHWM):

- metadata: `core.runtime.copies.read_metadata` (read, vet and decode the file; no Keras),
  and the Python allocations' peak (tracemalloc) of a second such call;
- LiteRT: `load_model_handle` through the model's runtime copy (what `compare` does);
- TensorFlow: `load_model_handle(runtime="tensorflow")`.

The best of `--repeats` runs is reported; the record's cost is the difference from the
row of 0 images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time, tracemalloc
mode, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if mode == "metadata":
    from siamese_gui.core.runtime.copies import read_metadata
    t0 = time.perf_counter()
    info = read_metadata(path)
    seconds = time.perf_counter() - t0
    del info
    tracemalloc.start()  # a second read, traced (tracing slows it down several times)
    info = read_metadata(path)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
else:
    from siamese_gui.core.runtime.loading import load_model_handle
    t0 = time.perf_counter()
    handle = load_model_handle(path, runtime="auto" if mode == "litert" else "tensorflow", cache=False)
    seconds = time.perf_counter() - t0
    traced = None
    info = handle.metadata
    assert mode != "litert" or handle.engine.startswith("LiteRT"), handle.engine
with open("/proc/self/status") as status:
    peak = int([line.split()[1] for line in status if line.startswith("VmHWM:")][0]) / 1024
files = (info.get("split") or {}).get("files") or {}
print(json.dumps({"seconds": seconds, "peak_mib": peak, "traced_mib": None if traced is None else traced / 2**20,
                  "images": sum(len(e["sha256"]) for e in files.values())}))
"""


def folder_metadata(images: int, classes: int = 500) -> dict:
    """The metadata `train` writes for a folder of `images` images (none: no file list)."""
    class_names = [f"class {c:05d}" for c in range(classes)]
    split = {"kind": "image_folder", "seed": 0, "seen_classes": class_names, "unseen_classes": []}
    if images:
        paths = [f"class {i % classes:05d}/image_{i:07d}.png" for i in range(images)]
        hashes = [hashlib.sha256(f"image {i}".encode()).hexdigest() for i in range(images)]
        cuts = (0, int(images * 0.7), int(images * 0.85), images)
        split["files"] = {role: {"paths": paths[a:b], "sha256": hashes[a:b]}
                          for role, a, b in zip(("train", "validation", "test"), cuts, cuts[1:])}
        split["counts"] = {role: len(entry["paths"]) for role, entry in split["files"].items()}
        split["root"] = "/data/big"
    return {"threshold": 0.5, "class_names": class_names, "split": split,
            "data_source": "image folder /data/big"}


def save(folder: Path, images: int) -> Path:
    import keras

    from siamese_gui.core.model.networks import build_pair_model
    from siamese_gui.core.runtime.store import save_model

    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(64)(keras.layers.Flatten()(inputs)), name="embedding")
    return save_model(build_pair_model(embedding), folder / f"model-{images}.keras", folder_metadata(images))


def measure(mode: str, path: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], capture_output=True, text=True,
                              env=env, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda run: run["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="0,10000,100000,200000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results-big-record.md"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from siamese_gui.core.runtime.tensorflow import start_tensorflow

    start_tensorflow()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for images in (int(n) for n in args.images.split(",")):
            path = save(Path(tmp), images)
            import zipfile

            with zipfile.ZipFile(path) as zipped:
                data = zipped.getinfo("siamese_gui_data.bin")
                small = zipped.getinfo("siamese_gui.json").file_size
            row = {"images": images, "file_mib": path.stat().st_size / 2**20, "data_mib": data.file_size / 2**20,
                   "json_kib": small / 2**10}
            for mode in ("metadata", "litert", "tensorflow"):
                result = measure(mode, path, args.repeats)
                assert result["images"] == images, result
                row[mode] = result
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = [
        "# Loading a model with a large split record",
        "",
        "`python benchmarks/big_record.py` (see its docstring): a tiny model saved with the",
        "record of a folder of N images; each load in a fresh Python, best of "
        f"{args.repeats}; time in seconds, peak resident memory (VmHWM) in MiB; \"traced\" is",
        "the peak of Python's allocations during a second `read_metadata`, traced apart.",
        "",
        "| images | file MiB | data member MiB (inflated) | siamese_gui.json KiB | metadata s | traced MiB "
        "| metadata peak MiB | LiteRT load s | LiteRT peak MiB | TensorFlow load s | TensorFlow peak MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        m, lite, tf = row["metadata"], row["litert"], row["tensorflow"]
        lines.append(
            f"| {row['images']:,} | {row['file_mib']:.1f} | {row['data_mib']:.1f} | {row['json_kib']:.1f} "
            f"| {m['seconds']:.3f} | {m['traced_mib']:.1f} | {m['peak_mib']:.0f} | {lite['seconds']:.3f} "
            f"| {lite['peak_mib']:.0f} | {tf['seconds']:.2f} | {tf['peak_mib']:.0f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
