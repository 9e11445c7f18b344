"""Processes a test started, found and stopped by pid (from /proc: Linux)."""

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from infra.process_reaper import descendants


def alive(pids: list[int]) -> list[int]:
    """The pids still running (a zombie, dead but not yet reaped by its parent, is not)."""
    return [pid for pid in pids if _state(pid) not in (None, "Z", "X")]


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to `timeout` seconds for the pids to end; returns those still alive."""
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def stop_pids(pids: list[int], timeout: float = 10) -> None:
    """SIGTERM each, then SIGKILL what is left after `timeout` seconds."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)
        if not wait_until_gone(pids, timeout):
            return


def stop_process_tree(process: subprocess.Popen) -> None:
    """Stop a command this test started and every process it started, by pid."""
    stop_pids([process.pid, *descendants(process.pid)])
    process.wait()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the process alone (not what it started), and reap it."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def run_watching(command: list[str], timeout: float, **options) -> tuple:
    """Run a command to its end, noting every process it starts (sampled every 0.1 s). Returns
    the CompletedProcess (text output) and those pids."""
    seen: set[int] = set()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, **options)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            seen.update(descendants(process.pid))
            if time.monotonic() > deadline:
                stop_process_tree(process)
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.1)
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(
            command, process.returncode, out.read(), err.read()
        ), seen


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
