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
from siamese_gui.core.io.images import IMAGE_SIZE

PATCH = 6
STRIDE = 2
FILL = 0.0


@dataclass(frozen=True)
class OcclusionMaps:
    """Per-pixel sensitivity of a pair's distance.

    Attributes:
        map_a: float32 (28, 28): mean |change of distance| when a patch covering the
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


def _as_unit(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise SiameseError(f"{name}: expected a {IMAGE_SIZE}x{IMAGE_SIZE} image, got {image.shape}")
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def patch_positions(patch: int = PATCH, stride: int = STRIDE) -> list[tuple[int, int]]:
    """Top-left corners of the patches; the last row and column reach the border."""
    if not 1 <= patch <= IMAGE_SIZE or stride < 1:
        raise SiameseError(f"occlusion patch {patch} and stride {stride} must be 1-{IMAGE_SIZE} and >= 1")
    starts = list(range(0, IMAGE_SIZE - patch + 1, stride))
    if starts[-1] != IMAGE_SIZE - patch:
        starts.append(IMAGE_SIZE - patch)
    return [(y, x) for y in starts for x in starts]


def occlusion_maps(
    handle, image_a: np.ndarray, image_b: np.ndarray, patch: int = PATCH, stride: int = STRIDE,
    fill: float = FILL,
) -> OcclusionMaps:
    """Compute the occlusion maps of both images of a pair.

    Args:
        handle: a `ModelHandle` (anything with `embed(images) -> (N, D)`).
        image_a: uint8 or [0, 1] float (28, 28).
        image_b: the same.
        patch: the patch side.
        stride: the step between patches.
        fill: the value written into the masked patch.
    """
    a, b = _as_unit(image_a, "image A"), _as_unit(image_b, "image B")
    positions = patch_positions(patch, stride)
    batch = np.empty((2 + 2 * len(positions), IMAGE_SIZE, IMAGE_SIZE), np.float32)
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
    return OcclusionMaps(
        _spread(change_a, positions, patch), _spread(change_b, positions, patch), base, patch, stride
    )


def _spread(changes: np.ndarray, positions: list[tuple[int, int]], patch: int) -> np.ndarray:
    total = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    count = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for change, (y, x) in zip(changes, positions):
        total[y : y + patch, x : x + patch] += change
        count[y : y + patch, x : x + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
