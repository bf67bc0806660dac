"""The installed TensorFlow and Keras are at least the floors pyproject.toml declares."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _floor(package: str) -> tuple[int, ...]:
    match = re.search(rf'"{package}>=([0-9.]+)"', PYPROJECT.read_text())
    assert match, f"pyproject.toml declares no floor for {package}"
    return tuple(int(part) for part in match.group(1).split("."))


def _installed(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version(package))[:3])


@pytest.mark.parametrize("package, floor", [("keras", (3, 15, 1)), ("tensorflow", (2, 20))])
def test_installed_version_meets_the_declared_floor(package, floor):
    assert _floor(package) >= floor
    assert _installed(package) >= _floor(package), f"{package} {version(package)} is below the floor"
