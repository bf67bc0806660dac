"""The installed TensorFlow and Keras are at least the floors pyproject.toml declares,
and each platform gets exactly one TensorFlow build."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _requirements() -> list[Requirement]:
    block = re.search(r"^dependencies = \[(.*?)^\]", PYPROJECT.read_text(), re.S | re.M)
    assert block, "pyproject.toml has no dependencies list"
    return [Requirement(line) for line in re.findall(r'^\s*"([^"]+)",', block.group(1), re.M)]


def _tensorflow_requirements() -> list[Requirement]:
    return [r for r in _requirements() if r.name in ("tensorflow", "tensorflow-cpu")]


def _floor(requirement: Requirement) -> tuple[int, ...]:
    floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    assert floors, f"pyproject.toml declares no floor for {requirement.name}"
    return tuple(int(part) for part in floors[0].split("."))


def _installed(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version(package))[:3])


def _applies(requirement: Requirement, platform: str, machine: str) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(
        {"sys_platform": platform, "platform_machine": machine}
    )


def test_keras_meets_its_declared_floor():
    (keras,) = [r for r in _requirements() if r.name == "keras"]
    assert _floor(keras) >= (3, 15, 1)
    assert _installed("keras") >= _floor(keras), f"keras {version('keras')} is below the floor"


@pytest.mark.parametrize(
    "platform, machine, expected",
    [
        ("linux", "x86_64", "tensorflow-cpu"),
        ("linux", "aarch64", "tensorflow"),
        ("darwin", "arm64", "tensorflow"),
        ("win32", "AMD64", "tensorflow"),
    ],
)
def test_each_platform_gets_one_tensorflow_build(platform, machine, expected):
    chosen = [r for r in _tensorflow_requirements() if _applies(r, platform, machine)]
    assert [r.name for r in chosen] == [expected]
    assert _floor(chosen[0]) >= (2, 20)


def test_the_installed_tensorflow_meets_its_declared_floor():
    import platform
    import sys

    (requirement,) = [r for r in _tensorflow_requirements() if _applies(r, sys.platform, platform.machine())]
    try:
        installed = _installed(requirement.name)
    except PackageNotFoundError:  # installed by hand under the other name (README: GPU)
        other = "tensorflow" if requirement.name == "tensorflow-cpu" else "tensorflow-cpu"
        installed = _installed(other)
    assert installed >= _floor(requirement), f"TensorFlow {'.'.join(map(str, installed))} is below the floor"
