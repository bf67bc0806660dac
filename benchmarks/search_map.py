"""Benchmark search by example, the embedding map and retrieval quality.

Measures, with the shipped model (or --model):
- `index` of 100,000 28x28 PNG files (Fashion-MNIST train + test, topped up to 100,000
  with copies shifted by one pixel, written once into a work folder in class
  sub-folders): wall time, peak memory beyond the embeddings, and a re-index after
  1,000 files changed;
- `search` after the index is loaded: median time of 100 queries (embedding the query
  plus the exact numpy top-10 search), and the search alone with numpy and faiss;
- the embedding map of the 10,000 test images: PCA, a first 10,000-point scatter drawn
  with matplotlib (Agg), t-SNE (openTSNE, one thread), and in the real Map panel
  (offscreen Qt) the time to the PCA picture, to the t-SNE picture and the longest
  event-loop stall meanwhile;
- precision@1, R-precision and MAP@R on the Fashion-MNIST test split (each image against
  the other 9,999), to compare with what `siamese-gui evaluate` prints.

Each measurement runs in its own process (peak memory is per process). Results go to
benchmarks/results-search-map.md.

Usage:
    nice -n 5 python benchmarks/search_map.py [--images 100000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

QUERIES = 100
TOP_K = 10
MAP_POINTS = 10_000
CHANGED = 1_000
STAGE_FILES = 5_000


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_s() -> float:
    """CPU time of this process (user + system), all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_handle(model: str):
    """The model as the CLI loads it: its LiteRT runtime copy where it has one."""
    from siamese_gui.core.runtime.loading import load_model_handle

    handle = load_model_handle(model)
    handle.embed(np.zeros((2, 28, 28), np.uint8))  # build the graph before timing
    return handle


# Phases (each in a child process) -----------------------------------------------------


