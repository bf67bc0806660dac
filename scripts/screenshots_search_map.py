"""Render the Search, Map and explained-Compare panels into docs/ as PNG (offscreen).

Loads the shipped model (or --model) and the installed data (Fashion-MNIST, else the
bundled samples); every image shown comes from the test split.

Usage:
    python scripts/screenshots_search_map.py [--model FILE.keras] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from scripts.screenshots import SIZE, save, wait_until  # noqa: E402
from siamese_gui.core.io.locations import default_model_path  # noqa: E402
from siamese_gui.gui.app import create_application  # noqa: E402
from siamese_gui.gui.main_window import MainWindow  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    parser.add_argument("--map-points", type=int, default=3000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    create_application([sys.argv[0]])
    window = MainWindow(autoload=False)
    window.resize(*SIZE)
    window.show()
    window.start_loading(args.model)
    wait_until(lambda: window.state.evaluation is not None, 300, "the evaluation embeddings")
    data = window.state.test_data

    # Search: a test sneaker against the 10,000 test images.
    search = window.search_panel
    window.tabs.setCurrentWidget(search)
    query = int(np.flatnonzero(data.labels == 7)[3])
    search.query.set_from_dataset(query)
    QTest.mouseClick(search.search_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: bool(search.results), 300, "the search results")
    save(window, search, args.out, "search")

    # Map: PCA at once, then t-SNE; hover one point and pick one.
    panel = window.map_panel
    window.tabs.setCurrentWidget(panel)
    panel.points_spin.setValue(args.map_points)
    QTest.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: panel.data is not None and panel.data.method == "t-SNE", 900, "the t-SNE map")
    wait_until(lambda: len(panel.mistakes) == len(panel.data.labels), 120, "the nearest neighbours")
    panel.canvas.draw()
    wait_until(lambda: True, 1, "layout")
    marked = np.flatnonzero(panel.mistakes)
    point = int(marked[0]) if len(marked) else 0
    position = QPoint(*panel.point_position(point))
    QTest.mouseMove(panel.canvas, position)
    QTest.mouseClick(panel.canvas, Qt.MouseButton.LeftButton, pos=position)
    wait_until(lambda: True, 1, "hover")
    save(window, panel, args.out, "map")

    # Compare with the occlusion overlay: a same-class pair the model judges right.
    compare = window.compare_panel
    window.tabs.setCurrentWidget(compare)
    compare._rng = np.random.default_rng(11)
    compare.explain_check.setChecked(True)
    for _ in range(20):
        compare.random_pair(same=True)
        wait_until(lambda: compare.distance is not None, 60, "the distance")
        if compare.verdict == "Same":
            break
    wait_until(lambda: compare.occlusion is not None, 60, "the occlusion maps")
    save(window, compare, args.out, "compare-explain")
    print(f"model {window.state.model_name}, data {data.source}, threshold {window.state.threshold.value:.3f}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
