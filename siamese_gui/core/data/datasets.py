"""Datasets: Fashion-MNIST from IDX files, the user's image folders, the bundled samples."""

from __future__ import annotations

import enum
import gzip
import os
import struct
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from siamese_gui.core.errors import DatasetError, ImageError
from siamese_gui.core.io.image_format import GREY_28, ImageFormat
from siamese_gui.core.io.images import IMAGE_SIZE, decode_colour, has_colour, load_image, read_image_bytes
from siamese_gui.core.io.safe_files import file_sha256
from siamese_gui.core.io.untrusted import shown

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path("~/.keras/datasets/fashion-mnist")
DATA_ENV_VAR = "SIAMESE_GUI_DATA"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
_MAX_IDX_BYTES = 512 * 2**20
_IDX_UBYTE = 0x08


class DataKind(enum.Enum):
    """What a dataset is, so nothing needs to parse its description."""

    FASHION_MNIST = "Fashion-MNIST"
    IMAGE_FOLDER = "image folder"
    SAMPLES = "bundled samples"
    SYNTHETIC = "generated"


@dataclass(frozen=True)
class Dataset:
    """Images with class labels, as the model sees them.

    Attributes:
        images: uint8 array (N, H, W) of grey images, light object on a dark
            background (Fashion-MNIST: 28 x 28), or (N, H, W, 3) of RGB colour images.
        labels: int64 array (N,) of class indices into `class_names`.
        class_names: one name per class.
        source: where the data came from, for display.
        skipped: (path, reason) for each file that could not be used.
        kind: what kind of data it is.
        files: for image folders, each image's path relative to `root`.
        hashes: for image folders, each image file's SHA-256 (hex).
        root: the folder `files` are relative to, if any.
        natural_format: for image folders read at the format their files call for
            (`choose_image_format`), that format; None when read at a format given
            (a model's) or for other data.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[tuple[str, str], ...] = field(default=())
    kind: DataKind = DataKind.SYNTHETIC
    files: tuple[str, ...] = field(default=())
    hashes: tuple[str, ...] = field(default=())
    root: str = ""
    natural_format: ImageFormat | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_format(self) -> ImageFormat:
        """The size and channels of the images, as the model sees them."""
        return ImageFormat.of_images(self.images)

    def subset(self, indices: np.ndarray, source: str | None = None) -> "Dataset":
        """Return the images at `indices` as a new dataset (with their files and hashes)."""
        indices = np.asarray(indices, dtype=np.int64)
        pick = (lambda values: tuple(values[i] for i in indices)) if self.files else (lambda v: ())
        return Dataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            source or self.source,
            kind=self.kind,
            files=pick(self.files),
            hashes=pick(self.hashes),
            root=self.root,
            natural_format=self.natural_format,
        )

    def class_counts(self) -> np.ndarray:
        """Images per class, one count per entry of `class_names`."""
        return np.bincount(self.labels, minlength=len(self.class_names))


@dataclass(frozen=True)
class DataSplits:
    """A training split and a test split of the same classes."""

    train: Dataset
    test: Dataset


def _idx_payload(path: Path) -> bytes:
    """The uncompressed bytes of a gzipped IDX file, at most `_MAX_IDX_BYTES`.

    Inflated in one zlib call, which releases the GIL, so loading runs alongside the
    window being built; a file of several gzip members takes the slower `gzip` path.
    """
    try:
        with open(path, "rb") as handle:
            packed = handle.read(_MAX_IDX_BYTES + 1)
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = inflater.decompress(packed, _MAX_IDX_BYTES + 1)
        if not inflater.eof and len(data) <= _MAX_IDX_BYTES:
            raise EOFError("the compressed data ends early")
        if inflater.unused_data:
            with gzip.open(path, "rb") as stream:
                data = stream.read(_MAX_IDX_BYTES + 1)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (gzip.BadGzipFile, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc})") from None
    if len(data) > _MAX_IDX_BYTES:
        raise DatasetError(f"{path}: larger than {_MAX_IDX_BYTES // 2**20} MiB uncompressed")
    return data


def parse_idx(data: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file of unsigned bytes.

    Args:
        data: the file's bytes.
        name: the file name for messages.
        ndim: the number of dimensions the file must have (1 labels, 3 images).

    Returns:
        A uint8 array of the declared shape.

    Raises:
        DatasetError: on a wrong magic number, dimension count or payload length.
    """
    if len(data) < 4:
        raise DatasetError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype_code, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != _IDX_UBYTE:
        raise DatasetError(f"{name}: wrong magic number 0x{data[:4].hex()} (expected 0x0000080{ndim})")
    if dims != ndim:
        raise DatasetError(f"{name}: has {dims} dimensions, expected {ndim}")
    header_len = 4 + 4 * dims
    if len(data) < header_len:
        raise DatasetError(f"{name}: header truncated")
    shape = struct.unpack(f">{dims}I", data[4:header_len])
    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(data) - header_len
    if payload != expected:
        raise DatasetError(
            f"{name}: payload is {payload} bytes but the header declares {shape} = {expected} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX image file into a uint8 array (N, 28, 28)."""
    path = Path(path)
    images = parse_idx(_idx_payload(path), str(path), 3)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(
            f"{path}: images are {images.shape[1]}x{images.shape[2]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    return images


def read_idx_labels(path: str | os.PathLike, num_classes: int = 10) -> np.ndarray:
    """Read a gzipped IDX label file into an int64 array (N,)."""
    path = Path(path)
    labels = parse_idx(_idx_payload(path), str(path), 1).astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise DatasetError(f"{path}: label {labels.max()} is out of range 0-{num_classes - 1}")
    return labels


def _read_split(folder: Path, split: str) -> Dataset:
    image_file, label_file = (folder / name for name in FASHION_MNIST_FILES[split])
    images = read_idx_images(image_file)
    labels = read_idx_labels(label_file)
    if len(images) != len(labels):
        raise DatasetError(
            f"{label_file}: {len(labels)} labels for {len(images)} images in {image_file.name}"
        )
    return Dataset(
        images, labels, FASHION_MNIST_CLASSES, f"Fashion-MNIST {split} ({folder})",
        kind=DataKind.FASHION_MNIST,
    )


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for names in FASHION_MNIST_FILES.values() for name in names)


def fashion_mnist_candidates(path: str | os.PathLike | None = None) -> list[Path]:
    """Return the folders searched for Fashion-MNIST, in look-up order."""
    candidates = []
    if path is not None:
        candidates.append(Path(path).expanduser())
    if os.environ.get(DATA_ENV_VAR):
        candidates.append(Path(os.environ[DATA_ENV_VAR]).expanduser())
    candidates += [SYSTEM_DATA_DIR, KERAS_CACHE_DIR.expanduser()]
    return candidates


def find_fashion_mnist(path: str | os.PathLike | None = None) -> Path | None:
    """Return the first folder holding the four Fashion-MNIST files, or None.

    Raises:
        DatasetError: if `path` is given but does not hold the files.
    """
    if path is not None and not _has_files(Path(path).expanduser()):
        names = ", ".join(n for names in FASHION_MNIST_FILES.values() for n in names)
        raise DatasetError(f"{path}: not a Fashion-MNIST folder (expected {names})")
    for folder in fashion_mnist_candidates(path):
        if _has_files(folder):
            return folder
    return None


def download_fashion_mnist() -> Path:
    """Download Fashion-MNIST into the Keras cache with Keras' progress bar."""
    try:
        from siamese_gui.core.backend import keras

        keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - network and archive errors vary by platform
        raise DatasetError(f"Fashion-MNIST download failed: {exc}") from None
    folder = KERAS_CACHE_DIR.expanduser()
    if not _has_files(folder):
        raise DatasetError(f"{folder}: download finished but the IDX files are missing")
    return folder


def load_fashion_mnist(path: str | os.PathLike | None = None, download: bool = False) -> DataSplits:
    """Load Fashion-MNIST's train and test splits.

    Args:
        path: a folder with the four `.gz` IDX files; None searches the usual places
            (`$SIAMESE_GUI_DATA`, `/usr/share/datasets/fashion-mnist`, the Keras cache).
        download: whether to download it when no folder holds it.

    Raises:
        DatasetError: if the files are missing or malformed.
    """
    folder = find_fashion_mnist(path)
    if folder is None:
        if not download:
            searched = ", ".join(str(p) for p in fashion_mnist_candidates())
            raise DatasetError(
                f"Fashion-MNIST not found (searched {searched}); install the Debian package "
                "dataset-fashion-mnist, set $SIAMESE_GUI_DATA, or pass --data"
            )
        folder = download_fashion_mnist()
    return DataSplits(_read_split(folder, "train"), _read_split(folder, "test"))


def _image_files(class_dir: Path) -> Iterable[Path]:
    # Only regular files directly inside the class folder: nested folders and
    # symlink loops are never walked.
    for entry in sorted(class_dir.iterdir()):
        if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
            yield entry


def list_image_files(folder: str | os.PathLike) -> list[tuple[Path, str]]:
    """List the image files of a folder and of its class sub-folders, in a stable order.

    Files directly in `folder` get the class "" (unknown); files in a sub-folder get the
    sub-folder's name. Hidden sub-folders are skipped; deeper folders are not walked.

    Raises:
        DatasetError: if `folder` is not a folder or cannot be listed.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    try:
        files = [(path, "") for path in _image_files(root)]
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{root}: cannot list the folder ({exc.strerror})") from None
    for class_dir in class_dirs:
        try:
            files += [(path, class_dir.name) for path in _image_files(class_dir)]
        except OSError:
            continue
    return files


# The side of a colour model's input when the data decide it: 32 px keeps a colour
# drawing's detail and trains within the CPU budget (benchmarks/results-colour-timing.md).
COLOUR_SIDE = 32
# Files probed for colour before a folder is read (evenly spread, stopping at the first
# coloured one), so deciding costs a bounded number of decodes.
COLOUR_PROBE = 400
COLOUR_CHOICES = ("auto", "on", "off")


def choose_image_format(paths, colour: str = "auto", size: int = 0) -> ImageFormat:
    """The input a model of these image files sees, unless the settings fix it.

    Colour when `colour` is "on", or "auto" and any probed image carries colour
    (`images.has_colour`); `size` pixels a side, or with 0 28 for grey and
    `COLOUR_SIDE` for colour.

    Args:
        paths: the image files (up to `COLOUR_PROBE` of them are decoded).
        colour: "auto", "on" or "off".
        size: the side in pixels, 0 to choose it.
    """
    if colour not in COLOUR_CHOICES:
        raise DatasetError(f"unknown colour setting {colour!r} (choose from {', '.join(COLOUR_CHOICES)})")
    paths = list(paths)
    coloured = colour == "on"
    if colour == "auto" and paths:
        picks = np.unique(np.linspace(0, len(paths) - 1, min(len(paths), COLOUR_PROBE)).astype(int))
        for index in picks:
            try:
                if has_colour(decode_colour(read_image_bytes(paths[index]), str(paths[index]))):
                    coloured = True
                    break
            except ImageError:
                continue  # reported when the folder is read
    side = size or (COLOUR_SIDE if coloured else GREY_28.height)
    return ImageFormat(side, side, 3 if coloured else 1)


def load_image_folder(
    folder: str | os.PathLike,
    invert: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    image_format: ImageFormat | None = None,
) -> Dataset:
    """Load a folder of class sub-folders of image files.

    Files that cannot be read are skipped and listed in `Dataset.skipped`.

    Args:
        folder: a folder whose sub-folders are classes, each holding image files.
        invert: polarity handling passed to `load_image` (None detects it per image).
        progress: called with (done, total) as files are read.
        image_format: the images' size and channels (a model's); None chooses them
            from the files (`choose_image_format`).

    Raises:
        DatasetError: if the folder is missing, has fewer than 2 classes with images,
            or no class has 2 images.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    try:
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{root}: cannot list the folder ({exc.strerror})") from None
    files: list[tuple[int, Path]] = []
    names: list[str] = []
    for class_dir in class_dirs:
        try:
            class_files = list(_image_files(class_dir))
        except OSError:
            continue
        if class_files:
            files += [(len(names), f) for f in class_files]
            names.append(shown(class_dir.name))  # a folder name can hold escape sequences
    if len(names) < 2:
        raise DatasetError(
            f"{root}: needs at least 2 class sub-folders with images, found {len(names)}"
        )
    natural = None
    if image_format is None:
        image_format = natural = choose_image_format([path for _, path in files])
    images, labels, skipped, kept, hashes = [], [], [], [], []
    for done, (label, path) in enumerate(files, 1):
        try:
            image = load_image(path, invert=invert, image_format=image_format)
            images.append(np.round(image * 255).astype(np.uint8))
            labels.append(label)
            kept.append(path.relative_to(root).as_posix())
            hashes.append(file_sha256(path))
        except ImageError as exc:
            skipped.append((str(path), str(exc)))
        except OSError as exc:
            skipped.append((str(path), f"{path}: cannot read ({exc.strerror or exc})"))
        if progress is not None:
            progress(done, len(files))
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(names))
    if len(np.flatnonzero(counts)) < 2:
        raise DatasetError(f"{root}: fewer than 2 classes have a readable image")
    if counts.max() < 2:
        raise DatasetError(f"{root}: no class has 2 readable images, so no same-class pair exists")
    return Dataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        tuple(names),
        f"image folder {root}",
        tuple(skipped),
        kind=DataKind.IMAGE_FOLDER,
        files=tuple(kept),
        hashes=tuple(hashes),
        root=str(root),
        natural_format=natural,
    )


