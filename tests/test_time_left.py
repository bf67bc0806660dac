"""The time-left estimate leaves out the slow first steps and waits for enough measured ones."""

from __future__ import annotations

import pytest

from siamese_gui.core.training.time_left import MIN_SECONDS, MIN_STEPS, WARMUP_STEPS, TimeLeft


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_compilation_time_of_the_first_steps_is_left_out():
    """A 13 s run: 2 s of graph tracing in step 1, then 130 steps of 0.08 s."""
    clock, total = Clock(), 132
    estimate = TimeLeft(total, clock)
    shown = []
    clock.now = 2.0
    shown.append(estimate.update(1))
    for done in range(2, total + 1):
        clock.now += 0.08
        shown.append(estimate.update(done))
    first = next(i for i, s in enumerate(shown) if s is not None)
    # No estimate until MIN_STEPS steps over MIN_SECONDS were measured after the warm-up.
    assert first + 1 >= WARMUP_STEPS + max(MIN_STEPS, MIN_SECONDS / 0.08)
    assert all(s is not None for s in shown[first:])
    for done, seconds in enumerate(shown[first:], start=first + 1):
        assert seconds == pytest.approx(0.08 * (total - done), rel=1e-6)
    assert shown[-1] == 0.0
    assert max(s for s in shown if s is not None) < 11  # never the 7:50 of counting step 1


def test_a_short_run_gets_no_estimate_until_it_is_measured_and_zero_at_the_end():
    clock, total = Clock(), 8
    estimate = TimeLeft(total, clock)
    shown = []
    for done in range(1, total + 1):
        clock.now += 0.5
        shown.append(estimate.update(done))
    assert shown[0] is None and shown[-1] == 0.0
    measured = [s for s in shown[:-1] if s is not None]
    assert all(s == pytest.approx(0.5 * (total - d)) for d, s in
               [(d, s) for d, s in enumerate(shown[:-1], start=1) if s is not None])
    assert len(measured) <= total - MIN_STEPS


def test_the_estimate_follows_the_recent_pace_when_the_first_measured_steps_were_slow():
    """After the warm-up, 20 steps of 2 s (the machine busy), then steps of 0.5 s: the
    estimate comes to the pace now, not the mean since the start."""
    clock, total = Clock(), 400
    estimate = TimeLeft(total, clock)
    shown = {}
    for done in range(1, total + 1):
        clock.now += 10.0 if done == 1 else 2.0 if done <= 22 else 0.5
        shown[done] = estimate.update(done)
    assert shown[100] == pytest.approx(0.5 * (total - 100), rel=1e-6)
    mean_since_warmup = (20 * 2.0 + 78 * 0.5) / 98
    assert shown[100] < mean_since_warmup * (total - 100) * 0.75
