"""Importing a D4RL file: python -m datasets.import_d4rl's work on a file in D4RL's layout.

Each case writes a file of synthetic arrays with D4RL's keys, shapes and dtypes (Hopper's widths,
float32, gzip-compressed as D4RL's files are), whose episodes all end in timeouts after
`episode length` steps, then imports it into a temporary Minari store. Timed: the import alone
(reading and hashing the file, splitting episodes, writing the Minari dataset). The first case is
a D4RL medium file (1M steps, 1000-step episodes; target: at most 60 s on 2 cores); the second
has the short episodes of a random-level file (~20 steps), where the cost per episode shows.

    python bench/d4rl_import.py --json bench/results/d4rl_import-cpu.json
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import resource
import tempfile
import time

import h5py
import numpy as np

from bench.common import add_common_arguments, environment, report, setup
from datasets.import_d4rl import import_d4rl

TARGET_SECONDS = 60.0
HOPPER = {"observation": 11, "action": 3, "qpos": 6, "qvel": 6}


def write_file(path: Path, steps: int, episode_length: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    arrays = {
        "observations": normal(steps, HOPPER["observation"]),
        "next_observations": normal(steps, HOPPER["observation"]),
        "actions": rng.uniform(-1, 1, (steps, HOPPER["action"])).astype(np.float32),
        "rewards": normal(steps),
        "terminals": np.zeros(steps, dtype=bool),
        "timeouts": np.arange(steps) % episode_length == episode_length - 1,
        "infos/qpos": normal(steps, HOPPER["qpos"]),
        "infos/qvel": normal(steps, HOPPER["qvel"]),
        "infos/action_log_probs": normal(steps),
    }
    with h5py.File(path, "w") as file:
        for key, values in arrays.items():
            file.create_dataset(key, data=values, compression="gzip")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(steps: int, episode_length: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hopper_medium-v2.hdf5"
        write_file(path, steps, episode_length)
        load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
        wall, cpu = time.perf_counter(), cpu_seconds()
        imported = import_d4rl(path, "hopper", "medium", root=Path(folder) / "store")
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        file_mb = path.stat().st_size / 2**20
    return {
        "steps": imported.steps,
        "episode_length": episode_length,
        "episodes": imported.episodes,
        "file_mb": round(file_mb, 1),
        "import_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "steps_per_s": round(imported.steps / wall),
        "ms_per_episode": round(1000 * wall / imported.episodes, 3),
        "projected_1M_steps_s": round(wall * 1_000_000 / imported.steps, 1),
        "load_average_1min_before": round(load_before, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["1000000:1000", "100000:20"],
        help="STEPS:EPISODE_LENGTH of each file (default: D4RL's medium, then random-like)",
    )
    args = parser.parse_args()
    device = setup(args)
    cases = [tuple(int(part) for part in case.split(":")) for case in args.cases]
    rows = [measure(steps, episode_length) for steps, episode_length in cases]
    payload = {
        "benchmark": "d4rl_import",
        "environment": environment(device) | {"cpu_cores": os.cpu_count()},
        "target_s_for_1M_steps": TARGET_SECONDS,
        "results": rows,
    }
    report(payload, rows, args.json)


if __name__ == "__main__":
    main()
