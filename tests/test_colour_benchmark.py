"""The colour benchmark's own pieces on tiny synthetic files: which theme file an icon's
image comes from, the colour-only pairs' definition, the loader, the class-disjoint folds."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import colour  # noqa: E402 - benchmarks/colour.py
import colour_icons  # noqa: E402 - benchmarks/colour_icons.py


def test_pick_large_prefers_a_png_of_48_px_then_the_largest_svg():
    p = Path
    cands = [(32, p("a/32/x.png")), (48, p("a/48/x.png")), (256, p("a/256/x.png")), (0, p("a/scalable/x.svg"))]
    assert colour_icons.pick_large(cands) == (p("a/48/x.png"), "png")
    svgs = [(16, p("a/16/x.svg")), (0, p("a/scalable/x.svg")), (22, p("a/22/x.svg")), (32, p("a/32/x.png"))]
    assert colour_icons.pick_large(svgs) == (p("a/scalable/x.svg"), "svg")
    assert colour_icons.pick_large([(32, p("a/32/x.png")), (16, p("a/16/x.png"))]) == (p("a/32/x.png"), "png")
    assert colour_icons.pick_large([(16, p("a/16/x.png"))]) is None


def test_nominal_sizes_of_theme_folders():
    assert colour_icons._nominal_size(("48x48", "apps")) == 48
    assert colour_icons._nominal_size(("48x48@2x", "apps")) == 96
    assert colour_icons._nominal_size(("actions", "22")) == 22
    assert colour_icons._nominal_size(("scalable", "apps")) == 0
    assert colour_icons._nominal_size(("apps",)) is None


def test_scan_theme_skips_links_out_of_the_theme_and_symbolic_icons(tmp_path):
    theme, other = tmp_path / "T", tmp_path / "O"
    (theme / "48x48" / "apps").mkdir(parents=True)
    (other / "48x48").mkdir(parents=True)
    (theme / "48x48" / "apps" / "own.png").write_bytes(b"x")
    (theme / "48x48" / "apps" / "alias.png").symlink_to(theme / "48x48" / "apps" / "own.png")
    (theme / "48x48" / "apps" / "own-symbolic.png").write_bytes(b"x")
    (other / "48x48" / "borrowed.png").write_bytes(b"x")
    (theme / "48x48" / "apps" / "borrowed.png").symlink_to(other / "48x48" / "borrowed.png")
    assert sorted(colour_icons.scan_theme(theme)) == ["alias", "own"]


def test_colour_pairs_are_balanced_and_change_only_the_colour():
    entries = [
        {"icon": "folder", "family": "g", "variant": v, "rendering": r, "file": f"folder@g-{v}/{r}.png"}
        for v in ("blue", "red", "green")
        for r in ("large", "small")
    ]
    pairs = colour_icons.colour_pairs(entries)
    assert sum(p[2] for p in pairs) == 3 and len(pairs) == 6
    for a, b, same, icon, family in pairs:
        assert a.endswith("large.png") and b.endswith("small.png")  # both kinds change the size
        assert (a.split("/")[0] == b.split("/")[0]) == same  # and only "different" the colour


def test_distinct_classes_drop_aliases_of_one_drawing(tmp_path):
    files = {}
    for name in ("a1", "a2", "b1", "b2", "c1"):
        files[name] = tmp_path / f"{name}.png"
        files[name].write_bytes(name[0].encode() + name.encode())
    same_as = tmp_path / "copy.png"
    same_as.write_bytes(files["a1"].read_bytes())
    picked = {
        "edit-copy": {"f1": (files["a1"], "png"), "f2": (files["a2"], "png"), "f3": (files["b1"], "png")},
        "gtk-copy": {"f1": (same_as, "png"), "f2": (files["a2"], "png")},  # an alias: both images taken
        "folder": {"f1": (files["b2"], "png"), "f2": (files["c1"], "png")},
    }
    kept = colour_icons.distinct_classes(picked)
    assert set(kept) == {"edit-copy", "folder"}


def test_load_colour_composites_alpha_onto_white_and_letterboxes(tmp_path):
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[:, :20] = (255, 0, 0, 255)  # blue in OpenCV's BGRA, opaque, on the left half
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    grey = np.full((10, 10), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "b.png"), grey)
    images = colour.load_colour([tmp_path / "a.png", tmp_path / "b.png"], side=16)
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[0, 8, 2], [0, 0, 1], atol=1e-6)  # blue, as RGB
    np.testing.assert_allclose(images[0, 8, 13], [1, 1, 1])  # transparent: white
    np.testing.assert_allclose(images[0, 0, 2], [1, 1, 1])  # the letterbox: white
    np.testing.assert_allclose(images[1], 128 / 255, atol=1e-6)


def test_class_folds_are_class_disjoint():
    pytest.importorskip("sklearn")  # the benchmarks' GroupKFold; the app does not need it
    labels = np.repeat(np.arange(10), 3)
    data = colour.IconData([Path(f"{i}.png") for i in range(30)], labels, [f"c{i}" for i in range(10)],
                           np.tile(["f1", "f2", "f3"], 10), [], [])
    folds = colour.class_folds(data, 2)
    assert len(folds) == 2
    for fold in folds:
        assert not set(labels[fold.train]) & set(labels[fold.test])
        assert len(fold.train) + len(fold.test) == 30
    assert sorted(np.concatenate([f.test for f in folds])) == list(range(30))


if __name__ == "__main__":
    pytest.main([__file__])
