"""How torch's OpenMP threads wait for work, chosen for machines shared with other work.

Between two parallel regions an idle OpenMP thread spins before it sleeps: libgomp (torch's
OpenMP runtime in the Linux wheels) spins GOMP_SPINCOUNT iterations, 300000 by default. On an
idle machine the spin saves a wake-up; on cores busy with other processes, threads that spin
while the thread they wait for is descheduled burn the time it needed, and a 2-thread step ran
6x slower than a 1-thread one (bench/busy_machine.py). A short spin keeps most of the idle
speed and yields the cores when they are wanted. libgomp reads its environment once, when
torch loads it: the command lines call `wait_for_work_briefly()` before anything imports torch.
A user's own OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME (Intel's runtime) wins.
"""

import os
from collections.abc import Mapping

USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
SPIN_COUNT = 10_000  # bench/busy_machine.py
BLOCK_TIME_MS = 1  # the same for Intel's OpenMP runtime (default 200 ms)


def brief_waiting(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that make OpenMP threads wait briefly; none where `environ` already sets
    how they wait."""
    if any(name in environ for name in USER_SETTINGS):
        return {}
    return {"GOMP_SPINCOUNT": str(SPIN_COUNT), "KMP_BLOCKTIME": str(BLOCK_TIME_MS)}


def wait_for_work_briefly() -> None:
    """Set brief_waiting's variables in this process (and the ones it starts)."""
    os.environ.update(brief_waiting(os.environ))
