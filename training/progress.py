"""Showing training progress: a live bar on a terminal, plain lines in a log file."""

import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from infra.progress import format_duration


class TrainingProgress:
    """On a terminal (stderr a TTY), a rich bar; otherwise one line per `report` call:
    `run step 200/1000  loss 0.1234  45.2 steps/s  ETA 17s`, so a log file shows progress."""

    def __init__(self, name: str, total: int, start: int):
        self.name, self.total = name, total
        self.terminal = sys.stderr.isatty()
        self._bar = Progress(
            TextColumn(f"[bold]{name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            disable=not self.terminal,
        )
        self._task = self._bar.add_task("train", total=total, completed=start, loss="-")

    def __enter__(self) -> "TrainingProgress":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._bar.__exit__(*exc_info)

    def advance(self, step: int) -> None:
        self._bar.update(self._task, completed=step)

    def report(self, step: int, loss: float, steps_per_second: float) -> None:
        self._bar.update(self._task, loss=f"{loss:.4f}")
        if not self.terminal:
            eta = format_duration((self.total - step) / steps_per_second)
            print(
                f"{self.name} step {step}/{self.total}  loss {loss:.4f}  "
                f"{steps_per_second:.1f} steps/s  ETA {eta}",
                file=sys.stderr,
                flush=True,
            )
