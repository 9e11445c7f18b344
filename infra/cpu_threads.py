"""Torch's CPU threads sized to the cores other processes leave free.

torch's OpenMP threads spin while they wait for each other. On a machine where other processes
keep the cores busy, a thread that waits spins away the time slice the thread it waits for
needed: a 2-thread training step beside two busy processes ran at 0.6-0.7x the speed of a
1-thread step, while on an idle machine 2 threads ran 1.6-1.8x faster (bench/busy_machine.py).
Making every wait passive (OMP_WAIT_POLICY) or shorter (GOMP_SPINCOUNT) cost 3-23% of the idle
speed there, so instead the thread count follows the cores that the rest of the machine leaves
free: all of them on an idle machine, one on a busy one.

A run chooses its count once, at its start, and keeps it: matrix products sum in another order
on another number of threads, so a count that changed during a run would make a resumed run
differ from an uninterrupted one in the last bits. Training records the count in its checkpoint
and a resumed run uses it again. Following the load during a run (`adapt`) is an opt-in that
gives that up. The CPU time the machine spent is read from /proc/stat (Linux); elsewhere, or
where the user fixed the count (OMP_NUM_THREADS), the count is torch's own.
"""

import os
import time
from pathlib import Path

import torch

PROC_STAT = Path("/proc/stat")
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal ... (in clock ticks)
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# How long the load is read at a run's start: the process is idle meanwhile.
START_READING_SECONDS = 0.25
clock, pause = time.monotonic, time.sleep  # module attributes, so that tests can feed them


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it started, over all cores."""
    ticks = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]
    return sum(int(ticks[index]) for index in BUSY_FIELDS) / TICKS_PER_SECOND


def own_busy_seconds() -> float:
    """CPU seconds this process has spent, over all its threads."""
    times = os.times()
    return times.user + times.system


def _sample() -> tuple[float, float, float]:
    return clock(), machine_busy_seconds(), own_busy_seconds()


class ThreadsForFreeCores:
    """Inside the block, torch runs on `count` threads: the recorded count when given (a
    resumed run), else the cores others leave free at the start, between 1 and torch's count
    at construction. With `adapt`, `adjust()` (called at every step) moves the count with the
    free cores every `every_seconds`. On leaving, torch's count at construction comes back."""

    def __init__(self, count: int | None = None, adapt: bool = False, every_seconds: float = 1.0):
        self.max_threads = torch.get_num_threads()
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        sizing = "OMP_NUM_THREADS" not in os.environ and self.max_threads > 1
        sizing &= PROC_STAT.is_file()
        self.adapt = adapt and sizing
        self.every_seconds = every_seconds
        if count is not None:
            self.count = count
        elif sizing and not adapt:
            before = _sample()
            pause(START_READING_SECONDS)
            self.count = self._threads_since(before)
        else:
            self.count = self.max_threads
        self.last = _sample() if self.adapt else None

    def __enter__(self) -> "ThreadsForFreeCores":
        torch.set_num_threads(self.count)
        return self

    def __exit__(self, *exception) -> None:
        torch.set_num_threads(self.max_threads)

    def _threads_since(self, before: tuple[float, float, float]) -> int:
        """The cores others left free since the sample `before`, as a thread count."""
        self.last = _sample()
        elapsed, machine, own = (now - then for now, then in zip(self.last, before, strict=True))
        others = max(machine - own, 0.0) / elapsed  # cores kept busy by other processes
        return max(1, min(self.max_threads, round(self.cores - others)))

    def adjust(self) -> None:
        if not self.adapt or clock() - self.last[0] < self.every_seconds:
            return
        threads = self._threads_since(self.last)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
