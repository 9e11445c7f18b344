"""Training steps per second of the whole decision model, per backbone, at train.py's defaults,
side by side with a straightforward Decision Transformer loop on the same model.

    python bench/train_step.py [--device cpu] [--backbones min-gru mamba/reference] [--json PATH]

A backbone is a registry name with its default config (`auto` scans: the Triton ones on CUDA
where they import, mamba's compiled one on CPU where it builds), or a name/scan variant:
mamba/torch, mamba/reference, min-gru/torch, min-lstm/torch (default: every registry name,
mamba/reference and mamba/torch; on CUDA also the other variants, to set the Triton scans
against the torch ones).

- ours: train.py's step. Windows gathered on the device by WindowSampler, bf16 autocast and
  fused AdamW on CUDA, no host synchronisation (the loss is read only every log_every steps).
- straightforward: CORL's dt.py data path. A DataLoader over an IterableDataset that cuts one
  window per item from per-episode numpy arrays (normalising, padding), collated on the host,
  copied to the device every step; fp32, plain AdamW over all parameters, loss.item() per step.
Every backbone's step is also timed beside min-gru's, in the same repeats (`vs_min_gru`).
FLOPs per step are counted by torch.utils.flop_counter (matrix products and attention only;
elementwise work is not counted) and set against a matmul throughput given by --peak-gflops.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import copy
import os
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset
from torch.utils.flop_counter import FlopCounterMode

from agents import BACKBONES
from bench.common import add_common_arguments, environment, report, setup, time_interleaved
from datasets import DatasetError, OfflineDataset, WindowSampler, load_dataset
from training.config import Args
from training.optimization import make_scheduler
from training.single_model import SingleModel


def load_or_build_dataset(dataset_id: str) -> tuple[OfflineDataset, str]:
    """`dataset_id` if it loads, else 20k random-action Hopper steps built in a temporary store
    (speed depends on the shapes, not on how good the data is)."""
    try:
        return load_dataset(dataset_id), dataset_id
    except DatasetError:
        from datasets.build import build_dataset

        os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp(prefix="bench-minari-")
        built = build_dataset("hopper", "random", None, steps=20_000, seed=0)
        return load_dataset(built), f"{built} (built: {dataset_id} not found)"


class PerSampleWindows(IterableDataset):
    """CORL's SequenceDataset: an episode drawn in proportion to its length, a uniform start in
    it, and that window sliced, normalised and padded in numpy, one window per item."""

    def __init__(self, dataset: OfflineDataset, seq_len: int):
        bounds = np.cumsum(dataset.episode_lengths)[:-1]
        self.episodes = [
            {"observations": o, "actions": a, "returns": r, "timesteps": t}
            for o, a, r, t in zip(
                np.split(dataset.observations, bounds),
                np.split(dataset.actions, bounds),
                np.split(dataset.returns_to_go, bounds),
                np.split(dataset.timesteps, bounds),
                strict=True,
            )
        ]
        self.sample_prob = dataset.episode_lengths / dataset.episode_lengths.sum()
        self.mean, self.std = dataset.observation_mean, dataset.observation_std
        self.seq_len = seq_len

    def _prepare_sample(self, episode: dict, start: int):
        window = slice(start, start + self.seq_len)
        states = (episode["observations"][window] - self.mean) / self.std
        # Returns stay unscaled (the model scales them). Timesteps are padded like the rest
        # (CORL extends its timestep embedding table instead).
        arrays = [states, episode["actions"][window], episode["returns"][window]]
        arrays.append(episode["timesteps"][window])
        pad = self.seq_len - states.shape[0]
        mask = np.hstack([np.ones(states.shape[0]), np.zeros(pad)])
        if pad > 0:
            arrays = [np.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1)) for a in arrays]
        return *arrays, mask

    def __iter__(self):
        while True:
            index = np.random.choice(len(self.episodes), p=self.sample_prob)
            episode = self.episodes[index]
            start = np.random.randint(0, episode["actions"].shape[0])
            yield self._prepare_sample(episode, start)


def straightforward_step(model, args: Args, dataset: OfflineDataset, device, workers: int):
    windows = PerSampleWindows(dataset, args.context_length)
    # The model normalises its inputs itself; here the dataset already has (as CORL's).
    model.set_observation_statistics(np.zeros_like(windows.mean), np.ones_like(windows.std))
    loader = DataLoader(
        windows, batch_size=args.batch_size, pin_memory=device.type == "cuda", num_workers=workers
    )
    batches = iter(loader)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay
    )
    scheduler = make_scheduler(optimizer, args)

    def step() -> None:
        states, actions, returns, time_steps, mask = [b.to(device) for b in next(batches)]
        predicted = model(returns, states, actions, time_steps)
        loss = F.mse_loss(predicted, actions, reduction="none")
        loss = (loss * mask.unsqueeze(-1)).mean()  # (B, K, act) * (B, K, 1)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        scheduler.step()
        loss.item()  # CORL logs every step

    return step


def our_step(args: Args, dataset: OfflineDataset, device):
    """train.py's loop body: its SingleModel trainee under the loop's autocast. Returns the
    step and the model it trains."""
    sampler = WindowSampler(dataset, args.context_length, device=device)
    trainee = SingleModel(args, dataset, sampler, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = trainee.loss(0)
        trainee.optimize(loss)

    return step, trainee.model


VARIANTS = ["mamba/reference", "mamba/torch", "min-gru/torch", "min-lstm/torch"]


def backbone_config(variant: str):
    """The config of a registry name, or of a name/scan variant."""
    name, _, scan = variant.partition("/")
    return BACKBONES[name](**({"scan": scan} if scan else {}))


def count_flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--backbones", nargs="+", choices=[*BACKBONES, *VARIANTS], default=None)
    parser.add_argument("--dataset", default=Args.dataset)
    parser.add_argument("--steps-per-repeat", type=int, default=None, help="default: 3 CPU, 50 GPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loader-workers", type=int, default=None, help="default: 0 CPU, 4 GPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model")
    parser.add_argument("--peak-gflops", type=float, default=135.0, help="matmul GFLOP/s here")
    args = parser.parse_args()
    device = setup(args)
    on_gpu = device.type == "cuda"
    steps_per_repeat = args.steps_per_repeat or (50 if on_gpu else 3)
    # CORL uses 4 workers; on a 2-core CPU they would take the cores the model trains on.
    workers = args.loader_workers if args.loader_workers is not None else (4 if on_gpu else 0)
    dataset, dataset_note = load_or_build_dataset(args.dataset)
    default_backbones = [*BACKBONES, *(VARIANTS if on_gpu else VARIANTS[:2])]

    # min-gru's step runs beside every other backbone's, so that their ratio is side by side.
    anchor, _ = our_step(
        Args(backbone=BACKBONES["min-gru"](), compile=args.compile), dataset, device
    )

    def repeated(step):
        return lambda: [step() for _ in range(steps_per_repeat)]

    results = []
    for name in args.backbones or default_backbones:
        train_args = Args(backbone=backbone_config(name), compile=args.compile)
        ours, model = our_step(train_args, dataset, device)
        baseline_model = copy.deepcopy(model)  # the same initial weights
        theirs = straightforward_step(baseline_model, train_args, dataset, device, workers)
        candidates = {"ours": repeated(ours), "straightforward": repeated(theirs)}
        if name != "min-gru":
            candidates["min-gru"] = repeated(anchor)
        seconds = time_interleaved(candidates, device, args.repeats, warmup=1)
        flops = count_flops(ours)
        step_seconds = seconds["ours"] / steps_per_repeat
        row = {
            "backbone": name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "ours_steps_per_s": 1 / step_seconds,
            "straightforward_steps_per_s": steps_per_repeat / seconds["straightforward"],
            "speedup": seconds["straightforward"] / seconds["ours"],
            # > 1: more steps per second than min-gru's, timed in the same repeats
            "vs_min_gru": seconds.get("min-gru", seconds["ours"]) / seconds["ours"],
            "gflop_per_step": flops / 1e9,
            "achieved_gflops": flops / 1e9 / step_seconds,
        }
        row["fraction_of_peak"] = row["achieved_gflops"] / args.peak_gflops
        results.append(row)
        rates = f"{row['ours_steps_per_s']:.2f} vs {row['straightforward_steps_per_s']:.2f}"
        print(f"{name}: {rates} steps/s", file=sys.stderr, flush=True)

    payload = {
        "benchmark": "train_step",
        "what": "optimiser steps per second at train.py defaults, median over interleaved repeats",
        "dataset": dataset_note,
        "batch_size": Args.batch_size,
        "context_length": Args.context_length,
        "layout": Args.layout,
        "d_model": BACKBONES["min-gru"].d_model,
        "steps_per_repeat": steps_per_repeat,
        "repeats": args.repeats,
        "loader_workers": workers,
        "compile": args.compile,
        "peak_gflops": args.peak_gflops,
        "flops": "torch.utils.flop_counter: matmuls and attention, forward + backward",
        "environment": environment(device),
        "results": results,
    }
    report(payload, results, args.json, [column for column in results[0] if column != "parameters"])


if __name__ == "__main__":
    main()
