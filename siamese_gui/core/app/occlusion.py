"""Explain a verdict: which parts of each image the distance depends on.

Occlusion sensitivity (Zeiler and Fergus, 2014) for a pair: a square patch of image A
is set to the background value (0, black: the model's images are light on dark) at
every position of a grid, the distance to the untouched image B is recomputed, and the
change |d(masked A, B) - d(A, B)| is spread over the patch's pixels; then the same for
B. All masked variants go to the model in one `embed` call (a few hundred 28x28 images:
milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamese_gui.core.errors import SiameseError
from siamese_gui.core.io.image_format import GREY_28
from siamese_gui.core.io.images import IMAGE_SIZE

PATCH = 6
STRIDE = 2
FILL = 0.0


@dataclass(frozen=True)
class OcclusionMaps:
    """Per-pixel sensitivity of a pair's distance.

    Attributes:
        map_a: float32 (H, W), the model's image size: mean |change of distance| when a patch covering the
            pixel is masked in image A.
        map_b: the same for image B.
        distance: the distance of the unmasked pair.
        patch: the patch side in pixels.
        stride: the step between patch positions.
    """

    map_a: np.ndarray
    map_b: np.ndarray
    distance: float
    patch: int
    stride: int


def _as_unit(image: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    image = np.asarray(image)
    if image.shape != shape:
        raise SiameseError(f"{name}: expected an image of shape {shape}, got {image.shape}")
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def patch_positions(
    patch: int = PATCH, stride: int = STRIDE, size: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)
) -> list[tuple[int, int]]:
    """Top-left corners of the patches over an image of `size` (height, width); the
    last row and column reach the border."""
    height, width = size
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise SiameseError(
            f"occlusion patch {patch} and stride {stride} must be 1-{min(height, width)} and >= 1")

    def starts(side: int) -> list[int]:
        values = list(range(0, side - patch + 1, stride))
        if values[-1] != side - patch:
            values.append(side - patch)
        return values

    return [(y, x) for y in starts(height) for x in starts(width)]


def occlusion_maps(
    handle, image_a: np.ndarray, image_b: np.ndarray, patch: int | None = None, stride: int | None = None,
    fill: float | None = None,
) -> OcclusionMaps:
    """Compute the occlusion maps of both images of a pair.

    Args:
        handle: a `ModelHandle` (anything with `embed(images) -> (N, D)`; its
            `image_format`, when it has one, gives the images' shape).
        image_a: uint8 or [0, 1] float, as the model sees it: (H, W) or (H, W, 3).
        image_b: the same.
        patch: the patch side; None scales `PATCH` (for 28 px) to the image.
        stride: the step between patches; None scales `STRIDE` likewise.
        fill: the value written into the masked patch; None: black for grey images
            (their background), mid-grey for colour ones (no one colour is neutral).
    """
    fmt = getattr(handle, "image_format", GREY_28)
    side = min(fmt.height, fmt.width)
    patch = patch if patch is not None else max(1, round(PATCH * side / IMAGE_SIZE))
    stride = stride if stride is not None else max(1, round(STRIDE * side / IMAGE_SIZE))
    fill = fill if fill is not None else (0.5 if fmt.colour else FILL)
    a, b = _as_unit(image_a, "image A", fmt.image_shape), _as_unit(image_b, "image B", fmt.image_shape)
    positions = patch_positions(patch, stride, (fmt.height, fmt.width))
    batch = np.empty((2 + 2 * len(positions), *fmt.image_shape), np.float32)
    batch[0], batch[1] = a, b
    for i, (y, x) in enumerate(positions):
        batch[2 + i] = a
        batch[2 + i, y : y + patch, x : x + patch] = fill
        batch[2 + len(positions) + i] = b
        batch[2 + len(positions) + i, y : y + patch, x : x + patch] = fill
    vectors = np.asarray(handle.embed(batch), np.float64)
    base = float(np.linalg.norm(vectors[0] - vectors[1]))
    masked_a = vectors[2 : 2 + len(positions)]
    masked_b = vectors[2 + len(positions) :]
    change_a = np.abs(np.linalg.norm(masked_a - vectors[1], axis=1) - base)
    change_b = np.abs(np.linalg.norm(masked_b - vectors[0], axis=1) - base)
    size = (fmt.height, fmt.width)
    return OcclusionMaps(
        _spread(change_a, positions, patch, size), _spread(change_b, positions, patch, size), base, patch, stride
    )


def _spread(changes: np.ndarray, positions: list[tuple[int, int]], patch: int, size: tuple[int, int]) -> np.ndarray:
    total = np.zeros(size)
    count = np.zeros(size)
    for change, (y, x) in zip(changes, positions):
        total[y : y + patch, x : x + patch] += change
        count[y : y + patch, x : x + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
