"""Data and assertions shared by the core tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from siamese_gui.core.data.datasets import Dataset
from siamese_gui.core.errors import SiameseError

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_CLASSES = ("bar", "column", "ring", "diagonal")


def cli_env() -> dict:
    """The environment for a CLI subprocess that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def shape_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """Return a 28x28 uint8 image of class `label` (light shape on black), jittered."""
    img = np.zeros((28, 28), np.float32)
    dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
    if label == 0:
        img[12 + dy : 16 + dy, 4:24] = 1.0
    elif label == 1:
        img[4:24, 12 + dx : 16 + dx] = 1.0
    elif label == 2:
        img[6 + dy : 22 + dy, 6 + dx : 22 + dx] = 1.0
        img[10 + dy : 18 + dy, 10 + dx : 18 + dx] = 0.0
    else:
        for k in range(4, 24):
            img[k, min(max(k + dx, 0), 27)] = 1.0
            img[k, min(max(k + dx + 1, 0), 27)] = 1.0
    img += rng.normal(0.0, 0.08, img.shape).astype(np.float32)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def make_dataset(per_class: int = 12, num_classes: int = 4, seed: int = 0) -> Dataset:
    """A tiny synthetic dataset of clearly different shapes, uint8 (N, 28, 28)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
    images = np.stack([shape_image(int(c), rng) for c in labels])
    return Dataset(images, labels, TINY_CLASSES[:num_classes], "synthetic shapes")


def assert_user_error(error_type, call, path, *words) -> str:
    """Assert `call()` raises `error_type` with one line naming `path` and each of `words`.

    Returns:
        The message.
    """
    with pytest.raises(error_type) as info:
        call()
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word.lower() in message.lower(), message
    assert "\n" not in message
    assert isinstance(info.value, SiameseError)
    return message
