"""A Ray suite stopped from outside: Ctrl-C says in one line how to continue and exits 130; a
kill -9 of its main process leaves no Ray process of its local instance alive after 10 s; and
either way the instance's session folders are gone. Pids are read back from /proc."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.paths import REPOSITORY
from tests.helpers.processes import alive, descendants, stop_pids, wait_until_gone
from tests.helpers.ray_clusters import ray_environment

pytestmark = pytest.mark.slow  # starting Ray takes tens of seconds on 2 cores


def started_suite(out_dir: Path, log: Path) -> subprocess.Popen:
    """benchmark.py on a local Ray instance, in a process group of its own (as a terminal's
    foreground job), its output in `log`."""
    command = [sys.executable, "benchmark.py", "run", "--preset", "smoke", "--seeds", "0"]
    command += ["--out-dir", str(out_dir), "--engine", "ray", "--steps", "100000"]
    with open(log, "w") as output:
        return subprocess.Popen(
            command,
            cwd=REPOSITORY,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def pids_once_training(process: subprocess.Popen, log: Path, out_dir: Path) -> set[int]:
    """Every process the suite started (sampled), once a run has written a checkpoint."""
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while not list(out_dir.glob("runs/*/events.out.tfevents.*")):
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        seen.update(descendants(process.pid))
        time.sleep(0.1)
    time.sleep(2.0)
    seen.update(descendants(process.pid))
    return seen


def test_ctrl_c_says_how_to_continue_and_leaves_nothing(tmp_path, monkeypatch):
    out_dir, log = tmp_path / "results", tmp_path / "log"
    with ray_environment(monkeypatch) as variables:
        process = started_suite(out_dir, log)
        seen = pids_once_training(process, log, out_dir)
        try:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            process.wait(timeout=120)
            output = log.read_text()
            assert process.returncode == 130, output
            assert "Traceback" not in output and "Error" not in output, output
            (line,) = [line for line in output.splitlines() if "continue with" in line]
            assert line.startswith("interrupted; continue with: python benchmark.py run ")
            assert not wait_until_gone(list(seen), 10)
            assert not list(Path(variables["RAY_TMPDIR"]).glob("ray-suite-*"))
        finally:
            stop_pids(alive([process.pid, *seen]))


def test_kill_9_of_the_suite_leaves_no_ray_process_after_10_s(tmp_path, monkeypatch):
    out_dir, log = tmp_path / "results", tmp_path / "log"
    with ray_environment(monkeypatch) as variables:
        process = started_suite(out_dir, log)
        seen = pids_once_training(process, log, out_dir)
        try:
            assert len(seen) >= 4  # GCS, raylet, agents, a worker
            process.kill()
            process.wait()
            assert not wait_until_gone(list(seen), 10), log.read_text()
            assert not list(Path(variables["RAY_TMPDIR"]).glob("ray-suite-*"))
        finally:
            stop_pids(alive(list(seen)))
