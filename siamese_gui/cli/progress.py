"""Progress of long command-line work, as a person at a terminal or a log file wants it.

On a terminal: one bar redrawn in place, with the rate and the time left. When stderr
is not a terminal (a log, a pipe, CI): a plain line every few seconds and one at the end.
With `--json`: nothing, so the only output is the JSON object.

The core's long functions take a plain `progress(done, total)` callable; a
`ProgressReporter` is such a callable.
"""

from __future__ import annotations

import enum
import sys
import time
from typing import Callable, TextIO

from siamese_gui.core.io.untrusted import shown
from siamese_gui.core.text import format_duration

BAR_WIDTH = 28
# A terminal redraw costs a write; 10 a second is smooth enough.
BAR_INTERVAL_S = 0.1
LINE_INTERVAL_S = 10.0


class ProgressMode(enum.Enum):
    """How progress is shown."""

    BAR = "bar"
    LINES = "lines"
    SILENT = "silent"


def choose_mode(stream: TextIO, json_output: bool) -> ProgressMode:
    """The mode for `stream`: silent for JSON output, a bar on a terminal, else lines."""
    if json_output:
        return ProgressMode.SILENT
    try:
        return ProgressMode.BAR if stream.isatty() else ProgressMode.LINES
    except (AttributeError, ValueError):  # a closed or unusual stream
        return ProgressMode.LINES


class ProgressReporter:
    """A `progress(done, total)` callable that draws progress on a stream.

    Args:
        label: what is being done ("embedding", "training").
        unit: what is counted ("images", "batches").
        stream: where to write (stderr by default, so stdout stays for results).
        mode: a `ProgressMode`; None chooses from `stream` and `json_output`.
        json_output: whether the command prints JSON (then nothing is shown).
        clock: returns seconds; replaceable in tests.
        line_interval_s: seconds between plain lines.
    """

    def __init__(
        self,
        label: str,
        unit: str = "items",
        stream: TextIO | None = None,
        mode: ProgressMode | None = None,
        json_output: bool = False,
        clock: Callable[[], float] = time.monotonic,
        line_interval_s: float = LINE_INTERVAL_S,
    ):
        self.label = label
        self.unit = unit
        stream = stream if stream is not None else sys.stderr
        # The bar writes its own carriage return and erase sequence: past the sanitiser.
        self.stream = getattr(stream, "raw", stream)
        self.mode = mode or choose_mode(self.stream, json_output)
        self.clock = clock
        self.line_interval_s = line_interval_s
        self._start = clock()
        self._last_draw: float | None = None
        self._bar_shown = False
        self._finished = False
        self.note = ""

    def __call__(self, done: int, total: int) -> None:
        if self.mode is ProgressMode.SILENT:
            return
        now = self.clock()
        finished = total > 0 and done >= total
        interval = BAR_INTERVAL_S if self.mode is ProgressMode.BAR else self.line_interval_s
        if not finished and self._last_draw is not None and now - self._last_draw < interval:
            return
        if finished and self._finished:
            return
        self._last_draw = now
        self._finished = finished
        text = self.describe(done, total, now - self._start)
        if self.mode is ProgressMode.BAR:
            self.stream.write("\r\033[K" + text + ("\n" if finished else ""))
            self._bar_shown = not finished
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def describe(self, done: int, total: int, elapsed: float) -> str:
        """The progress text: label, bar (terminal only), counts, rate, time left."""
        fraction = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        parts = [shown(self.label) + (f" {shown(self.note)}" if self.note else "")]
        if self.mode is ProgressMode.BAR:
            filled = int(round(fraction * BAR_WIDTH))
            parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
        parts.append(f"{done:,}/{total:,} {self.unit} ({100 * fraction:.0f} %)")
        rate = done / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{rate:,.1f} {self.unit}/s")
            if done < total:
                parts.append(f"{format_duration((total - done) / rate)} left")
            else:
                parts.append(f"took {format_duration(elapsed)}")
        return "  ".join(parts)

    def clear(self) -> None:
        """Erase the bar (before printing another line to the terminal)."""
        if self.mode is ProgressMode.BAR and self._bar_shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._bar_shown = False
            self._last_draw = None  # redraw at the next update

    def close(self) -> None:
        """End the bar's line if one is shown (for work that stopped early)."""
        if self.mode is ProgressMode.BAR and self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False
