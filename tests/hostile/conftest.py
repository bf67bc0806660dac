"""Fixtures of the hostile-input tests."""

from __future__ import annotations

import pytest
from hostile_helpers import members_of


@pytest.fixture
def model_members(saved_model):
    """The members of the tiny trained model (name -> bytes)."""
    return members_of(saved_model)


@pytest.fixture
def sample_images():
    """Two bundled sample images of different classes."""
    from siamese_gui.core.io.locations import samples_dir

    folders = sorted(p for p in samples_dir().iterdir() if p.is_dir())
    return sorted(folders[0].iterdir())[0], sorted(folders[1].iterdir())[0]
