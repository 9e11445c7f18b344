"""The benchmark suite's own overhead: wall time of `benchmark.py run --preset smoke` minus the
time its runs spend training and evaluating, per engine; and how busy the CPU cores are while
runs execute.

    python bench/suite_overhead.py --json bench/results/suite_overhead-cpu.json

overhead = wall - (sum of the runs' train + evaluate seconds) / workers: what a perfect scheduler
with free process start-up would not spend (imports in the suite and its workers, Ray's start,
dataset checks, the report and plots). Between the first run's start and the last run's end:
the suite's share of all cores (CPU seconds of its process tree, from /proc/<pid>/stat) and how
busy the machine was (/proc/stat, every process: on a shared machine others count too).
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


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its descendants (children already waited
    for are in its cutime/cstime), read from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:  # the process has just ended
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK") + sum(
        tree_cpu_seconds(int(c)) for c in children.split()
    )


def machine_busy_fraction(before: list[int], after: list[int]) -> float:
    """Share of all cores' time that was not idle (any process's) between two /proc/stat reads."""
    busy = [sum(v) - v[3] - v[4] for v in (before, after)]  # all but idle and iowait
    return (busy[1] - busy[0]) / max(1, sum(after) - sum(before))


def cpu_line() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]


def measure(engine: str, steps: int, workers: int) -> dict:
    samples: list[tuple[float, float, list[int]]] = []  # (time, suite's CPU s, /proc/stat)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), tree_cpu_seconds(process.pid), cpu_line()))
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
        load_before = os.getloadavg()[0]  # other work on a shared machine shows here
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
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
    (t0, cpu0, stat0), (t1, cpu1, stat1) = inside[0], inside[-1]
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
        "suite_cpu_share_while_running": (cpu1 - cpu0) / ((t1 - t0) * os.cpu_count()),
        "machine_busy_while_running": machine_busy_fraction(stat0, stat1),
        "load_average_before": load_before,
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
    report(payload, rows, args.json, [column for column in rows[0] if column != "runs_s_sum"])


if __name__ == "__main__":
    main()
