"""Quiet from a terminal: no TensorFlow banners, no retracing warnings, whichever module
imports TensorFlow first and however many networks a process compiles."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT, cli_env

from siamese_gui.core.io.locations import default_model_path, samples_dir

PACKAGE = REPO_ROOT / "siamese_gui"
BACKEND = PACKAGE / "core" / "backend.py"
# What TensorFlow, absl, Keras and matplotlib print when they are not kept quiet.
NOISE = re.compile(
    r"absl|InitializeLog|cpu_feature_guard|oneDNN|rebuild TensorFlow|cuda|cuDNN|TensorRT"
    r"|retracing|tensorflow|WARNING|Warning|matplotlib|^[IWE]\d{4} ",
    re.MULTILINE,
)


def _quiet_env(**extra: str) -> dict:
    env = cli_env()
    # The test process may have set it (importing the backend does): a user's shell has not.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.update(extra)
    return env


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=_quiet_env(SIAMESE_GUI_CACHE=str(tmp_path / "cache"), **extra),
        capture_output=True, text=True, timeout=600,
    )


def _sample(index: int) -> Path:
    folders = sorted(p for p in samples_dir().iterdir() if p.is_dir())
    return sorted(folders[index].iterdir())[0]


def test_compare_in_tensorflow_prints_its_verdict_only(tmp_path):
    """The shipped model run in TensorFlow (not its LiteRT copy): TensorFlow starts, the
    model loads and a runtime copy is converted, and stderr stays empty."""
    run = _run(["-m", "siamese_gui", "compare", str(_sample(0)), str(_sample(1)),
                "--model", str(default_model_path())], tmp_path, SIAMESE_GUI_RUNTIME="tensorflow")
    assert run.returncode == 0, run.stderr
    assert re.match(r"distance \d+\.\d{4}  threshold \d+\.\d{4}  (same|different)", run.stdout)
    assert run.stderr == ""


def test_importing_tensorflow_first_through_any_module_is_quiet(tmp_path):
    """The GUI's training worker and threshold saving import these before anything has
    started TensorFlow; each used to print absl's and the CPU guard's lines."""
    for module in ("siamese_gui.core.training.train", "siamese_gui.core.runtime.store",
                   "siamese_gui.core.training.share_choice", "siamese_gui.core.model.networks"):
        run = _run(["-c", f"import {module}; import sys; print('tensorflow' in sys.modules)"], tmp_path)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "True"
        assert run.stderr == "", f"{module}: {run.stderr[:500]}"


def test_only_the_backend_imports_tensorflow_or_keras():
    """One place imports them (quietly); the others import them from it. Submodules
    (`from keras.src... import`) are read only once the backend has imported Keras."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == BACKEND:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name.partition(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(REPO_ROOT)}:{node.lineno}" for name in names
                          if name in ("keras", "tensorflow")]
    assert offenders == []


def test_compiling_many_networks_warns_of_no_retracing(tmp_path):
    """Each network's graph is compiled once; the seventh network is no retrace of the first."""
    script = (
        "import numpy as np\n"
        "from siamese_gui.core.backend import keras\n"
        "from siamese_gui.core.model.graph import embed, graph_embedder\n"
        "images = np.zeros((3, 28, 28, 1), np.uint8)\n"
        "for _ in range(7):\n"
        "    net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])\n"
        "    assert embed(net, images).shape == (3, 2)\n"
        "    assert embed(net, images[:1]).shape == (1, 2)\n"
        "    assert graph_embedder(net).experimental_get_tracing_count() == 1\n"
        "print('ok')\n"
    )
    run = _run(["-c", script], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
    assert not NOISE.search(run.stderr), run.stderr[:2000]


def test_only_keras_step_retracing_is_dropped():
    """The filter drops Keras' per-model step traces, never a retracing warning of ours."""
    from siamese_gui.core.backend import tf

    template = ("5 out of the last 13 calls to <function {} at 0x7f00> triggered tf.function retracing. "
                "Tracing is expensive")
    logger = tf.get_logger()
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        logger.warning(template.format("TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator"))
        logger.warning(template.format("graph_embedder.<locals>.<lambda>"))
        logger.warning("an unrelated TensorFlow warning")
    finally:
        logger.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert len(messages) == 2
    assert "graph_embedder" in messages[0]
    assert messages[1] == "an unrelated TensorFlow warning"
