"""The suite on a real multi-node Ray cluster on this machine (tests/helpers/ray_clusters.py: real GCS and
raylets, on 127.0.0.1): runs spread over the nodes; a node lost mid-suite costs only the steps
since its runs' last checkpoints; GPUs shared by runs as asked; a cluster the suite cannot use
(a token it lacks, a node that does not see a folder) is refused in one line before any run."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import benchmark
from suite.results_folder import trained_steps
from tests.helpers.processes import alive, stop_process_tree
from tests.helpers.ray_clusters import FAST_NODE_FAILURE, kill_node, loopback_cluster, ray_environment

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[1]
STEPS = 100  # smoke's settings, long enough to lose a node mid-run (checkpoints every 5 steps)
STARTED = re.compile(r"started (\S+) on node \S+ (\w+) \(([^)]*)\), from step (\d+)")
FINISHED = re.compile(r"finished (\S+):")


def suite_argv(out_dir: Path, *flags: str, steps: int = STEPS) -> list[str]:
    return ["run", "--preset", "smoke", "--steps", str(steps), "--out-dir", str(out_dir), *flags]


def start_suite(argv: list[str], env: dict | None = None) -> tuple[subprocess.Popen, list[str]]:
    """benchmark.py in a process of its own; its output lines are collected as they come."""
    process = subprocess.Popen(
        [sys.executable, "benchmark.py", *argv],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return process, lines


def starts(lines: list[str]) -> list[tuple[str, str, str, int]]:
    """(run, node, resources, step it started from) of every start, in order."""
    found = [STARTED.search(line) for line in list(lines)]
    return [(m[1], m[2], m[3], int(m[4])) for m in found if m]


def cells(out_dir: Path) -> list[dict]:
    return json.loads((out_dir / "report.json").read_text())["cells"]


def finished(lines: list[str]) -> list[str]:
    return [m[1] for m in map(FINISHED.search, list(lines)) if m]


def test_runs_spread_over_nodes_and_a_lost_node_costs_only_unsaved_steps(tmp_path, monkeypatch):
    reference = tmp_path / "undisturbed"
    assert benchmark.main(suite_argv(reference, "--workers", "2")) == 0
    out_dir = tmp_path / "results"
    with (
        ray_environment(monkeypatch),
        loopback_cluster([1, 1], _system_config=FAST_NODE_FAILURE) as cluster,
    ):
        head = cluster.head_node.node_id[:8]
        worker_node = next(iter(cluster.worker_nodes))
        worker = worker_node.node_id[:8]
        argv = suite_argv(out_dir, "--engine", "ray", "--ray-address", cluster.address)
        process, lines = start_suite(argv)
        try:
            # The moment to lose the worker node: one of its runs has finished, and another is
            # between two checkpoints.
            victim = None
            deadline = time.monotonic() + 300
            while victim is None and process.poll() is None and time.monotonic() < deadline:
                on_worker = [run for run, node, _, _ in starts(lines) if node == worker]
                if set(on_worker) & set(finished(lines)):
                    victim = next(
                        (r for r in on_worker if 0 < trained_steps(out_dir / "runs" / r) < STEPS),
                        None,
                    )
                time.sleep(0.05)
            assert victim, "no moment to lose the worker node came:\n" + "".join(lines)
            done = {
                run: (out_dir / "runs" / run / "checkpoint.pt").stat().st_mtime_ns
                for run in finished(lines)
            }
            killed = kill_node(worker_node)
            assert process.wait(timeout=600) == 0, "".join(lines)
        finally:
            if process.poll() is None:
                stop_process_tree(process)
        assert not alive(killed)

        other = tmp_path / "other"  # a GPU share asked of a cluster without GPUs
        flags = ["--engine", "ray", "--ray-address", cluster.address, "--gpus-per-run", "0.5"]
        result = subprocess.run(
            [sys.executable, "benchmark.py", *suite_argv(other, *flags)],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and not other.exists(), result.stderr
        assert result.stderr.endswith("--gpus-per-run 0.5: the cluster has no GPU\n")

    attempts = starts(lines)
    assert {node for _, node, _, _ in attempts} == {head, worker}  # the runs went to both nodes
    tries = [(node, step) for run, node, _, step in attempts if run == victim]
    assert len(tries) == 2 and tries[0] == (worker, 0) and tries[1][0] == head, tries
    assert 0 < tries[1][1] < STEPS  # the retry resumed from the run's last checkpoint
    assert any(node == worker for run, node, _, _ in attempts if run in done)
    for run, saved in done.items():  # finished before the loss (on either node): left alone
        assert [attempt[0] for attempt in attempts].count(run) == 1, run
        assert (out_dir / "runs" / run / "checkpoint.pt").stat().st_mtime_ns == saved
    assert cells(out_dir) == cells(reference)


def test_runs_share_a_gpu_as_asked_and_a_missing_token_is_one_line(tmp_path, monkeypatch):
    out_dir = tmp_path / "results"
    with ray_environment(monkeypatch), loopback_cluster([2], num_gpus=2) as cluster:
        # GPUs declared to Ray (none here): Ray grants them, the runs train on the CPU.
        argv = suite_argv(out_dir, "--seeds", "0", "--device", "cpu", steps=20)
        argv += ["--engine", "ray", "--ray-address", cluster.address, "--gpus-per-run", "0.5"]
        process, lines = start_suite(argv)
        try:
            assert process.wait(timeout=600) == 0, "".join(lines)
        finally:
            if process.poll() is None:
                stop_process_tree(process)
        assert [resources for _, _, resources, _ in starts(lines)] == ["CPU 1, GPU 0.5"] * 2

        home = tmp_path / "home"  # no ~/.ray/auth_token to fall back on
        home.mkdir()
        refused_dir = tmp_path / "refused"
        for left_out, given, expected in [
            ("RAY_AUTH_MODE", {}, "none is sent from here (RAY_AUTH_MODE is not 'token')"),
            ("RAY_AUTH_TOKEN", {}, "and none is given here"),
            (None, {"RAY_AUTH_TOKEN": "0" * 32}, "other than the one given here"),
        ]:
            env = {k: v for k, v in os.environ.items() if k != left_out} | given
            argv = suite_argv(refused_dir, "--engine", "ray", "--ray-address", cluster.address)
            result = subprocess.run(
                [sys.executable, "benchmark.py", *argv],
                cwd=REPOSITORY,
                env=env | {"HOME": str(home)},
                capture_output=True,
                text=True,
                timeout=120,
            )
            message = result.stderr.strip().splitlines()[-1]
            assert result.returncode == 2 and message.startswith("error: "), result.stderr
            assert expected in message and "RAY_AUTH_TOKEN" in message, message
            assert not refused_dir.exists()


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_unshare(), reason="needs mount namespaces (unshare --mount, root)")
def test_a_node_that_does_not_see_a_folder_is_named_before_any_run(tmp_path, monkeypatch):
    hidden = tmp_path / "not-shared"  # the extra node sees an empty folder here
    hidden.mkdir()
    store = hidden / "minari"
    from datasets.build import build_dataset
    from datasets.minari_store import minari_root

    with minari_root(store):
        build_dataset("hopper", "random", None, steps=600, workers=1, show_progress=False)
    with ray_environment(monkeypatch), loopback_cluster([1]) as cluster:
        mount = f"mount -t tmpfs tmpfs {hidden} && exec {sys.executable} -m tests.helpers.ray_worker_node"
        node = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"{mount} {cluster.address} 1",
            ],
            cwd=REPOSITORY,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert node.stdout.readline().strip() == "ready"
            cases = [
                (hidden / "results", {}, "results folder"),
                (
                    tmp_path / "results",
                    {"MINARI_DATASETS_PATH": str(store)},
                    "dataset replica/hopper/random-v0",
                ),
            ]
            for out_dir, env, what in cases:
                monkeypatch.setenv(
                    "MINARI_DATASETS_PATH", env.get("MINARI_DATASETS_PATH", str(tmp_path / "empty"))
                )
                argv = suite_argv(out_dir, "--engine", "ray", "--ray-address", cluster.address)
                if env:
                    argv += ["--datasets", "replica/hopper/random-v0"]
                result = subprocess.run(
                    [sys.executable, "benchmark.py", *argv],
                    cwd=REPOSITORY,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                message = result.stderr.strip().splitlines()[-1]
                assert result.returncode == 2 and message.startswith("error: node 127.0.0.1 ("), (
                    message
                )
                assert f"does not see the {what} {hidden}" in message, message
                assert not out_dir.exists()
        finally:
            stop_process_tree(node)
