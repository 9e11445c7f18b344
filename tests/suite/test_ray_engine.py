"""The Ray engine on a local Ray instance, started and shut down by the engine, on 127.0.0.1 and
in a private Ray folder (tests/helpers/ray_clusters.py), where a crashed `ray start` left a stale
record."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPOSITORY
from tests.helpers.processes import alive, run_watching, stop_pids
from tests.helpers.ray_clusters import ray_environment


def benchmark(*argv: str, started: set[int]) -> subprocess.CompletedProcess:
    """benchmark.py to its end; `started` gathers the pids of the processes it started."""
    result, pids = run_watching([sys.executable, "benchmark.py", *argv], 600, cwd=REPOSITORY)
    started.update(pids)
    return result


def refused(result: subprocess.CompletedProcess) -> str:
    """The one-line message of a command refused as bad input (exit status 2)."""
    assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1 and "None" not in result.stderr, result.stderr
    return result.stderr.removeprefix("error: ")


@pytest.mark.slow  # starting Ray takes tens of seconds on 2 cores
def test_smoke_suite_on_a_fresh_local_instance_despite_a_stale_cluster_record(
    tmp_path, monkeypatch
):
    out_dir = tmp_path / "results"
    argv = ["run", "--preset", "smoke", "--out-dir", str(out_dir), "--engine", "ray"]
    started: set[int] = set()
    with ray_environment(monkeypatch) as variables:
        ray_folder = Path(variables["RAY_TMPDIR"])
        stale = ray_folder / "ray" / "ray_current_cluster"
        stale.write_text("127.0.0.1:9")  # as a `ray start --head` that crashed leaves it
        try:
            result = benchmark(*argv, "--seeds", "0", started=started)
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.count("started ") == 2 and result.stdout.count("finished ") == 2
            report = json.loads((out_dir / "report.json").read_text())
            assert len(report["cells"]) == 4
            assert all(math.isfinite(cell["last"]["summary"]["mean"]) for cell in report["cells"])

            result = benchmark(
                *argv, "--seeds", "0", "1", started=started
            )  # adding a seed: runs only it
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.count("started ") == 2
            assert "__0 " not in result.stdout.split("report:")[0]

            # --ray-address auto means the recorded cluster, and says so when it is not there.
            other = tmp_path / "other"
            auto = ["run", "--out-dir", str(other), "--engine", "ray", "--ray-address", "auto"]
            dead = f"--ray-address auto (127.0.0.1:9, from {stale}): cannot connect"
            assert refused(benchmark(*auto, started=started)).startswith(dead)
            stale.unlink()
            none = "--ray-address auto: no Ray cluster is running here"
            assert refused(benchmark(*auto, started=started)).startswith(none)
            assert not other.exists()
        finally:
            left = alive(list(started))
            stop_pids(left)
        assert started and not left  # the engine shut its Ray instance down
