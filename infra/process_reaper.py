"""Processes that end with the block that started them, even when the process running the
block is killed with SIGKILL and cannot clean up itself, and a folder removed with them: for a
service a library starts (and the processes that service starts in turn), which would otherwise
outlive its user.

    with processes_end_with_this_one(folder):
        ...                 # e.g. ray.init() starting a local instance in `folder`

A watcher process (in a session of its own: Ctrl-C in the terminal does not reach it) notes
every process this one starts during the block, and theirs, from /proc (Linux; elsewhere it
finds none). When the block ends, or this process ends without leaving it, every noted
process still running gets SIGTERM, SIGKILL `GRACE_SECONDS` later, and `folder` is removed.
A process started and ended between two looks (0.5 s apart) is never seen, and needs none."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.5
GRACE_SECONDS = 3.0
ROOT = Path(__file__).resolve().parents[1]


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), which tells it from a later process
    given the same pid; None when there is no such process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """Every process started by `pid`, by its children, and so on."""
    try:
        listed = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:
        return []
    children = [int(child) for child in listed.split()]
    return children + [grandchild for child in children for grandchild in descendants(child)]


@contextlib.contextmanager
def processes_end_with_this_one(folder: Path) -> Iterator[None]:
    """See the module's docstring."""
    watcher = subprocess.Popen(
        [sys.executable, "-m", "infra.process_reaper", str(os.getpid()), str(folder)],
        cwd=ROOT,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        watcher.terminate()  # end what is left now
        watcher.wait()
        shutil.rmtree(folder, ignore_errors=True)  # a watcher ended before it began to watch


class _BlockEnded(Exception):
    pass


def _block_ended(signal_number, frame):
    raise _BlockEnded


def watch(parent: int, folder: Path) -> None:
    """The watcher: note `parent`'s new processes until it ends or says that its block ended
    (SIGTERM), then end them and remove `folder`."""
    started_after = start_time(os.getpid())
    noted: dict[int, int] = {}  # pid -> its start time
    signal.signal(signal.SIGTERM, _block_ended)
    with contextlib.suppress(_BlockEnded):
        while os.getppid() == parent:
            for pid in descendants(parent):
                started = start_time(pid)
                if pid != os.getpid() and started is not None and started >= started_after:
                    noted.setdefault(pid, started)
            time.sleep(POLL_SECONDS)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGKILL):
        running = [pid for pid, started in noted.items() if start_time(pid) == started]
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)
        deadline = time.monotonic() + GRACE_SECONDS
        while running and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            running = [pid for pid in running if start_time(pid) == noted[pid]]
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))
