"""Occlusion maps: shape, one batched embed call, the object matters more than background."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_gui.core.app.occlusion import occlusion_maps, patch_positions
from siamese_gui.core.errors import SiameseError
from siamese_gui.core.runtime.handle import ModelHandle


class CountingEmbedder:
    def __init__(self):
        self.calls = 0
        self.images = 0

    def __call__(self, batch):
        self.calls += 1
        self.images += len(batch)
        # Sums of pixels in a 4x4 grid of cells: a spatial, linear embedding.
        return batch.reshape(len(batch), 4, 7, 4, 7).sum(axis=(2, 4)).reshape(len(batch), 16) / 10.0


def test_maps_have_the_image_shape_and_come_from_one_batch():
    embedder = CountingEmbedder()
    handle = ModelHandle(embedder=embedder, metadata={})
    a = np.zeros((28, 28), np.float32)
    a[4:14, 4:14] = 1.0  # object top-left
    b = np.zeros((28, 28), np.uint8)
    b[16:26, 16:26] = 255  # object bottom-right
    maps = occlusion_maps(handle, a, b)
    positions = patch_positions()
    assert embedder.images == 2 + 2 * len(positions)
    assert embedder.calls == 2  # one embed call, split by the handle's batch size of 256
    assert maps.map_a.shape == maps.map_b.shape == (28, 28)
    assert maps.distance == pytest.approx(handle.distance(a, b / 255.0), rel=1e-5)
    # Masking the object changes the distance; masking the empty background cannot.
    assert maps.map_a[6:12, 6:12].mean() > 0.5
    assert maps.map_a[20:28, 20:28].max() == 0.0
    assert maps.map_b[18:24, 18:24].mean() > 0.5
    assert maps.map_b[0:8, 0:8].max() == 0.0


def test_positions_cover_the_border():
    positions = patch_positions(6, 4)
    assert (22, 22) in positions and (0, 0) in positions
    with pytest.raises(SiameseError):
        patch_positions(0, 2)


def test_wrong_image_shape_is_a_user_error():
    handle = ModelHandle(embedder=CountingEmbedder(), metadata={})
    with pytest.raises(SiameseError, match=r"shape \(28, 28\)"):
        occlusion_maps(handle, np.zeros((10, 10)), np.zeros((28, 28)))
