"""What every benchmark shares: the device, interleaved timing, memory, and the report.

Candidates of one comparison run in one process, interleaved within every repeat (A, B, A, B,
...), so that noise from other work on the machine hits all of them alike; medians are reported,
and ratios are taken between medians measured side by side.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from infra.atomic_files import write_json


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")


def setup(args: argparse.Namespace) -> torch.device:
    """The device asked for (exit 2 if absent), CPU threads set, torch seeded."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device is available", file=sys.stderr)
        sys.exit(2)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    candidates: dict[str, Callable[[], object]],
    device: torch.device,
    repeats: int,
    warmup: int = 1,
) -> dict[str, float]:
    """Median wall time (seconds) of each candidate; each repeat runs every candidate once."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def saved_tensor_bytes(run: Callable[[], torch.Tensor], excluded: list[torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward while `run()` builds its graph, each
    storage counted once; storages of `excluded` (parameters, inputs) are not counted.
    Deterministic, so usable on a CPU shared with other work. Backward is then run to free them."""
    excluded_storages = {t.untyped_storage().data_ptr() for t in excluded}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded_storages:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = run()
    loss.backward()
    return sum(storages.values())


def cuda_peak_bytes(run: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA memory allocated during `run()`, above what was allocated before it."""
    synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def environment(device: torch.device) -> dict:
    info = {
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def report(
    payload: dict, rows: list[dict], path: Path | None, columns: list[str] | None = None
) -> None:
    """Print `rows` as a table of `columns` (default: every key of the first row), then
    `payload` as JSON; write the JSON to `path` if given."""
    columns = list(rows[0]) if columns is None else columns
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    text = json.dumps(payload, indent=2)
    print(text)
    if path is not None:
        write_json(path, payload)


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
