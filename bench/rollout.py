"""Evaluation speed: 100 batched episodes, recurrent vs windowed, against the simulator alone.

    python bench/rollout.py [--device cpu] [--backbones min-gru gru] [--json PATH]
    python bench/rollout.py --checkpoint runs/RUN       # a trained model: long episodes

Per backbone, side by side in every repeat:
- recurrent / windowed: `envs.evaluate_model` for --episodes episodes of an untrained decision
  model (its episodes are short: it falls), making the vector env included;
- floor: the same vector env with the same seeds, made, reset and stepped with random actions
  as many times as the recurrent rollout stepped it (the rollout loop steps every env until all
  quotas are met; random actions alone would end episodes at other steps than the model does).
Then the policy alone: its act() on a batch of --num-envs synthetic observations for t = 1 ..
--policy-steps, recurrent and windowed interleaved in blocks, and the bytes it carries between
steps at t = 1 and at the last t.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time
from functools import partial

import numpy as np
import torch

from agents import BACKBONES, DecisionModel, DecisionModelConfig, state_tensors
from agents.checkpoint import load_model
from bench.common import add_common_arguments, environment, report, setup, synchronize
from envs import evaluate_model, make_vector_env
from envs.evaluation import MAX_ENVS
from envs.recurrent_policy import RecurrentPolicy
from envs.rollout import episode_quotas
from envs.windowed_policy import WindowedPolicy
from infra.checkpoint_files import load_checkpoint

ENV_ID = "Hopper-v5"
OBSERVATION_DIM, ACTION_DIM = 11, 3
TARGET_RETURN = 3600.0


def random_floor(num_envs: int, steps: int, seed: int) -> None:
    """What the simulator alone costs: make, reset and step the vector env `steps` times."""
    generator = np.random.default_rng(seed)
    envs = make_vector_env(ENV_ID, num_envs)
    try:
        envs.reset(seed=seed)
        for _ in range(steps):
            envs.step(generator.uniform(-1.0, 1.0, (num_envs, ACTION_DIM)))
    finally:
        envs.close()


def vector_steps(stats, episodes: int, num_envs: int) -> int:
    """Steps of the rollout loop: until the env with the most steps in its quota is done."""
    per_env = np.split(stats.lengths, np.cumsum(episode_quotas(episodes, num_envs))[:-1])
    return int(max(lengths.sum() for lengths in per_env))


def carried_bytes(policy) -> int:
    """Bytes a policy keeps between steps (its state, or its window of history)."""
    if isinstance(policy, RecurrentPolicy):
        tensors = state_tensors(policy.state)
    else:
        tensors = list(policy.history.values())
    return sum(t.numel() * t.element_size() for t in tensors)


@torch.inference_mode()
def policy_step_times(model, num_envs: int, steps: int, block: int, device) -> dict:
    """Median seconds per act() over blocks of `block` steps, recurrent and windowed taking
    turns block by block, t = 1 .. steps; bytes carried at t = 1 and t = steps."""
    model.eval()
    policies = {
        "recurrent": RecurrentPolicy(model, TARGET_RETURN, num_envs),
        "windowed": WindowedPolicy(model, TARGET_RETURN, num_envs, OBSERVATION_DIM, ACTION_DIM),
    }
    generator = np.random.default_rng(0)
    times = {mode: [] for mode in policies}
    memory = {mode: {} for mode in policies}
    for first in range(0, steps, block):
        observations = generator.standard_normal((block, num_envs, OBSERVATION_DIM))
        rewards = generator.uniform(0.0, 3.0, (block, num_envs))
        for mode, policy in policies.items():
            synchronize(device)
            start = time.perf_counter()
            for t in range(block):
                policy.act(observations[t])
                policy.observe(rewards[t])
                if first + t + 1 in (1, steps):
                    memory[mode][f"t={first + t + 1}"] = carried_bytes(policy)
            synchronize(device)
            times[mode].append((time.perf_counter() - start) / block)
    return {
        mode: {"s_per_step": float(np.median(times[mode])), "carried_bytes": memory[mode]}
        for mode in policies
    }


def models_to_time(args, device):
    """(backbone name, model) pairs: the trained checkpoint's, or untrained ones per backbone."""
    if args.checkpoint is not None:
        path = args.checkpoint / "checkpoint.pt" if args.checkpoint.is_dir() else args.checkpoint
        payload = load_checkpoint(path)
        if payload["dataset"]["env_id"] != ENV_ID:
            raise SystemExit(f"error: {path} is for {payload['dataset']['env_id']}, not {ENV_ID}")
        yield payload["model"]["spec"]["backbone"]["type"], load_model(payload, device)
        return
    for name in args.backbones:
        torch.manual_seed(0)
        config = DecisionModelConfig(observation_dim=OBSERVATION_DIM, action_dim=ACTION_DIM)
        yield name, DecisionModel(config, BACKBONES[name]().build()).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--backbones", nargs="+", choices=list(BACKBONES), default=list(BACKBONES))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-envs", type=int, default=100, help="batch for the policy alone")
    parser.add_argument("--policy-steps", type=int, default=200)
    parser.add_argument("--block", type=int, default=50, help="policy steps per turn")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="a trained Hopper run folder or checkpoint to time instead of untrained models "
        "(whose episodes end after a few dozen steps)",
    )
    args = parser.parse_args()
    device = setup(args)
    num_envs = min(args.episodes, MAX_ENVS)  # as evaluate_model

    results = []
    for name, model in models_to_time(args, device):
        evaluate = partial(
            evaluate_model,
            model,
            env_id=ENV_ID,
            target_return=TARGET_RETURN,
            episodes=args.episodes,
            seed=0,
        )
        # Steps the rollouts take are fixed by the seeds: learn them once, untimed.
        steps = {
            mode: vector_steps(evaluate(mode=mode), args.episodes, num_envs)
            for mode in ("recurrent", "windowed")
        }
        steps["floor"] = steps["recurrent"]
        runs = {
            "recurrent": partial(evaluate, mode="recurrent"),
            "floor": partial(random_floor, num_envs, steps["floor"], seed=0),
            "windowed": partial(evaluate, mode="windowed"),
        }
        seconds = {run: [] for run in runs}
        for _ in range(args.repeats):
            for run_name, run in runs.items():
                synchronize(device)
                start = time.perf_counter()
                run()
                seconds[run_name].append(time.perf_counter() - start)
        wall = {run: float(np.median(values)) for run, values in seconds.items()}
        per_step = {run: wall[run] / steps[run] for run in runs}
        policy = policy_step_times(model, args.num_envs, args.policy_steps, args.block, device)
        row = {"backbone": name, "episodes": args.episodes}
        for run in runs:
            row[f"{run}_s"] = wall[run]
            row[f"{run}_vector_steps"] = steps[run]
            row[f"{run}_ms_per_vector_step"] = 1e3 * per_step[run]
        for mode in ("recurrent", "windowed"):
            row[f"{mode}_vs_floor_total"] = wall[mode] / wall["floor"]
            row[f"{mode}_vs_floor_per_step"] = per_step[mode] / per_step["floor"]
            row[f"{mode}_policy_ms_per_step"] = 1e3 * policy[mode]["s_per_step"]
            row[f"{mode}_carried_bytes"] = policy[mode]["carried_bytes"]
        row["policy_windowed_over_recurrent"] = (
            policy["windowed"]["s_per_step"] / policy["recurrent"]["s_per_step"]
        )
        results.append(row)
        print(f"{name}: {row}", file=sys.stderr, flush=True)

    payload = {
        "benchmark": "rollout",
        "what": f"{args.episodes} episodes of {ENV_ID}, medians over interleaved repeats",
        "model": str(args.checkpoint)
        if args.checkpoint
        else "untrained DecisionModel, train.py defaults (d_model 128, 3 layers, K=20, "
        "interleaved)",
        "policy_batch": args.num_envs,
        "policy_steps": args.policy_steps,
        "environment": environment(device),
        "results": results,
    }
    columns = [
        "backbone",
        "floor_ms_per_vector_step",
        "recurrent_ms_per_vector_step",
        "windowed_ms_per_vector_step",
        "recurrent_vs_floor_per_step",
        "windowed_vs_floor_per_step",
        "recurrent_policy_ms_per_step",
        "windowed_policy_ms_per_step",
        "policy_windowed_over_recurrent",
    ]
    report(payload, results, args.json, columns)


if __name__ == "__main__":
    main()
