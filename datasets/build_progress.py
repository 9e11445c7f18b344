"""The progress of a build's collection (infra.progress: a bar on a terminal, a plain line every
so often in a log).

Every env finishes the episode it started, so a build collects somewhat more steps than its
target: the count is shown capped at the target while collecting, and the real total at the end.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from infra.progress import ProgressDisplay


@contextmanager
def collection_progress(
    dataset_id: str, target: int, show: bool
) -> Iterator[Callable[[int], None]]:
    """Yields `on_steps(n)`, to be called with the length of each collected episode."""
    collected = 0
    with ExitStack() as stack:
        display = None
        if show:
            display = stack.enter_context(ProgressDisplay(f"build {dataset_id}", target))

        def on_steps(steps: int) -> None:
            nonlocal collected
            collected += steps
            if display is not None:
                display.update(collected)

        yield on_steps
        if display is not None:
            display.finish(collected)
