"""Progress as plain lines, for output that is not a terminal (a log file, a pipe, a batch job),
where a live progress bar prints nothing:

    build replica/hopper/medium-v0: 120000/1000000 steps, 5012 steps/s, ETA 2m55s

One line each time another tenth of the total is done, or after `every_seconds` without one.
"""

import sys
import time
from typing import TextIO


class ProgressLog:
    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "steps",
        every_seconds: float = 30.0,
        stream: TextIO | None = None,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.every_seconds = every_seconds
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last_line_at = time.monotonic()
        self.next_tenth = 1

    def update(self, completed: int, detail: str = "") -> None:
        """`completed` units done so far (shown at most `total`: the last piece of work may
        overshoot it); `detail` is appended to the line, e.g. "loss 0.031"."""
        now = time.monotonic()
        tenths = min(completed, self.total) * 10 // max(self.total, 1)
        if tenths < self.next_tenth and now - self.last_line_at < self.every_seconds:
            return
        self.next_tenth = tenths + 1
        self.last_line_at = now
        shown = min(completed, self.total)
        rate = completed / max(now - self.start, 1e-9)
        remaining = (self.total - shown) / rate if rate > 0 else float("inf")
        self._print(
            f"{shown}/{self.total} {self.unit}, {rate:.0f} {self.unit}/s, "
            f"ETA {format_duration(remaining)}",
            detail,
        )

    def finish(self, completed: int, detail: str = "") -> None:
        """The last line: what was done in all, and how long it took."""
        elapsed = time.monotonic() - self.start
        rate = completed / max(elapsed, 1e-9)
        self._print(
            f"{completed} {self.unit} in {format_duration(elapsed)}, {rate:.0f} {self.unit}/s",
            detail,
        )

    def _print(self, text: str, detail: str) -> None:
        print(f"{self.label}: {text}" + (f", {detail}" if detail else ""), file=self.stream)
        self.stream.flush()  # a log read while the job runs shows the line now


def format_duration(seconds: float) -> str:
    """2m55s, 1h02m, 45s; '?' when unknown (nothing done yet)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
