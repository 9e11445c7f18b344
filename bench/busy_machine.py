"""Training steps per second on an idle machine and beside competing processes, for the ways
torch's OpenMP threads can wait: libgomp's default, OMP_WAIT_POLICY=PASSIVE, the command lines'
brief spin (infra.openmp), and one thread.

    python bench/busy_machine.py [--competitors 2] [--repeats 3] [--json PATH]

Each measurement is a fresh process (OpenMP reads its environment when torch loads it): the
decision model with a min-gru backbone at train.py's defaults (d_model 128, 3 layers, K=20,
batch 64), a few warm-up steps, then --steps timed steps. Competitors are processes that keep
one core each busy (a Python loop) for the loaded measurements. Configurations interleave
within every repeat; figures are medians.
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

from infra.openmp import brief_waiting

REPOSITORY = Path(__file__).resolve().parents[1]
BUSY_LOOP = "while True: pass"


def configurations(threads: int) -> dict[str, tuple[int, dict[str, str]]]:
    """name -> (torch threads, environment variables) of each way of waiting."""
    clean = {name: None for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    return {
        f"{threads} threads, default wait": (threads, clean),
        f"{threads} threads, PASSIVE": (threads, clean | {"OMP_WAIT_POLICY": "PASSIVE"}),
        f"{threads} threads, brief spin (CLIs)": (threads, clean | brief_waiting({})),
        "1 thread": (1, clean),
    }


def measure(threads: int, variables: dict, steps: int) -> float:
    """Steps per second of a fresh process with `variables` set (None: unset)."""
    environment = {k: v for k, v in os.environ.items() if k not in variables}
    environment |= {k: v for k, v in variables.items() if v is not None}
    command = [
        sys.executable,
        __file__,
        "--child",
        "--threads",
        str(threads),
        "--steps",
        str(steps),
    ]
    output = subprocess.run(
        command, env=environment, cwd=REPOSITORY, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.splitlines()[-1])["steps_per_second"]


def child(threads: int, steps: int) -> None:
    import torch

    from datasets import WindowSampler, load_dataset
    from training.config import Args
    from training.single_model import SingleModel

    torch.set_num_threads(threads)
    args = Args()
    dataset = load_dataset(args.dataset)
    cpu = torch.device("cpu")
    trainee = SingleModel(args, dataset, WindowSampler(dataset, args.context_length), cpu)
    trainee.train()
    for _ in range(3):
        trainee.optimize(trainee.loss(0))
    start = time.perf_counter()
    for _ in range(steps):
        trainee.optimize(trainee.loss(0))
    print(json.dumps({"steps_per_second": steps / (time.perf_counter() - start)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--competitors", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.threads, args.steps)
        return

    from bench.common import report

    candidates = configurations(args.threads)
    times = {(name, load): [] for name in candidates for load in ("idle", "busy")}
    for _ in range(args.repeats):
        for load in ("idle", "busy"):
            competitors = [
                subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
                for _ in range(args.competitors if load == "busy" else 0)
            ]
            try:
                for name, (threads, variables) in candidates.items():
                    times[name, load].append(measure(threads, variables, args.steps))
            finally:
                for process in competitors:
                    process.kill()
                    process.wait()
    rows = []
    one_thread = {load: statistics.median(times["1 thread", load]) for load in ("idle", "busy")}
    for name in candidates:
        idle, busy = (statistics.median(times[name, load]) for load in ("idle", "busy"))
        rows.append(
            {
                "configuration": name,
                "idle_steps_per_s": idle,
                "busy_steps_per_s": busy,
                "busy_vs_1_thread_busy": busy / one_thread["busy"],
                "idle_vs_default_idle": idle
                / statistics.median(times[f"{args.threads} threads, default wait", "idle"]),
            }
        )
    payload = {
        "benchmark": "busy_machine",
        "threads": args.threads,
        "competitors": args.competitors,
        "steps": args.steps,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "results": rows,
    }
    columns = list(rows[0])
    report(payload, rows, columns, args.json)


if __name__ == "__main__":
    main()
