"""Dataset throughput: building (steps/s, projected time for 1M Hopper steps) and the window
sampler (windows/s for B=256, K=20, both modes). Prints a short table, then JSON.

    python bench/dataset_throughput.py [--policies-dir ../shared/policies]
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from datasets import WindowSampler, load_dataset  # noqa: E402
from datasets.build import build_dataset  # noqa: E402
from datasets.minari_store import minari_root  # noqa: E402


@dataclass
class ThroughputArgs:
    policies_dir: Path | None = None
    """folder of gaussian-mlp/1 policies: build with hopper-sac (medium); else random actions"""
    build_steps: int = 200_000
    """Hopper steps to build for the measurement (enough to amortise starting the workers)"""
    workers: int | None = None
    """build processes (default: one per CPU core)"""
    dataset: str = "replica/hopper/mini-v0"
    """dataset the sampler draws from"""
    batch_size: int = 256
    context_length: int = 20
    repeats: int = 7
    """timed repeats of the sampler (median reported)"""
    batches_per_repeat: int = 50


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the build workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_build(args: ThroughputArgs) -> dict:
    level = "random" if args.policies_dir is None else "medium"
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    workers = args.workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as root:
        wall, cpu = time.perf_counter(), cpu_seconds()
        dataset_id = build_dataset(
            "hopper",
            level,
            args.policies_dir,
            steps=args.build_steps,
            root=root,
            workers=workers,
            show_progress=False,
        )
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        with minari_root(Path(root)):
            steps = load_dataset(dataset_id).num_steps
    return {
        "env": "Hopper-v5",
        "level": level,
        "workers": workers,
        "steps": steps,
        "wall_s": round(wall, 2),
        "steps_per_s": round(steps / wall),
        "cpu_s": round(cpu, 2),
        "steps_per_cpu_s": round(steps / cpu),
        "projected_1M_steps_min": round(1e6 / (steps / wall) / 60, 2),
        # What the same CPU work takes when every worker has a core to itself.
        "projected_1M_steps_min_idle_cores": round(1e6 / (steps / cpu) / workers / 60, 2),
        "load_average_1min_before": round(load_before, 2),
    }


def bench_sampler(args: ThroughputArgs, from_episode_start: bool, threads: int) -> dict:
    torch.set_num_threads(threads)  # small gathers: extra threads help only on idle cores
    dataset = load_dataset(args.dataset)
    sampler = WindowSampler(dataset, args.context_length, from_episode_start=from_episode_start)
    generator = torch.Generator().manual_seed(0)
    sampler.sample(args.batch_size, generator)  # warm-up
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.batches_per_repeat):
            sampler.sample(args.batch_size, generator)
        rates.append(args.batch_size * args.batches_per_repeat / (time.perf_counter() - start))
    return {
        "dataset": args.dataset,
        "batch_size": args.batch_size,
        "context_length": args.context_length,
        "from_episode_start": from_episode_start,
        "windows_per_s_median": round(statistics.median(rates)),
        "windows_per_s_min": round(min(rates)),
        "torch_threads": threads,
    }


def main() -> None:
    args = tyro.cli(ThroughputArgs)
    thread_counts = sorted({1, torch.get_num_threads()})
    results = {
        "sampler": [
            bench_sampler(args, from_episode_start, threads)
            for from_episode_start in (False, True)
            for threads in thread_counts
        ],
        "build": bench_build(args),
    }
    build = results["build"]
    print(
        f"build  {build['level']:>8} {build['steps']:>8} steps  {build['steps_per_s']:>6} steps/s "
        f"({build['steps_per_cpu_s']} per CPU-s)  "
        f"1M steps in {build['projected_1M_steps_min']} min "
        f"({build['projected_1M_steps_min_idle_cores']} min on idle cores)"
    )
    for sampler in results["sampler"]:
        mode = "episode start" if sampler["from_episode_start"] else "uniform start"
        print(
            f"sample {mode:>14}  B={sampler['batch_size']} K={sampler['context_length']}  "
            f"{sampler['torch_threads']} threads  "
            f"{sampler['windows_per_s_median']} windows/s (median)"
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
