"""What held-out validation costs at train.py's defaults, as a share of training time.

    python bench/validation_cost.py [--repeats 5] [--json PATH]

train.py's defaults (min-gru, batch 64, K 20, --val-fraction 0.02, --val-every 1000) on the
default dataset: side by side in every repeat, --steps-per-repeat optimiser steps and one
validation (the action loss on all held-out windows). The share is one validation over the
--val-every steps it follows: validation / (val_every × step time); the target is <= 5%. The
validation's cost grows with the held-out steps, so the share for a 1M-step D4RL-sized dataset
(2% held out: 20,000 steps) is given too, from the measured cost per held-out step.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from datasets import WindowSampler, load_dataset
from training import Args
from training.single_model import SingleModel
from training.validation import Validation

TARGET_SHARE = 0.05
D4RL_STEPS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps-per-repeat", type=int, default=10)
    args = parser.parse_args()
    device = setup(args)
    training_args = Args(device=device.type)
    dataset = load_dataset(training_args.dataset)
    validation = Validation(training_args, dataset, device)
    sampler = WindowSampler(validation.training_set, training_args.context_length, device)
    trainee = SingleModel(training_args, validation.training_set, sampler, device)
    trainee.train()
    step = 0

    def train_steps() -> None:
        nonlocal step
        for _ in range(args.steps_per_repeat):
            step += 1
            trainee.optimize(trainee.loss(step))

    seconds = time_interleaved(
        {"train_steps": train_steps, "validation": lambda: validation.loss(trainee.model)},
        device,
        repeats=args.repeats,
    )
    step_seconds = seconds["train_steps"] / args.steps_per_repeat
    held_out_steps = int(dataset.episode_lengths[validation.held_out].sum())
    share = seconds["validation"] / (training_args.val_every * step_seconds)
    d4rl_share = share * (training_args.val_fraction * D4RL_STEPS) / held_out_steps
    row = {
        "step_s": step_seconds,
        "validation_s": seconds["validation"],
        "held_out_steps": held_out_steps,
        "windows": sum(len(batch.mask) for batch in validation.batches),
        "share": share,
        "share_1m_steps": d4rl_share,
    }
    payload = {
        "benchmark": "validation_cost",
        "what": "one validation (all held-out windows) over the --val-every optimiser steps it "
        "follows, at train.py's defaults; medians of interleaved repeats",
        "dataset": training_args.dataset,
        "episodes": dataset.num_episodes,
        "held_out_episodes": len(validation.held_out),
        "val_fraction": training_args.val_fraction,
        "val_every": training_args.val_every,
        "batch_size": training_args.batch_size,
        "context_length": training_args.context_length,
        "repeats": args.repeats,
        "target_share": TARGET_SHARE,
        "met": share <= TARGET_SHARE,
        "met_1m_steps": d4rl_share <= TARGET_SHARE,
        "environment": environment(device),
        "results": [row],
    }
    report(payload, [row], args.json)


if __name__ == "__main__":
    main()
