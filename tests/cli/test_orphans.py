"""No worker outlives a command killed with kill -9 (of its own pid, not its process group), and a
suite run again at once neither fails beside a run still being written nor keeps a stale
failure: the suite's local pool and training's background evaluation (the builder's collectors
are in tests/datasets/test_build.py)."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import benchmark
from suite.results_folder import record_failure, trained_steps
from suite.spec import load_preset, resolve
from suite.worker import RunTask, run_one
from tests.helpers.locks import hold_in_another_process
from tests.helpers.paths import REPOSITORY
from tests.helpers.processes import (
    descendants,
    kill,
    stop_pids,
    stop_process_tree,
    wait_until_gone,
)
from training import args_to_dict
from training.run_folder import LOCK_NAME


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def kill_main_process(process: subprocess.Popen, ready, timeout: float = 300) -> list[int]:
    """When ready() holds, SIGKILL the command's own pid (its workers get no signal from here).
    Returns the pids it had started that are still alive 10 s later (and then stops them)."""
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the command ended before it could be killed"
    workers = descendants(process.pid)
    assert workers, "the command had started no worker"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = wait_until_gone(workers, timeout=10)
    stop_pids(left)
    return left


@pytest.mark.slow  # about a minute: a suite killed, and the same command again at once
def test_kill_9_of_a_suite_leaves_no_worker_and_the_rerun_fails_nothing(tmp_path):
    out_dir = tmp_path / "results"
    argv = ["run", "--preset", "smoke", "--steps", "60", "--out-dir", str(out_dir)]
    suite = start([sys.executable, "benchmark.py", *argv, "--workers", "2"])
    try:
        training = lambda: any(  # noqa: E731
            trained_steps(run) > 0 for run in out_dir.glob("runs/*") if run.is_dir()
        )
        assert kill_main_process(suite, training) == []
    finally:
        stop_process_tree(suite)

    assert benchmark.main([*argv, "--workers", "2"]) == 0  # at once: nothing recorded failed
    report = json.loads((out_dir / "report.json").read_text())
    assert report["failed"] == [] and len(report["cells"]) == 4

    # A run that finished after an older suite recorded it failed is not reported failed.
    run_dir = next(out_dir.glob("runs/*"))
    record_failure(run_dir, "LockError: another process is using it", "")
    assert benchmark.main([*argv, "--workers", "2"]) == 0
    assert not (run_dir / "failed.json").exists()
    assert benchmark.main(["report", str(out_dir)]) == 0


def evaluated(run_dir: Path) -> bool:
    """Whether the run's TensorBoard events hold a periodic evaluation."""
    if not run_dir.is_dir():
        return False
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return any(tag.startswith("eval/") for tag in events.Tags()["scalars"])


def smoke_task(run_dir: Path, steps: int = 20) -> RunTask:
    suite = resolve(load_preset("smoke"))
    args = suite.training_args("replica/hopper/mini-v0", "min-gru", (0,), run_dir)
    return RunTask(
        run_dir.name, run_dir, args_to_dict(args) | {"steps": steps}, ("recurrent",), 1, 1
    )


def test_a_run_folder_held_by_a_live_process_is_waited_for_then_continued(tmp_path):
    run_dir = tmp_path / "runs" / "held"
    run_dir.mkdir(parents=True)
    record_failure(run_dir, "LockError: another process is using it", "")  # an older suite's
    holder = hold_in_another_process(run_dir / LOCK_NAME)
    threading.Timer(2.0, kill, args=(holder,)).start()  # it stops on its own, a bit later
    events = queue.SimpleQueue()
    start_time = time.monotonic()
    outcome = run_one(smoke_task(run_dir), events)
    assert outcome.status == "finished", outcome
    assert time.monotonic() - start_time >= 2.0
    assert events.get() == ("waiting", "held", f"for pid {holder.pid}, which is still writing it")
    assert events.get() == ("started", "held", "from step 0")
    assert not (run_dir / "failed.json").exists()


@pytest.mark.slow  # training with its evaluation in a background process, then kill -9
def test_kill_9_of_training_leaves_no_background_evaluation(tmp_path):
    out_dir = tmp_path / "run"
    command = [sys.executable, "train.py", "backbone:min-gru", "--backbone.d-model", "16"]
    command += ["--backbone.n-layers", "1", "--batch-size", "8", "--context-length", "5"]
    # The evaluation process takes each evaluation's weights from training (torch shares the
    # tensors through it), so one orphaned while idle ends when it asks for the next; one
    # orphaned in the middle of an evaluation goes on to its end. Evaluations are asked for
    # faster than they are done, so once the first is written the second is under way.
    command += ["--steps", "100000", "--eval-every", "20", "--eval-episodes", "2000"]
    command += ["--checkpoint-every", "20", "--eval-process", "background"]
    training = start([*command, "--out-dir", str(out_dir)])
    try:
        assert kill_main_process(training, lambda: evaluated(out_dir), timeout=600) == []
    finally:
        stop_process_tree(training)


def test_a_child_dies_with_its_parent_even_when_the_parent_is_killed(tmp_path):
    """infra.parent_death on its own: parent -> child, kill -9 of the parent alone."""
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import os, sys, time\\n"
        "from infra.parent_death import die_with_parent\\n"
        "die_with_parent(int(sys.argv[1]))\\n"
        "print(os.getpid(), flush=True)\\n"
        "time.sleep(600)', str(os.getpid())], stdout=sys.stdout)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPOSITORY, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert not wait_until_gone([child], timeout=5)
    finally:
        stop_process_tree(parent)
