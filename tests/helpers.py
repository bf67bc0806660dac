"""Assertions shared by the core tests."""

from __future__ import annotations

import pytest

from siamese_gui.core.errors import SiameseError


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
