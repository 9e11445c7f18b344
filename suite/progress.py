"""What the suite shows while it runs: on a terminal a live table of the runs (pending, running,
done, failed; steps; ETA), otherwise one plain line per run event, readable in a cluster log."""

import sys
import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from infra.progress import format_duration
from suite.results_folder import trained_steps


def make_progress(run_dirs: dict[str, Path], steps: int, workers: int):
    if sys.stdout.isatty():
        return LiveProgress(run_dirs, steps, workers)
    return LogProgress()


class LogProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def on_event(self, event: tuple) -> None:
        """("started" or "waiting", name[, detail]) or ("done", outcome)."""
        stamp = time.strftime("%H:%M:%S")
        if event[0] != "done":
            kind, name, *detail = event
            print(" ".join([stamp, kind, name, *detail]), flush=True)
            return
        outcome = event[1]
        if outcome.status == "finished":
            detail = (
                f"score {outcome.score:.1f} (train {outcome.train_seconds:.1f} s, evaluate "
                f"{outcome.evaluate_seconds:.1f} s)"
            )
        else:
            detail = outcome.error or "stopped; its checkpoint is kept"
        print(f"{stamp} {outcome.status} {outcome.name}: {detail}", flush=True)


class LiveProgress:
    """A rich Live table; steps of a running run are read from its latest checkpoint."""

    def __init__(self, run_dirs: dict[str, Path], steps: int, workers: int):
        self.run_dirs, self.steps, self.workers = run_dirs, steps, workers
        self.state = dict.fromkeys(run_dirs, "pending")
        self.detail = dict.fromkeys(run_dirs, "")
        self.started: dict[str, float] = {}
        self.durations: list[float] = []
        self.live = Live(get_renderable=self._render, console=Console(), refresh_per_second=1)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def on_event(self, event: tuple) -> None:
        if event[0] == "waiting":
            self.detail[event[1]] = f"waiting {event[2]}"
            return
        if event[0] == "started":
            self.state[event[1]] = "running"
            self.started[event[1]] = time.monotonic()
            self.detail[event[1]] = " ".join(event[2:])
            return
        outcome = event[1]
        self.state[outcome.name] = outcome.status
        if outcome.status == "finished":
            self.durations.append(
                time.monotonic() - self.started.get(outcome.name, time.monotonic())
            )
            self.detail[outcome.name] = f"score {outcome.score:.1f}"
        else:
            self.detail[outcome.name] = outcome.error or ""

    def _eta(self) -> str:
        left = sum(state in ("pending", "running") for state in self.state.values())
        if not self.durations or not left:
            return "-"
        return format_duration(sum(self.durations) / len(self.durations) * left / self.workers)

    def _render(self):
        table = Table("run", "state", "steps", "result", title="benchmark suite")
        styles = {"running": "cyan", "finished": "green", "failed": "red", "interrupted": "yellow"}
        for name, state in self.state.items():
            steps = trained_steps(self.run_dirs[name]) if state == "running" else ""
            steps = f"{steps}/{self.steps}" if state == "running" else ""
            table.add_row(name, f"[{styles.get(state, 'dim')}]{state}", steps, self.detail[name])
        counts = {s: sum(v == s for v in self.state.values()) for s in set(self.state.values())}
        summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        return Group(table, f"{summary}; ETA {self._eta()}")
