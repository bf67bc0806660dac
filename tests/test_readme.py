"""The README's Python examples run as written, on the files the repository ships.

Every ```python block is read; one whose file names (string literals ending in a file
suffix) all exist in the repository is run from the repository root, unchanged, in a
fresh interpreter. A block that names a file made by an earlier command (an ONNX export)
is left out; at least the LiteRT example must run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, cli_env

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_FILE = re.compile(r"\.(json|tflite|onnx|keras|png|jpe?g|npz|csv)$")


def _blocks() -> list[str]:
    return _BLOCK.findall((REPO_ROOT / "README.md").read_text(encoding="utf-8"))


def _files(code: str) -> list[str]:
    """The file names a block's code holds as string literals."""
    return [node.value for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FILE.search(node.value)]


def _modules(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _runnable() -> list[str]:
    return [code for code in _blocks() if all((REPO_ROOT / name).is_file() for name in _files(code))]


def test_the_readme_has_python_examples_on_shipped_files():
    blocks = _blocks()
    assert len(blocks) >= 2
    runnable = _runnable()
    assert any("ai_edge_litert" in code for code in runnable), "the LiteRT example names files not shipped"


@pytest.mark.parametrize("code", _runnable(), ids=lambda code: sorted(_modules(code) - {"json", "numpy"})[0])
def test_readme_example_runs_as_written(code):
    missing = [m for m in _modules(code) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # The example prints the verdict at the card's threshold, with its origin.
    card = json.loads((REPO_ROOT / next(f for f in _files(code) if f.endswith(".json"))).read_text())
    match = re.fullmatch(r"distance (\d+\.\d{4}): (same|different) at (\d+\.\d{4}) \((\w+): (.+)\)\n",
                         run.stdout)
    assert match, run.stdout
    distance, verdict, threshold, origin, detail = match.groups()
    assert float(threshold) == pytest.approx(card["threshold"], abs=5e-5)
    assert (origin, detail) == (card["threshold_origin"], card["threshold_detail"])
    assert verdict == ("same" if float(distance) < card["threshold"] else "different")
