"""Synchronous vs asynchronous Gymnasium vectorisation of the MuJoCo envs: vector steps per
second with random actions (the floor of every rollout), side by side in one process.

    python bench/vector_env.py [--env Hopper-v5] [--num-envs 4 16 100] [--steps 200]
    python bench/vector_env.py --env cue-reach --delay 30 --num-envs 16   # the memory task

"sync" steps every env in this process (what evaluation uses); "async" steps each env in a
subprocess of its own (Gymnasium's AsyncVectorEnv), which pays for pickling and process
switches and wins only when the cores outnumber the envs' work by far.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os

import numpy as np
import torch

from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from envs import make_vector_env


def stepping(env_id: str, num_envs: int, steps: int, vectorization: str, env_kwargs: dict):
    envs = make_vector_env(env_id, num_envs, vectorization=vectorization, env_kwargs=env_kwargs)
    envs.reset(seed=0)
    generator = np.random.default_rng(0)
    actions = generator.uniform(-1.0, 1.0, (steps, *envs.action_space.shape))

    def run() -> None:
        for action in actions:
            envs.step(action)

    return run, envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[4, 16, 100])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--delay", type=int, help="a memory task's delay (e.g. cue-reach)")
    args = parser.parse_args()
    device = setup(args)

    env_kwargs = {} if args.delay is None else {"delay": args.delay}
    results = []
    for num_envs in args.num_envs:
        candidates, opened = {}, []
        for vectorization in ("sync", "async"):
            run, envs = stepping(args.env, num_envs, args.steps, vectorization, env_kwargs)
            candidates[vectorization], opened = run, [*opened, envs]
        seconds = time_interleaved(candidates, device, args.repeats, warmup=1)
        for envs in opened:
            envs.close()
        row = {"num_envs": num_envs}
        for vectorization, wall in seconds.items():
            row[f"{vectorization}_env_steps_per_s"] = num_envs * args.steps / wall
        row["async_over_sync"] = seconds["sync"] / seconds["async"]
        results.append(row)
        print(f"{num_envs} envs: async {row['async_over_sync']:.2f}x sync", file=sys.stderr)

    payload = {
        "benchmark": "vector_env",
        "what": f"{args.env} {env_kwargs or ''}, random actions, {args.steps} vector steps, "
        "median of interleaved repeats",
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "environment": environment(device),
        "results": results,
    }
    columns = ["num_envs", "sync_env_steps_per_s", "async_env_steps_per_s", "async_over_sync"]
    report(payload, results, args.json, columns)


if __name__ == "__main__":
    main()
