"""Torch's CPU threads sized to the cores other processes leave free.

torch's OpenMP threads spin while they wait for each other. On a machine where other processes
keep the cores busy, a thread that waits spins away the time slice the thread it waits for
needed: a 2-thread training step beside two busy processes ran at 0.6-0.7x the speed of a
1-thread step, while on an idle machine 2 threads ran 1.6-1.8x faster (bench/busy_machine.py).
Making every wait passive (OMP_WAIT_POLICY) or shorter (GOMP_SPINCOUNT) cost 3-23% of the idle
speed there, so instead a loop calls `adjust()` at every step, and every few seconds the thread
count follows the cores that the rest of the machine left free: all of them on an idle machine,
one on a busy one. The CPU time the machine spent is read from /proc/stat (Linux); elsewhere, or
where the user fixed the count (OMP_NUM_THREADS), nothing changes.
"""

import os
import time
from pathlib import Path

import torch

PROC_STAT = Path("/proc/stat")
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal ... (in clock ticks)
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it started, over all cores."""
    ticks = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]
    return sum(int(ticks[index]) for index in BUSY_FIELDS) / TICKS_PER_SECOND


def own_busy_seconds() -> float:
    """CPU seconds this process has spent, over all its threads."""
    times = os.times()
    return times.user + times.system


class ThreadsForFreeCores:
    """`adjust()` at every step; every `every_seconds` it sets torch's thread count to the
    cores others left free over that time, between 1 and the count at construction. Used as a
    context manager, it gives that count back on leaving: a loop that ran on a busy machine
    leaves the next one (which takes the count it finds as its maximum) all the threads."""

    def __init__(self, every_seconds: float = 1.0):
        self.max_threads = torch.get_num_threads()
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self.enabled = (
            "OMP_NUM_THREADS" not in os.environ and self.max_threads > 1 and PROC_STAT.is_file()
        )
        self.every_seconds = every_seconds
        self.last = self._sample() if self.enabled else None

    def __enter__(self) -> "ThreadsForFreeCores":
        return self

    def __exit__(self, *exception) -> None:
        if self.enabled:
            torch.set_num_threads(self.max_threads)

    def _sample(self) -> tuple[float, float, float]:
        return time.monotonic(), machine_busy_seconds(), own_busy_seconds()

    def adjust(self) -> None:
        if not self.enabled or time.monotonic() - self.last[0] < self.every_seconds:
            return
        now = self._sample()
        elapsed, machine, own = (
            current - before for current, before in zip(now, self.last, strict=True)
        )
        self.last = now
        others = max(machine - own, 0.0) / elapsed  # cores kept busy by other processes
        threads = max(1, min(self.max_threads, round(self.cores - others)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
