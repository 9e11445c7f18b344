"""A build worker killed from outside ends the build with one line, not BrokenProcessPool's
traceback."""

import multiprocessing
import os
import signal

import pytest

from datasets.collect import CollectionTask, collect_all
from datasets.errors import BuildWorkerDied


@pytest.mark.slow  # two spawned workers import gymnasium and MuJoCo: about 10 s here
def test_a_killed_worker_is_one_line():
    tasks = [CollectionTask("Hopper-v5", None, 200_000, 1, seed) for seed in range(2)]
    killed = []

    def kill_a_worker(steps: int) -> None:
        if not killed:
            killed.append(multiprocessing.active_children()[0].pid)
            os.kill(killed[0], signal.SIGKILL)

    with pytest.raises(BuildWorkerDied) as error:
        collect_all(tasks, 2, kill_a_worker)
    assert "worker process building the dataset died" in str(error.value)
    assert "\n" not in str(error.value)
