"""The layout holds: import contracts kept, no import circles, lint clean, no side effects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_import_contracts_are_kept():
    run = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_ruff_finds_nothing():
    run = subprocess.run(
        [_tool("ruff"), "check", "siamese_gui", "tests", "benchmarks", "scripts"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:]


def test_no_module_imports_another_around_a_circle():
    """Counting imports inside functions, as the layers contracts do."""
    import grimp

    graph = grimp.build_graph("siamese_gui")
    modules = sorted(graph.modules)
    circles = []
    for module in modules:
        for other in graph.find_modules_directly_imported_by(module):
            if other != module and graph.chain_exists(importer=other, imported=module):
                circles.append((module, other))
    assert circles == []


@pytest.mark.parametrize("package", [
    "siamese_gui.core", "siamese_gui.core.io", "siamese_gui.core.data", "siamese_gui.core.evaluation",
    "siamese_gui.core.model", "siamese_gui.core.training", "siamese_gui.core.runtime",
    "siamese_gui.core.app", "siamese_gui.cli",
])
def test_importing_a_package_has_no_side_effects(package):
    """No TensorFlow, no Qt, and no malloc setting just for importing."""
    code = (
        "import sys, ctypes\n"
        "calls = []\n"
        "class Libc:\n"
        "    def mallopt(self, *a):\n"
        "        calls.append(a); return 1\n"
        "ctypes.CDLL = lambda *a, **k: Libc()\n"
        f"import {package}\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow'\n"
        "assert 'PySide6' not in sys.modules, 'PySide6'\n"
        "assert not calls, calls\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
