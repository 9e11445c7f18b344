"""Locks that keep two processes from using one dataset or run folder at once.

An OS lock (flock) on a small lock file: the OS releases it when its holder exits, even when
killed with SIGKILL, so a lock file left behind never blocks anyone. The file holds the
holder's pid, for the error message. Lock files stay in place: removing one while another
process has it open would let two processes hold "the" lock at once.

    with hold_lock(run_dir / ".lock", f"run folder {run_dir}"):
        ...  # a second process gets LockError at once: "another process is using run folder ..."
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.errors import InputError


class LockError(InputError):
    """Another process holds the lock (one-line message naming the lock file and its pid)."""


class Lock:
    """A held lock; `release()` (or leaving its `with` block) gives it back."""

    def __init__(self, path: Path, descriptor: int):
        self.path = path
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)  # closing the last descriptor releases the flock
            self._descriptor = -1

    def __enter__(self) -> "Lock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def acquire_lock(path: str | Path, what: str) -> Lock:
    """Take the lock at `path` (created if absent) without waiting; `what` names the thing it
    guards in the error. Raises LockError while another process (or another `acquire_lock` in
    this one) holds it."""
    path = Path(path)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _recorded_pid(descriptor)
        os.close(descriptor)
        raise LockError(
            f"another process is using {what} (lock {path} held by pid {holder or 'unknown'})"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return Lock(path, descriptor)


@contextmanager
def hold_lock(path: str | Path, what: str) -> Iterator[Lock]:
    """`acquire_lock` for the duration of a `with` block."""
    with acquire_lock(path, what) as lock:
        yield lock


def lock_holder(path: str | Path) -> int | None:
    """The pid of the live process holding the lock at `path`; None when nobody holds it (or the
    file does not exist). 0 when it is held but the pid is not written yet."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _recorded_pid(descriptor) or 0
    finally:
        os.close(descriptor)
    return None


def _recorded_pid(descriptor: int) -> int | None:
    text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
