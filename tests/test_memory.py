"""malloc tuning: set once at import, leaving the user's environment settings alone."""

from __future__ import annotations

import sys

import pytest

from siamese_gui.core import memory


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


@pytest.fixture
def fake_libc(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(memory.sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return libc


def test_tune_malloc_sets_two_arenas_and_a_fixed_mmap_threshold(fake_libc):
    assert memory.tune_malloc() is True
    assert fake_libc.calls == [(-8, 2), (-3, 128 * 1024)]


def test_tune_malloc_leaves_settings_from_the_environment_alone(fake_libc, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    memory.tune_malloc()
    assert fake_libc.calls == []


def test_tune_malloc_does_nothing_off_linux(fake_libc, monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.tune_malloc() is False
    assert fake_libc.calls == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tune_malloc_is_accepted_by_this_machines_glibc():
    assert memory.tune_malloc() is True
