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
# The most images a folder the app trains on may have, for the records of large folders.
BIG_RECORD_IMAGES = 100_000


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


def big_folder_metadata(images: int, classes: int = 500, train_hashes=(), epochs: int = 20) -> dict:
    """A model's metadata as `train` writes it for a folder of `images` images in
    `classes` classes, split 70/15/15, with made-up paths and SHA-256 (no image exists).

    Args:
        train_hashes: SHA-256 of real files to count among its training images (the first
            ones), so that a folder holding them overlaps with what it trained on.
        epochs: how many epochs its loss history holds (full-precision floats).
    """
    import hashlib

    rng = np.random.default_rng(0)
    history = {key: [float(v) for v in rng.random(epochs) / 3] for key in ("loss", "val_loss")}

    class_names = [f"class {c:05d}" for c in range(classes)]
    paths = [f"class {i % classes:05d}/image_{i:07d}.png" for i in range(images)]
    hashes = [hashlib.sha256(f"image {i}".encode()).hexdigest() for i in range(images)]
    hashes[: len(train_hashes)] = list(train_hashes)
    cuts = (0, int(images * 0.7), int(images * 0.85), images)
    files = {role: {"paths": paths[a:b], "sha256": hashes[a:b]}
             for role, a, b in zip(("train", "validation", "test"), cuts, cuts[1:])}
    return {
        "threshold": 0.5,
        "threshold_detail": "max accuracy on 2,000 validation pairs",
        "data_source": "image folder /data/big",
        "class_names": class_names,
        "training": {"status": "completed", "seconds": 1234.5, "history": history},
        "split": {
            "kind": "image_folder",
            "seed": 0,
            "counts": {role: len(entry["paths"]) for role, entry in files.items()},
            "seen_classes": class_names,
            "unseen_classes": [],
            "root": "/data/big",
            "files": files,
        },
    }
