"""The progress of a build's collection: a bar on a terminal, a plain line every so often in a
log (where a bar prints nothing).

Every env finishes the episode it started, so a build collects somewhat more steps than its
target: the count is shown capped at the target while collecting, and the real total at the end.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

from infra.progress import ProgressLog


@contextmanager
def collection_progress(
    dataset_id: str, target: int, show: bool
) -> Iterator[Callable[[int], None]]:
    """Yields `on_steps(n)`, to be called with the length of each collected episode."""
    collected = 0
    label = f"build {dataset_id}"
    with ExitStack() as stack:
        if not show:
            display = None
        elif sys.stderr.isatty():
            columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn())
            progress = Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True))
            display = _TerminalBar(stack.enter_context(progress), label, target)
        else:
            display = ProgressLog(label, target)

        def on_steps(steps: int) -> None:
            nonlocal collected
            collected += steps
            if display is not None:
                display.update(collected)

        yield on_steps
        if display is not None:
            display.finish(collected)


class _TerminalBar:
    """rich's bar, with ProgressLog's update/finish."""

    def __init__(self, progress: Progress, label: str, target: int):
        self.progress, self.target = progress, target
        self.task = progress.add_task(label, total=target)

    def update(self, completed: int) -> None:
        self.progress.update(self.task, completed=min(completed, self.target))

    def finish(self, completed: int) -> None:
        self.progress.update(self.task, total=completed, completed=completed)
