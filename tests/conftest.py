"""Shared fixtures for the core tests: tiny synthetic data, a small trained model, CLI runs.

Everything here stays small (a few dozen 28x28 images, a couple of epochs) so the
core suite runs in well under a few minutes on two CPU cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Import the image module before anything else touches OpenCV: it sets OpenCV's pixel
# limit, which OpenCV reads once.
from helpers import TINY_CLASSES, cli_env, make_dataset, shape_image  # noqa: E402,F401

from siamese_gui.core.data.datasets import Dataset  # noqa: E402
from siamese_gui.core.io import images as _images  # noqa: E402,F401


def tiny_config(**changes):
    """A training config small enough for a test: 2 epochs of batches of 16.

    It aims at new classes, so the network joins the gradient histograms (the goal the
    most code serves); the learned part carries most of the distance (histogram share
    0.25), so training visibly changes the model.
    """
    from siamese_gui.core.model.config import TrainingConfig

    values = dict(
        epochs=2, batch_size=16, embedding_dim=8, validation_fraction=0.25, seed=0, augment=False,
        histogram_share=0.25, goal="new-classes",
    )
    values.update(changes)
    return TrainingConfig(**values)


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_dataset()


@pytest.fixture
def dataset_factory():
    """`make_dataset(per_class=12, num_classes=4, seed=0)`."""
    return make_dataset


@pytest.fixture
def config_factory():
    """`tiny_config(**changes)`."""
    return tiny_config


TRAINED_CONFIG = dict(epochs=3, batch_size=8)


def _folder_in_env(tmp_path_factory, variable: str, name: str):
    """Point `variable` at a new temp folder for the session; restore it after."""
    folder = tmp_path_factory.mktemp(name)
    saved = os.environ.get(variable)
    os.environ[variable] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = saved


@pytest.fixture(scope="session", autouse=True)
def runtime_cache(tmp_path_factory):
    """Runtime copies of models that lack one go to a temp cache, never the user's."""
    from siamese_gui.core.runtime.copies import CACHE_ENV

    yield from _folder_in_env(tmp_path_factory, CACHE_ENV, "runtime-cache")


@pytest.fixture(scope="session", autouse=True)
def user_config(tmp_path_factory):
    """The app's per-user files (the cache's seal key) go to a temp folder, never the user's."""
    yield from _folder_in_env(tmp_path_factory, "XDG_CONFIG_HOME", "config")


@pytest.fixture(scope="session", autouse=True)
def user_data(tmp_path_factory):
    """The run history (in `$XDG_DATA_HOME`) goes to a temp folder, never the user's."""
    yield from _folder_in_env(tmp_path_factory, "XDG_DATA_HOME", "data-home")


@pytest.fixture(scope="session")
def trained():
    """One tiny training run shared by the tests: (result, dataset, batches, epochs).

    `batches` and `epochs` are the progress objects passed to `on_batch` and `on_epoch`.
    """
    from siamese_gui.core.training.train import train

    dataset = make_dataset()
    batches, epochs = [], []
    result = train(tiny_config(**TRAINED_CONFIG), dataset, on_batch=batches.append, on_epoch=epochs.append)
    return result, dataset, batches, epochs


@pytest.fixture
def trained_config():
    """The config of the `trained` run."""
    return tiny_config(**TRAINED_CONFIG)


@pytest.fixture(scope="session")
def saved_model(trained, tmp_path_factory) -> Path:
    """The tiny trained model saved with its sidecar; treat the file as read-only."""
    from siamese_gui.core.runtime.store import result_metadata, save_model

    result, dataset, _, _ = trained
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    save_model(result.model, path, result_metadata(result, dataset.class_names))
    return path


@pytest.fixture(scope="session")
def big_record_model(tmp_path_factory):
    """A tiny untrained pair model saved with the metadata of a folder of 100,000 images
    and a loss history of the most epochs the settings allow.

    Returns:
        (the model file, a real folder of 12 images, the SHA-256 of its first 5 images,
        which the record counts among its training images; the metadata saved).
    """
    import keras
    from helpers import BIG_RECORD_IMAGES, big_folder_metadata

    from siamese_gui.core.io.safe_files import file_sha256
    from siamese_gui.core.model.networks import build_pair_model
    from siamese_gui.core.runtime.store import save_model

    root = tmp_path_factory.mktemp("big-record")
    folder = write_image_folder(root / "data", per_class=4, num_classes=3)
    trained_on = [file_sha256(p) for p in sorted(folder.rglob("*.png"))[:5]]
    from siamese_gui.core.model.config import LIMITS

    # As large as the metadata of a run gets: the longest loss history the settings allow.
    metadata = big_folder_metadata(BIG_RECORD_IMAGES, train_hashes=trained_on, epochs=int(LIMITS["epochs"][1]))
    inputs = keras.Input((28, 28, 1))
    embedding = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)), name="embedding")
    path = save_model(build_pair_model(embedding), root / "big.keras", metadata)
    return path, folder, trained_on, metadata


def write_image_folder(root: Path, per_class: int = 3, num_classes: int = 2, seed: int = 0) -> Path:
    """Write a folder of class sub-folders of PNG files drawn from `make_dataset`."""
    import cv2

    data = make_dataset(per_class, num_classes, seed)
    for i, (img, label) in enumerate(zip(data.images, data.labels)):
        folder = root / data.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(".png", img)
        assert ok
        (folder / f"{i:03d}.png").write_bytes(encoded.tobytes())
    return root


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m siamese_gui ARGS` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "siamese_gui", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def image_folder_factory():
    """`write_image_folder(root, per_class=3, num_classes=2, seed=0)`."""
    return write_image_folder


@pytest.fixture
def cli():
    """`run_cli(*args, cwd=None)`: the command line in a fresh interpreter."""
    return run_cli