def phase_write(args) -> dict:
    import cv2

    from siamese_gui.core.data.datasets import load_fashion_mnist

    folder = Path(args.workdir) / "gallery"
    marker = folder / f".complete-{args.images}"
    if marker.exists():
        return {"written": 0, "seconds": 0.0, "folder": str(folder)}
    splits = load_fashion_mnist()
    images = np.concatenate([splits.train.images, splits.test.images])
    labels = np.concatenate([splits.train.labels, splits.test.labels])
    start = time.perf_counter()
    for c in range(10):
        (folder / f"{c}").mkdir(parents=True, exist_ok=True)
    for i in range(args.images):
        base = i % len(images)
        image = images[base]
        if i >= len(images):  # top up with copies shifted by one pixel
            shift = (1, 0) if (i // len(images)) % 2 else (0, 1)
            image = np.roll(image, shift, axis=(0, 1))
        ok, encoded = cv2.imencode(".png", image)
        (folder / f"{labels[base]}" / f"{i:06d}.png").write_bytes(encoded.tobytes())
    marker.write_text("ok")
    return {"written": args.images, "seconds": time.perf_counter() - start, "folder": str(folder)}


def phase_index(args) -> dict:
    from siamese_gui.core.app.search import SearchIndex, update_index_file

    folder = Path(args.workdir) / "gallery"
    out = Path(args.workdir) / "gallery.npz"
    out.unlink(missing_ok=True)
    handle = load_handle(args.model)
    before = rss_mb()
    start, cpu = time.perf_counter(), cpu_s()
    index, update = update_index_file(folder, handle, out)
    seconds, cpu = time.perf_counter() - start, cpu_s() - cpu
    peak = peak_mb()
    embeddings_mb = index.embeddings.nbytes / 2**20
    return {
        "load": os.getloadavg()[0], "images": len(index), "dim": int(index.embeddings.shape[1]), "seconds": seconds, "cpu_s": cpu,
        "embedded": update.embedded, "rss_before_mb": before, "peak_mb": peak,
        "embeddings_mb": embeddings_mb, "beyond_mb": peak - before - embeddings_mb,
        "index_file_mb": out.stat().st_size / 2**20, "load_s": _time(lambda: SearchIndex.load(out)),
    }


def _time(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def phase_stages(args) -> dict:
    """CPU time per file of each stage of `index`, on the first 5,000 files."""
    import hashlib

    from siamese_gui.core.data.datasets import list_image_files
    from siamese_gui.core.io.images import decode_image, read_image_bytes

    files = [path for path, _ in list_image_files(Path(args.workdir) / "gallery")][:STAGE_FILES]
    handle = load_handle(args.model)
    cpu = cpu_s()
    data = [read_image_bytes(path) for path in files]
    [hashlib.sha256(d).hexdigest() for d in data]
    read_cpu = cpu_s() - cpu
    cpu = cpu_s()
    images = np.stack([decode_image(d, "x") for d in data])
    decode_cpu = cpu_s() - cpu
    cpu, start = cpu_s(), time.perf_counter()
    handle.embed(images)
    embed_cpu, embed_wall = cpu_s() - cpu, time.perf_counter() - start
    per = 1e6 / len(files)
    return {"files": len(files), "read_hash_us": read_cpu * per, "decode_us": decode_cpu * per,
            "embed_cpu_us": embed_cpu * per, "embed_wall_us": embed_wall * per, "load": os.getloadavg()[0]}


def phase_reindex(args) -> dict:
    import cv2

    from siamese_gui.core.app.search import update_index_file

    folder = Path(args.workdir) / "gallery"
    out = Path(args.workdir) / "gallery.npz"
    handle = load_handle(args.model)
    start = time.perf_counter()
    _, unchanged = update_index_file(folder, handle, out)
    unchanged_s = time.perf_counter() - start
    files = sorted(folder.rglob("*.png"))[:CHANGED]
    for path in files:  # change the pixels of 1,000 files
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
        path.write_bytes(cv2.imencode(".png", 255 - image)[1].tobytes())
    start = time.perf_counter()
    _, changed = update_index_file(folder, handle, out)
    changed_s = time.perf_counter() - start
    for path in files:  # put them back for the next run
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
        path.write_bytes(cv2.imencode(".png", 255 - image)[1].tobytes())
    return {"unchanged_s": unchanged_s, "unchanged_embedded": unchanged.embedded,
            "changed_s": changed_s, "changed_embedded": changed.embedded}


def phase_query(args) -> dict:
    from siamese_gui.core.app.search import (
        ExactSearch,
        SearchIndex,
        faiss_available,
        make_search,
        nearest,
    )
    from siamese_gui.core.data.datasets import load_fashion_mnist

    out = Path(args.workdir) / "gallery.npz"
    handle = load_handle(args.model)
    start = time.perf_counter()
    index = SearchIndex.load(out)
    index.check_model(handle, out)
    searcher = ExactSearch(index.embeddings)
    load_s = time.perf_counter() - start
    test = load_fashion_mnist().test
    queries = test.images[np.random.default_rng(0).choice(len(test), QUERIES, replace=False)]
    threshold = handle.threshold.value
    full, alone = [], []
    for query in queries:
        start = time.perf_counter()
        embedding = handle.embed(query[None].astype(np.float32) / 255.0)[0]
        middle = time.perf_counter()
        nearest(searcher, embedding, TOP_K, threshold)
        end = time.perf_counter()
        full.append(end - start)
        alone.append(end - middle)
    result = {"load_s": load_s, "query_ms": 1000 * float(np.median(full)),
              "search_ms": 1000 * float(np.median(alone)), "images": len(index)}
    if faiss_available():
        faiss_search = make_search(index.embeddings, "faiss")
        vectors = handle.embed(queries)
        times = []
        for v in vectors:
            start = time.perf_counter()
            faiss_search.search(v[None], TOP_K)
            times.append(time.perf_counter() - start)
        result["faiss_search_ms"] = 1000 * float(np.median(times))
        d_np, i_np = searcher.search(vectors, TOP_K)
        d_fa, i_fa = faiss_search.search(vectors, TOP_K)
        result["faiss_same_top1"] = float(np.mean(i_np[:, 0] == i_fa[:, 0]))
    return result


def phase_map(args) -> dict:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from siamese_gui.core.app.projection import pca_2d, tsne_2d
    from siamese_gui.core.data.datasets import load_fashion_mnist
    from siamese_gui.core.evaluation.retrieval import retrieval_metrics

    handle = load_handle(args.model)
    test = load_fashion_mnist().test
    start = time.perf_counter()
    embeddings = handle.embed(test.images)
    embed_s = time.perf_counter() - start
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    metrics = retrieval_metrics(embeddings, test.labels)
    metrics_s = time.perf_counter() - start
    start = time.perf_counter()
    layout = pca_2d(embeddings[:MAP_POINTS])
    pca_s = time.perf_counter() - start
    start = time.perf_counter()
    figure = Figure(figsize=(7, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.scatter(layout[:, 0], layout[:, 1], c=test.labels[:MAP_POINTS], cmap="tab10", s=9, linewidths=0)
    figure.canvas.draw()
    draw_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), cpu_s()
    tsne_2d(embeddings[:MAP_POINTS])
    tsne_s, tsne_cpu = time.perf_counter() - start, cpu_s() - cpu
    return {"embed_s": embed_s, "pca_s": pca_s, "draw_s": draw_s, "tsne_s": tsne_s, "tsne_cpu_s": tsne_cpu,
            "load": load_before, "points": MAP_POINTS,
            "metrics_s": metrics_s, **metrics.as_dict()}


def phase_gui(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from siamese_gui.core.data.datasets import DataSplits, load_fashion_mnist
    from siamese_gui.gui.panels.map import MapPanel
    from siamese_gui.gui.state import AppState

    app = QApplication.instance() or QApplication([])
    handle = load_handle(args.model)
    test = load_fashion_mnist().test
    state = AppState()
    state.set_data(DataSplits(test, test))
    state.set_model(handle)
    runner = state.runner
    panel = MapPanel(state, runner)
    panel.points_spin.setValue(MAP_POINTS)
    panel.resize(1100, 750)
    panel.show()
    # As a user meets it: the test evaluation behind Gallery and Threshold is done.
    deadline = time.perf_counter() + 300
    while state.evaluation is None and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    for _ in range(10):
        app.processEvents()
    events = []  # (method, when its picture was drawn on the canvas)

    def drawn(_event):
        method = panel.data.method if panel.data is not None else None
        if method is not None and method not in [m for m, _ in events]:
            events.append((method, time.perf_counter()))

    panel.canvas.mpl_connect("draw_event", drawn)
    ticks = QElapsedTimer()
    stall = [0.0]
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        stall[0] = max(stall[0], now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    ticks.start()
    start = time.perf_counter()
    last[0] = start
    QTest.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    deadline = start + 600
    while len(events) < 2 and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    result = {
        "pca_picture_s": events[0][1] - start if events else None,
        "tsne_picture_s": events[1][1] - start if len(events) > 1 else None,
        "max_stall_ms": 1000 * stall[0], "points": len(panel.data.labels) if panel.data else 0,
    }
    runner.shutdown()
    return result


PHASES = {"write": phase_write, "index": phase_index, "stages": phase_stages, "reindex": phase_reindex,
          "query": phase_query,
          "map": phase_map, "gui": phase_gui}


def child(phase: str, args) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--images", str(args.images),
               "--workdir", args.workdir, "--model", args.model]
    print(f"running {phase}…", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {result}", file=sys.stderr, flush=True)
    return result


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def report(results: dict, args) -> str:
    w, i, r, q, m, g, st = (results[k] for k in ("write", "index", "reindex", "query", "map", "gui", "stages"))
    loads = [p["load"] for p in (i, st, m) if "load" in p]
    lines = [
        "# Search, embedding map and retrieval: measurements",
        "",
        f"Measured by `python benchmarks/search_map.py` on {platform.machine()} with {os.cpu_count()} CPU "
        f"cores (1-minute load average between {min(loads):.1f} and {max(loads):.1f} during the timed "
        "phases; above the core count would mean other work shared the CPUs), the shipped model "
        "`models/fashion_mnist.keras` as the CLI loads it (its LiteRT runtime copy), "
        f"Python {platform.python_version()}. Each phase runs in its own process.",
        "",
        "| What | Target | Measured |",
        "|---|---|---|",
        f"| `index` of {i['images']:,} 28x28 PNG files (read, SHA-256, decode, embed, save) | ≤ 60 s on 2 cores "
        f"| {i['seconds']:.1f} s wall, {i['cpu_s']:.1f} s CPU ({_met(i['seconds'], 60)}) |",
        f"| memory of `index` beyond the embeddings ({i['embeddings_mb']:.0f} MB: {i['images']:,} x {i['dim']} "
        f"float32) | ≤ 0.5 GB | {i['beyond_mb']:.0f} MB (peak RSS {i['peak_mb']:.0f} MB − "
        f"{i['rss_before_mb']:.0f} MB with the model loaded − embeddings) |",
        f"| of which, CPU per file: read + SHA-256 / decode to 28x28 / embed (on {st['files']:,} files) | — | "
        f"{st['read_hash_us']:.0f} / {st['decode_us']:.0f} / {st['embed_cpu_us']:.0f} µs "
        f"(embed wall {st['embed_wall_us']:.0f} µs); decoding runs while the previous chunk is embedded |",
        f"| re-`index`, nothing changed | — | {r['unchanged_s']:.1f} s ({r['unchanged_embedded']} embedded) |",
        f"| re-`index`, {CHANGED:,} files changed | — | {r['changed_s']:.1f} s ({r['changed_embedded']} embedded) |",
        f"| `search` one query over {q['images']:,} after loading (embed query + exact numpy top-{TOP_K}), "
        f"median of {QUERIES} | ≤ 20 ms | {q['query_ms']:.1f} ms ({_met(q['query_ms'], 20)}) |",
        f"| of which the exact numpy search | — | {q['search_ms']:.1f} ms |",
    ]
    if "faiss_search_ms" in q:
        lines.append(f"| the same search with faiss `IndexFlatL2` | — | {q['faiss_search_ms']:.1f} ms "
                     f"(same nearest image for {100 * q['faiss_same_top1']:.0f} % of queries) |")
    first_picture = m["pca_s"] + m["draw_s"]
    lines += [
        f"| loading the index file ({i['index_file_mb']:.0f} MB) + building the searcher | — | {q['load_s']:.2f} s |",
        f"| map of {m['points']:,} test embeddings: PCA | — | {1000 * m['pca_s']:.0f} ms |",
        f"| map: PCA + first {m['points']:,}-point scatter drawn (Agg) | ≤ 1 s | "
        f"{first_picture:.2f} s ({_met(first_picture, 1)}) |",
        f"| map: t-SNE (openTSNE, 1 thread, FFT gradients with 1 interpolation point) | ≤ 60 s | "
        f"{m['tsne_s']:.1f} s wall, {m['tsne_cpu_s']:.1f} s CPU ({_met(m['tsne_s'], 60)}) |",
    ]
    if g.get("pca_picture_s") is not None:
        lines += [
            f"| Map panel (offscreen Qt, after the app's test evaluation is ready, whose embeddings it "
            f"reuses): click to PCA picture drawn | ≤ 1 s | {g['pca_picture_s']:.2f} s "
            f"({_met(g['pca_picture_s'], 1)}) |",
            f"| Map panel, click to t-SNE picture drawn | ≤ 60 s | {g['tsne_picture_s']:.1f} s "
            f"({_met(g['tsne_picture_s'], 60)}) |",
            f"| Map panel, longest event-loop stall meanwhile (10 ms timer) | responsive | "
            f"{g['max_stall_ms']:.0f} ms |",
        ]
    lines += [
        "",
        "## Retrieval on the Fashion-MNIST test split",
        "",
        f"Each of the {m['queries']:,} test images is a query against the other 9,999 (leave-self-out; "
        "definitions as in pytorch-metric-learning's AccuracyCalculator). `siamese-gui evaluate` prints "
        "the same figures from the same function (`core.retrieval.retrieval_metrics`).",
        "",
        "| precision@1 | R-precision | MAP@R |",
        "|---|---|---|",
        f"| {m['precision_at_1']:.4f} | {m['r_precision']:.4f} | {m['map_at_r']:.4f} |",
        "",
        f"(computing them took {m['metrics_s']:.1f} s.)",
        "",
        "## How the gallery was made",
        "",
        f"{i['images']:,} PNG files in 10 class folders: the 70,000 Fashion-MNIST train and test images, "
        "topped up with copies shifted by one pixel. Writing them took "
        f"{w['seconds']:.0f} s (once; not part of the `index` time).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/siamese-search-bench")
    parser.add_argument("--model", default=str(ROOT / "models" / "fashion_mnist.keras"))
    parser.add_argument("--phase", choices=PHASES)
    parser.add_argument("--resume", action="store_true", help="keep the phases already in the .json results")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-search-map.md")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    saved = args.out.with_suffix(".json")
    results = json.loads(saved.read_text()) if args.resume and saved.exists() else {}
    for phase in PHASES:
        if phase not in results:
            results[phase] = child(phase, args)
            saved.write_text(json.dumps(results, indent=2))
    text = report(results, args)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
