"""Several seeds in one process: one training step of N members (train.py --seeds, one batched
computation) against N single-seed steps run one after the other, at train.py's defaults.

    python bench/members_step.py [--device cpu] [--backbone min-gru] [--members 1 2 4 8 16]

For each N, side by side in every repeat: the members (training.members.Members, N seeds) with
each --member-batching (vmap: one batched computation; loop: one member after another in one
graph) and `sequential` (N training.single_model.SingleModel trainees, one step each). The
ratio sequential / members is the speed-up of training seeds together; on a GPU, where a step
is bound by kernel launches, vmap should approach N.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

import torch

from agents import BACKBONES
from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from bench.train_step import load_or_build_dataset
from datasets import WindowSampler
from training.config import Args
from training.members import Members
from training.single_model import SingleModel


def stepper(trainee, device: torch.device):
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = trainee.loss(1)
        trainee.optimize(loss)

    return step


def in_turn(steps: list):
    return lambda: [step() for step in steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--backbone", choices=list(BACKBONES), default="min-gru")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--dataset", default=Args.dataset)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batching", choices=["vmap", "loop"], nargs="+", default=["vmap", "loop"])
    args = parser.parse_args()
    device = setup(args)
    dataset, dataset_note = load_or_build_dataset(args.dataset)
    sampler = WindowSampler(dataset, Args.context_length, device=device)

    results = []
    for count in args.members:
        seeds = tuple(range(count))
        candidates = {}
        for batching in args.batching:
            member_args = Args(
                backbone=BACKBONES[args.backbone](), seeds=seeds, member_batching=batching
            )
            members = Members(member_args, dataset, sampler, device)
            candidates[f"members/{batching}"] = stepper(members, device)
        backbone = BACKBONES[args.backbone]()
        singles = [
            stepper(SingleModel(Args(backbone=backbone, seed=s), dataset, sampler, device), device)
            for s in seeds
        ]
        candidates["sequential"] = in_turn(singles)
        seconds = time_interleaved(candidates, device, args.repeats, warmup=1)
        row = {"members": count, "sequential_seconds": seconds["sequential"]}
        for batching in args.batching:
            row[f"{batching}_seconds_per_step"] = seconds[f"members/{batching}"]
            row[f"{batching}_speedup"] = seconds["sequential"] / seconds[f"members/{batching}"]
        results.append(row)
        print(f"N={count}: {row}", file=sys.stderr, flush=True)

    payload = {
        "benchmark": "members_step",
        "what": "one step of N members vs N single-seed steps, median over interleaved repeats",
        "backbone": args.backbone,
        "dataset": dataset_note,
        "batch_size": Args.batch_size,
        "context_length": Args.context_length,
        "repeats": args.repeats,
        "environment": environment(device),
        "results": results,
    }
    columns = ["members", "sequential_seconds"]
    columns += [f"{b}_{what}" for b in args.batching for what in ("seconds_per_step", "speedup")]
    report(payload, results, args.json, columns)


if __name__ == "__main__":
    main()
