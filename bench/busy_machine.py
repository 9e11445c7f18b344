"""Training steps per second on an idle machine and beside competing processes: torch's threads
as train.py sizes them to the free cores at a run's start (infra.cpu_threads), against a fixed
count of threads that wait as libgomp does by default, passively (OMP_WAIT_POLICY=PASSIVE) or
after a short spin (GOMP_SPINCOUNT=10000), and against one thread.

    python bench/busy_machine.py [--competitors 2] [--repeats 3] [--json PATH]

Each measurement is a fresh process (OpenMP reads its environment when torch loads it): the
decision model with a min-gru backbone at train.py's defaults (d_model 128, 3 layers, K=20,
batch 64), two seconds of warm-up steps, then --steps timed steps. Competitors are processes
that keep one core each busy (a Python loop) during the loaded measurements. Configurations
interleave within every repeat; figures are medians.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import statistics
import subprocess
import time

REPOSITORY = Path(__file__).resolve().parents[1]
BUSY_LOOP = "while True: pass"
LOADS = ("idle", "busy")


def configurations(threads: int) -> dict[str, tuple[int, bool, dict]]:
    """name -> (torch threads, sized to the free cores?, environment variables; None: unset)."""
    clean = dict.fromkeys(("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    return {
        f"up to {threads} threads, sized to the free cores at the start (train.py)": (
            threads,
            True,
            clean,
        ),
        f"{threads} threads, default wait": (threads, False, clean),
        f"{threads} threads, PASSIVE": (threads, False, clean | {"OMP_WAIT_POLICY": "PASSIVE"}),
        f"{threads} threads, GOMP_SPINCOUNT=10000": (
            threads,
            False,
            clean | {"GOMP_SPINCOUNT": "10000"},
        ),
        "1 thread": (1, False, clean),
    }


def measure(threads: int, sized: bool, variables: dict, steps: int) -> float:
    """Steps per second of a fresh process with `variables` set."""
    environment = {k: v for k, v in os.environ.items() if k not in variables}
    environment |= {k: v for k, v in variables.items() if v is not None}
    command = [sys.executable, __file__, "--child", "--threads", str(threads)]
    command += ["--steps", str(steps), *(["--sized"] if sized else [])]
    output = subprocess.run(
        command, env=environment, cwd=REPOSITORY, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.splitlines()[-1])["steps_per_second"]


def child(threads: int, sized: bool, steps: int) -> None:
    import torch

    from datasets import WindowSampler, load_dataset
    from infra.cpu_threads import ThreadsForFreeCores
    from training.config import Args
    from training.single_model import SingleModel

    torch.set_num_threads(threads)
    # sized: the count train.py chooses at the start (the competitors are running by then)
    cpu_threads = ThreadsForFreeCores(count=None if sized else threads)
    args = Args()
    dataset = load_dataset(args.dataset)
    cpu = torch.device("cpu")
    trainee = SingleModel(args, dataset, WindowSampler(dataset, args.context_length), cpu)
    trainee.train()

    def step() -> None:
        cpu_threads.adjust()  # as train.py's loop does
        trainee.optimize(trainee.loss(0))

    with cpu_threads:
        warm_until = time.perf_counter() + 2 * cpu_threads.every_seconds
        while time.perf_counter() < warm_until:  # caches
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
    seconds = time.perf_counter() - start
    print(json.dumps({"steps_per_second": steps / seconds, "threads": cpu_threads.count}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--competitors", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sized", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.threads, args.sized, args.steps)
        return

    from bench.common import report

    candidates = configurations(args.threads)
    times = {(name, load): [] for name in candidates for load in LOADS}
    load_before = {load: [] for load in LOADS}
    for _ in range(args.repeats):
        for load in LOADS:
            load_before[load].append(os.getloadavg()[0])
            count = args.competitors if load == "busy" else 0
            competitors = [
                subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)
            ]
            try:
                for name, (threads, sized, variables) in candidates.items():
                    times[name, load].append(measure(threads, sized, variables, args.steps))
            finally:
                for process in competitors:
                    process.kill()
                    process.wait()
    median = {key: statistics.median(values) for key, values in times.items()}
    one_thread, default = "1 thread", f"{args.threads} threads, default wait"
    rows = [
        {
            "configuration": name,
            "idle_steps_per_s": median[name, "idle"],
            "busy_steps_per_s": median[name, "busy"],
            "busy_vs_1_thread": median[name, "busy"] / median[one_thread, "busy"],
            "idle_vs_default_wait": median[name, "idle"] / median[default, "idle"],
        }
        for name in candidates
    ]
    payload = {
        "benchmark": "busy_machine",
        "threads": args.threads,
        "competitors": args.competitors,
        "steps": args.steps,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_each_repeat": load_before,
        "steps_per_second": {f"{name} / {load}": values for (name, load), values in times.items()},
        "results": rows,
    }
    report(payload, rows, args.json)


if __name__ == "__main__":
    main()
