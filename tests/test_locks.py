"""infra/locks.py: one holder at a time across processes; a killed holder frees the lock."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.locks import LockError, acquire_lock, hold_lock, lock_holder

REPOSITORY = Path(__file__).resolve().parents[1]


def hold_in_another_process(path: Path, what: str = "x") -> subprocess.Popen:
    """A process that takes the lock, says so on stdout, then sleeps until killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from infra.locks import hold_lock\n"
            f"with hold_lock({str(path)!r}, {what!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_second_process_is_refused_with_the_holders_pid_until_the_holder_is_killed(tmp_path):
    path = tmp_path / ".lock"
    holder = hold_in_another_process(path)
    try:
        assert lock_holder(path) == holder.pid
        with pytest.raises(LockError) as error:
            acquire_lock(path, "run folder runs/x")
        assert str(error.value) == (
            f"another process is using run folder runs/x (lock {path} held by pid {holder.pid})"
        )
    finally:
        kill(holder)
    assert path.exists() and lock_holder(path) is None  # the OS released it at the kill
    with hold_lock(path, "run folder runs/x"):
        assert lock_holder(path) == os.getpid()
    assert lock_holder(path) is None


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    path = tmp_path / ".lock"
    assert lock_holder(path) is None  # no file: nobody holds it
    with hold_lock(path, "it"), pytest.raises(LockError, match="another process is using it"):
        acquire_lock(path, "it")
    acquire_lock(path, "it").release()
