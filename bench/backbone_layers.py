"""Forward + backward time and activation memory of one sequence-mixing layer, versus length T.

    python bench/backbone_layers.py [--device cpu] [--lengths 20 64 256 1024 4096] [--json PATH]

A layer is one mixer, `BACKBONES[name](d_model=...).make_mixer()`, run on x (B, T, D) that needs
a gradient, with the scalar loss y.sum(). minGRU and minLSTM run with each scan (torch's
chunked one, the paper's log-space reference, and on CUDA fla-core's Triton kernels); nn.GRU /
nn.LSTM (MKL on CPU, cuDNN on CUDA) are the baselines their times are divided by. Mamba runs
with each scan (torch's fused one, the materialising reference, on CPU the compiled kernels,
and on CUDA the Triton kernels), divided by minGRU's time. Memory: on CPU the bytes autograd
saves for backward (deterministic), on CUDA the peak allocated during forward + backward.
"""

# ruff: noqa: E402  (the repository root goes on sys.path first, for `python bench/...`)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
from functools import partial

import torch

from agents import BACKBONES
from agents.kernels.available import refusal
from bench.common import (
    add_common_arguments,
    cuda_peak_bytes,
    environment,
    report,
    saved_tensor_bytes,
    setup,
    time_interleaved,
)

# name -> (registry name, config overrides, the layer it is compared with)
LAYERS = {
    "min-gru": ("min-gru", {"scan": "torch"}, "gru"),
    "min-gru/log-space": ("min-gru", {"scan": "log-space"}, "gru"),
    "min-gru/triton": ("min-gru", {"scan": "triton"}, "gru"),
    "min-lstm": ("min-lstm", {"scan": "torch"}, "lstm"),
    "min-lstm/log-space": ("min-lstm", {"scan": "log-space"}, "lstm"),
    "min-lstm/triton": ("min-lstm", {"scan": "triton"}, "lstm"),
    "gru": ("gru", {}, "gru"),
    "lstm": ("lstm", {}, "lstm"),
    "transformer": ("transformer", {}, "gru"),
    "s4": ("s4", {}, "gru"),
    "aaren": ("aaren", {}, "gru"),
    "mamba": ("mamba", {"scan": "torch"}, "min-gru"),
    "mamba/cpu": ("mamba", {"scan": "cpu"}, "min-gru"),
    "mamba/reference": ("mamba", {"scan": "reference"}, "min-gru"),
    "mamba/triton": ("mamba", {"scan": "triton"}, "min-gru"),
}
# Fewer repeats at long T keep a default run within a few minutes on 2 CPU cores.
DEFAULT_REPEATS = {20: 9, 64: 7, 256: 5, 1024: 3, 4096: 1}
# The windowed attention builds a dense (B, T, T) mask and scores beyond its window, Mamba's
# reference scan a (B, T, d_inner * d_state) state: skip lengths where one such float32 tensor
# would exceed this.
LARGEST_TENSOR_BYTES = 2 << 30


def largest_tensor(name: str, B: int, T: int, D: int) -> tuple[int, str] | None:
    """Bytes and description of a layer's float32 tensor that outgrows B * T * D, if it has one."""
    if name == "transformer":
        return B * T * T * 4, "dense (B, T, T) attention"
    if name == "mamba/reference":
        config = BACKBONES["mamba"](d_model=D)
        return B * T * config.expand * D * config.d_state * 4, "(B, T, d_inner * d_state) state"
    return None


def unavailable(name: str, device: torch.device) -> str | None:
    """Why the layer cannot run here, if it cannot: Triton scans need CUDA and their packages,
    the compiled CPU scan CPU tensors and a compiler (the kernels' own refusal)."""
    scan = LAYERS[name][1].get("scan")
    fla_scan = name.startswith("min-")
    return scan and (refusal(scan, None, fla_scan) or refusal(scan, device, fla_scan))


def make_layer(name: str, d_model: int, device: torch.device) -> torch.nn.Module:
    registry_name, overrides, _ = LAYERS[name]
    return BACKBONES[registry_name](d_model=d_model, **overrides).make_mixer().to(device)


def forward_loss(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return layer(x).sum()


def forward_backward(layer: torch.nn.Module, x: torch.Tensor) -> None:
    forward_loss(layer, x).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_REPEATS))
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=None, help="default: fewer at long T")
    args = parser.parse_args()
    device = setup(args)
    B, D = args.batch_size, args.d_model

    results = []
    for T in args.lengths:
        x = torch.randn(B, T, D, device=device, requires_grad=True)
        layers = {}
        for name in args.layers:
            reason = unavailable(name, device)
            if reason is not None:
                results.append({"layer": name, "T": T, "skipped": reason})
                continue
            largest = largest_tensor(name, B, T, D)
            if largest is not None and largest[0] > LARGEST_TENSOR_BYTES:
                results.append({"layer": name, "T": T, "skipped": largest[1]})
                continue
            layers[name] = make_layer(name, D, device)

        # The memory measurement is also each layer's warm-up run.
        memory = {}
        for name, layer in layers.items():
            if device.type == "cuda":
                memory[name] = cuda_peak_bytes(partial(forward_backward, layer, x), device)
            else:
                excluded = [x, *layer.parameters()]
                memory[name] = saved_tensor_bytes(partial(forward_loss, layer, x), excluded)
        repeats = args.repeats or DEFAULT_REPEATS.get(T, 3 if T <= 1024 else 1)
        candidates = {name: partial(forward_backward, layer, x) for name, layer in layers.items()}
        seconds = time_interleaved(candidates, device, repeats, warmup=0)
        for name in layers:
            baseline = LAYERS[name][2]
            row = {
                "layer": name,
                "T": T,
                "ms": 1e3 * seconds[name],
                "memory_MiB": memory[name] / 2**20,
                "memory_bytes_per_element": memory[name] / (B * T * D),
                "vs": baseline,
                # > 1: faster than the baseline, timed side by side in the same repeats
                "speedup": seconds[baseline] / seconds[name] if baseline in seconds else None,
            }
            results.append(row)
        progress = ", ".join(f"{n} {1e3 * s:.1f} ms" for n, s in seconds.items())
        print(f"T={T}: {progress}", file=sys.stderr, flush=True)

    payload = {
        "benchmark": "backbone_layers",
        "what": "one mixer, forward + backward of y.sum(), median over interleaved repeats",
        "batch_size": B,
        "d_model": D,
        "memory": "cuda peak allocated" if device.type == "cuda" else "autograd saved tensors",
        "environment": environment(device),
        "results": results,
    }
    columns = ["layer", "T", "ms", "vs", "speedup", "memory_MiB", "memory_bytes_per_element"]
    report(payload, results, args.json, columns)


if __name__ == "__main__":
    main()
