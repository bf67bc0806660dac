"""The malloc arena cap: set once at import, leaving the user's environment setting alone."""

from __future__ import annotations

import sys

import pytest

from siamese_gui.core.runtime import memory


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
    return libc


def test_cap_malloc_arenas_caps_the_arenas_at_two(fake_libc):
    assert memory.cap_malloc_arenas() is True
    assert fake_libc.calls == [(-8, 2)]


def test_cap_malloc_arenas_leaves_settings_from_the_environment_alone(fake_libc, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.cap_malloc_arenas() is False
    assert fake_libc.calls == []


def test_cap_malloc_arenas_does_nothing_off_linux(fake_libc, monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.cap_malloc_arenas() is False
    assert fake_libc.calls == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_cap_malloc_arenas_is_accepted_by_this_machines_glibc():
    assert memory.cap_malloc_arenas() is True