def load_samples() -> Dataset:
    """Load the bundled Fashion-MNIST test samples shipped in `resources/samples`."""
    from siamese_gui.core.io.locations import samples_dir

    folder = samples_dir()
    dataset = load_image_folder(folder, invert=False, image_format=GREY_28)
    names = tuple(_sample_class_name(n) for n in dataset.class_names)
    return Dataset(
        dataset.images, dataset.labels, names, f"bundled samples ({folder})",
        kind=DataKind.SAMPLES, files=dataset.files, hashes=dataset.hashes, root=dataset.root,
    )


def _sample_class_name(folder_name: str) -> str:
    # Sample folders are named "<index>_<name>" so they sort in class order; "/" cannot
    # appear in a folder name, so "T-shirt/top" is stored as "T-shirt-top".
    index, _, _ = folder_name.partition("_")
    if index.isdigit() and int(index) < len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES[int(index)]
    return folder_name


def load_default_data(path: str | os.PathLike | None = None) -> DataSplits | Dataset:
    """Load Fashion-MNIST if it is installed, else the bundled samples.

    Only a missing dataset falls back to the samples: an installed copy that is
    damaged is reported, never replaced silently.

    Returns:
        Fashion-MNIST's `DataSplits`, or the samples as one `Dataset`.

    Raises:
        DatasetError: if `path` is given and unusable, or an installed copy is corrupt.
    """
    if path is not None or find_fashion_mnist() is not None:
        return load_fashion_mnist(path)
    return load_samples()


