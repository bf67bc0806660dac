"""Terminal progress: a bar with rate and time left on a TTY, plain lines otherwise,
nothing in --json mode."""

from __future__ import annotations

import io

from siamese_gui.cli.progress import ProgressMode, ProgressReporter, choose_mode, format_duration


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run(stream, json_output=False, steps=10, step_s=1.0, **kwargs):
    clock = Clock()
    reporter = ProgressReporter("embedding", "images", stream=stream, json_output=json_output, clock=clock, **kwargs)
    for done in range(1, steps + 1):
        clock.now += step_s
        reporter(done * 100, steps * 100)
    return stream.getvalue()


def test_terminal_bar_redraws_in_place_with_rate_and_time_left():
    stream = FakeTTY()
    clock = Clock()
    reporter = ProgressReporter("embedding", "images", stream=stream, clock=clock)
    clock.now = 2.0
    reporter(200, 1000)
    partial = stream.getvalue()
    assert partial.startswith("\r\033[K") and "\n" not in partial
    assert "[" in partial and "#" in partial and "200/1,000 images (20 %)" in partial
    assert "100.0 images/s" in partial and "8 s left" in partial
    clock.now = 10.0
    reporter(1000, 1000)
    final = stream.getvalue()
    assert final.endswith("\n") and "took 10 s" in final
    assert final.count("\n") == 1  # one line, redrawn in place


def test_plain_lines_when_not_a_terminal():
    out = _run(io.StringIO(), steps=10, step_s=1.0, line_interval_s=3.0)
    lines = out.splitlines()
    assert "\r" not in out and "\033" not in out and "#" not in out
    # First update, then at most one line per 3 s, and always the final one.
    assert 3 <= len(lines) <= 5
    assert lines[-1].startswith("embedding") and "1,000/1,000 images (100 %)" in lines[-1]
    assert "left" in lines[0]


def test_silent_in_json_mode():
    assert _run(FakeTTY(), json_output=True) == ""
    assert choose_mode(FakeTTY(), json_output=True) is ProgressMode.SILENT
    assert choose_mode(io.StringIO(), json_output=False) is ProgressMode.LINES
    assert choose_mode(FakeTTY(), json_output=False) is ProgressMode.BAR


def test_clear_erases_the_bar_before_other_output():
    stream = FakeTTY()
    reporter = ProgressReporter("training", "batches", stream=stream, clock=Clock())
    reporter(1, 10)
    reporter.clear()
    assert stream.getvalue().endswith("\r\033[K")
    reporter.close()  # nothing shown any more: no stray newline
    assert not stream.getvalue().endswith("\n")


def test_durations():
    assert format_duration(42) == "42 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
