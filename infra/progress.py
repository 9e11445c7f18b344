"""Progress of a counted piece of work (training steps, collected steps): a live bar on a
terminal, plain lines where output is not one (a log file, a pipe, a batch job), in which a bar
would print nothing:

    build replica/hopper/medium-v0: 120000/1000000 steps, 5012 steps/s, ETA 2m55s

A line each time another tenth of the total is done, or after `every_seconds` without one.
"""

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class ProgressDisplay:
    """`with ProgressDisplay(label, total) as progress: progress.update(done, detail)`; the
    count shown is capped at `total` (the last piece of work may overshoot it), `finish` says
    what was done in all. `completed` is where a resumed piece of work starts."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "steps",
        completed: int = 0,
        every_seconds: float = 30.0,
        stream: TextIO | None = None,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.every_seconds = every_seconds
        self.stream = stream if stream is not None else sys.stderr
        self.detail = ""
        self.start, self.started_at = completed, time.monotonic()
        self.last_line_at = self.started_at
        self.next_tenth = self._tenths(completed) + 1
        self._bar = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            disable=not self.stream.isatty(),
        )
        self._task = self._bar.add_task(label, total=total, completed=completed, detail="")

    def __enter__(self) -> "ProgressDisplay":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._bar.__exit__(*exc_info)

    def update(self, completed: int, detail: str = "") -> None:
        """`completed` units done so far; `detail` (e.g. "loss 0.031") is shown beside them
        until another detail replaces it."""
        self.detail = detail or self.detail
        self._bar.update(self._task, completed=min(completed, self.total), detail=self.detail)
        if self._bar.disable:
            self._log_line(completed)

    def finish(self, completed: int, detail: str = "") -> None:
        """The last line: what was done in all, and how long it took."""
        self._bar.update(self._task, total=completed, completed=completed)
        elapsed = time.monotonic() - self.started_at
        rate = (completed - self.start) / max(elapsed, 1e-9)
        self._print(
            f"{completed} {self.unit} in {format_duration(elapsed)}, {rate:.0f} {self.unit}/s",
            detail,
        )

    def _tenths(self, completed: int) -> int:
        return min(completed, self.total) * 10 // max(self.total, 1)

    def _log_line(self, completed: int) -> None:
        now = time.monotonic()
        tenths = self._tenths(completed)
        if tenths < self.next_tenth and now - self.last_line_at < self.every_seconds:
            return
        self.next_tenth = tenths + 1
        self.last_line_at = now
        shown = min(completed, self.total)
        rate = (completed - self.start) / max(now - self.started_at, 1e-9)
        remaining = (self.total - shown) / rate if rate > 0 else float("inf")
        self._print(
            f"{shown}/{self.total} {self.unit}, {rate:.0f} {self.unit}/s, "
            f"ETA {format_duration(remaining)}",
            self.detail,
        )

    def _print(self, text: str, detail: str) -> None:
        if not self._bar.disable:
            return  # the bar shows it
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
