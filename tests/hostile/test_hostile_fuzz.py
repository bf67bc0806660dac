"""A short run of scripts/fuzz.py on model archives, sidecars and search indexes (longer
runs: the script)."""

from __future__ import annotations

import importlib.util
import time

import pytest
from hostile_helpers import REPO_ROOT

pytest.importorskip("hypothesis")


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_script", REPO_ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", ["archives", "sidecars", "indexes"])
def test_fuzz_target_finds_nothing(fuzz, target, tmp_path):
    assert fuzz.run(target, 150, time.monotonic() + 60, tmp_path, seed=0) == 150


def test_fuzz_seeds_include_a_valid_model_archive(fuzz, tmp_path):
    from siamese_gui.core.runtime.archive import model_metadata, open_model_file

    path = tmp_path / "seed.keras"
    path.write_bytes(fuzz.archive_seeds()[0])
    assert model_metadata(open_model_file(path))["threshold"] == 0.5


def test_fuzz_seeds_include_valid_indexes(fuzz, tmp_path):
    from siamese_gui.core.app.search import SearchIndex

    for i, seed in enumerate(fuzz.index_seeds()):
        path = tmp_path / f"seed{i}.npz"
        path.write_bytes(seed)
        assert len(SearchIndex.load(path)) in (0, 3)
