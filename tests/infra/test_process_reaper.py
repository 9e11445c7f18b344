"""Processes started inside the block end with it, and its folder is removed, however short
the block; pids are read back from /proc."""

import subprocess
import sys
import time

import pytest

from infra.process_reaper import processes_end_with_this_one
from tests.helpers.processes import alive, stop_pids, wait_until_gone


def test_a_block_that_ends_at_once_leaves_no_folder(tmp_path):
    folder = tmp_path / "instance"
    folder.mkdir()
    with processes_end_with_this_one(folder):
        pass
    assert not folder.exists()


@pytest.mark.slow  # a grace period of 3 s for a child that stays a zombie until reaped
def test_a_process_started_inside_ends_with_the_block(tmp_path):
    folder = tmp_path / "instance"
    folder.mkdir()
    with processes_end_with_this_one(folder):
        # a service and a process of its own, as a raylet and its workers
        command = (
            "import subprocess, time; print(subprocess.Popen(['sleep', '60']).pid, flush=True)"
        )
        command += "; time.sleep(60)"
        service = subprocess.Popen(
            [sys.executable, "-c", command], stdout=subprocess.PIPE, text=True
        )
        started = [service.pid, int(service.stdout.readline())]
        time.sleep(1.5)  # the watcher looks every 0.5 s
        assert alive(started) == started
    try:
        assert not wait_until_gone(started, 10)
        assert not folder.exists()
    finally:
        stop_pids(alive(started))
        service.wait()
