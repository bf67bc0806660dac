"""Numbers in words, written the same way by every layer and front end.

Below all layers (like `errors.py`): plain Python, imports nothing of the project.
"""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """A duration as people read it: "14 s", "7 min 50 s", "1 h 02 min".

    Rounded to whole seconds (whole minutes from an hour up); negative or non-finite
    durations read "0 s".
    """
    seconds = max(0, int(round(seconds))) if math.isfinite(seconds) else 0
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"