def class_index(names: tuple[str, ...], name) -> int | None:
    """The index of class `name` (a class name, or else an index as a number or digits),
    or None when there is no such class. A name wins over an index: a folder's class
    called "3" is that class, wherever it sorts."""
    text = str(name)
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    return None


def restrict(dataset: Dataset, classes=None, per_class: int | None = None, seed: int = 0) -> Dataset:
    """Keep only some classes, and at most `per_class` images of each (a seeded sample).

    Args:
        dataset: the images.
        classes: class names or indices to keep; None keeps every class.
        per_class: the most images kept per class; None keeps them all.
        seed: seeds the sample.

    Raises:
        DatasetError: on an unknown class, or fewer than 2 classes left.
    """
    keep = np.ones(len(dataset), dtype=bool)
    names = dataset.class_names
    if classes is not None:
        wanted = []
        for name in classes:
            index = class_index(names, name)
            if index is None:
                raise DatasetError(f"{dataset.source}: no class {str(name)!r} (classes: {', '.join(names)})")
            wanted.append(index)
        keep &= np.isin(dataset.labels, wanted)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        for label in np.unique(dataset.labels[keep]):
            members = np.flatnonzero(keep & (dataset.labels == label))
            if len(members) > per_class:
                keep[rng.permutation(members)[per_class:]] = False
    if len(np.unique(dataset.labels[keep])) < 2:
        raise DatasetError(f"{dataset.source}: fewer than 2 classes left after the class selection")
    result = dataset if keep.all() else dataset.subset(np.flatnonzero(keep))
    if classes is None:
        return result
    # The chosen classes become the dataset's classes, in the order given.
    order = list(dict.fromkeys(wanted))
    remap = np.full(len(names), -1, np.int64)
    remap[order] = np.arange(len(order))
    return replace(result, labels=remap[result.labels], class_names=tuple(names[i] for i in order))
