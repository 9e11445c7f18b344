"""Child processes that end with the process that started them, even when it is killed with
SIGKILL: a pool worker left behind would go on computing for nobody, hold its memory, its run
folder's lock, or block for ever writing to a pipe nobody reads.

    die_with_parent(parent_pid)   # first thing in the child (a pool's initializer)

On Linux the kernel sends the signal when the parent dies (prctl PR_SET_PDEATHSIG; note that it
follows the parent *thread* that started the child, so start pools from a thread that outlives
them, e.g. the main thread). Elsewhere a watch thread notices that the parent pid changed. Either
way SIGKILL follows `grace_seconds` later, should the child not have ended by then."""

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_SECONDS = 1.0


def die_with_parent(
    parent_pid: int, signal_number: int = signal.SIGTERM, grace_seconds: float = 30.0
) -> None:
    """Have this process receive `signal_number` when `parent_pid` (the process that started it)
    ends, then SIGKILL `grace_seconds` later. SIGTERM lets the child stop cleanly first (the
    training loop writes a checkpoint on it)."""
    from_kernel = sys.platform.startswith("linux") and _set_parent_death_signal(signal_number)
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to watch it
        os.kill(os.getpid(), signal_number)
    threading.Thread(
        target=_watch,
        args=(parent_pid, signal_number, grace_seconds, from_kernel),
        name="die-with-parent",
        daemon=True,
    ).start()


def _set_parent_death_signal(signal_number: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0) == 0


def _watch(parent_pid: int, signal_number: int, grace_seconds: float, from_kernel: bool) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_SECONDS)
    if not from_kernel:
        os.kill(os.getpid(), signal_number)
    time.sleep(grace_seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def orphaned(parent_pid: int) -> bool:
    """Whether the process that started this one has ended."""
    return os.getppid() != parent_pid
