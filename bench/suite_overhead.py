"""The benchmark suite's own overhead: wall time of `benchmark.py run --preset smoke` minus the
time its runs spend training and evaluating, per engine; and how busy the CPU cores are while
runs execute.

    python bench/suite_overhead.py --json bench/results/suite_overhead-cpu.json

overhead = wall - (sum of the runs' train + evaluate seconds) / workers: what a perfect scheduler
with free process start-up would not spend (imports in the suite and its workers, Ray's start,
dataset checks, the report and plots). CPU utilisation is read from /proc/stat (all cores)
between the first run's start and the last run's end.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import re
import subprocess
import tempfile
import threading
import time

from bench.common import add_common_arguments, environment, report, setup

REPOSITORY = Path(__file__).resolve().parents[1]
RUN_TIMES = re.compile(r"train ([\d.]+) s, evaluate ([\d.]+) s")


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def measure(engine: str, steps: int, workers: int) -> dict:
    samples: list[tuple[float, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), *cpu_times()))
            time.sleep(0.25)

    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "benchmark.py",
            "run",
            "--preset",
            "smoke",
            "--steps",
            str(steps),
            "--out-dir",
            f"{folder}/results",
            "--engine",
            engine,
            "--workers",
            str(workers),
        ]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
        events = [(time.monotonic(), line) for line in process.stdout]
        process.wait()
        wall = time.monotonic() - start
        done.set()
        sampler.join()
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(command)} exited with {process.returncode}")
    run_seconds = [float(t) + float(e) for _, line in events for t, e in RUN_TIMES.findall(line)]
    first = min(t for t, line in events if " started " in line)
    last = max(t for t, line in events if " finished " in line)
    inside = [s for s in samples if first <= s[0] <= last]
    busy = (inside[-1][1] - inside[0][1]) / max(1, inside[-1][2] - inside[0][2])
    ideal = sum(run_seconds) / workers
    return {
        "engine": engine,
        "steps": steps,
        "runs": len(run_seconds),
        "wall_s": wall,
        "runs_s_sum": sum(run_seconds),
        "ideal_wall_s": ideal,
        "overhead_s": wall - ideal,
        "overhead_vs_runs": (wall - ideal) / ideal,
        "before_first_run_s": first - start,
        "after_last_run_s": start + wall - last,
        "cpu_utilisation_while_running": busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--engines", nargs="+", default=["local", "ray"])
    parser.add_argument(
        "--steps",
        nargs="+",
        type=int,
        default=[20, 200],
        help="smoke's 20 steps, and a longer run where start-up weighs less",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    device = setup(args)
    rows = [measure(engine, steps, args.workers) for steps in args.steps for engine in args.engines]
    payload = {
        "benchmark": "suite_overhead",
        "environment": environment(device) | {"cpu_cores": os.cpu_count()},
        "workers": args.workers,
        "results": rows,
    }
    columns = [
        "engine",
        "steps",
        "runs",
        "wall_s",
        "ideal_wall_s",
        "overhead_s",
        "overhead_vs_runs",
        "before_first_run_s",
        "after_last_run_s",
        "cpu_utilisation_while_running",
    ]
    report(payload, rows, columns, args.json)


if __name__ == "__main__":
    main()
