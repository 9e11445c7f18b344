"""The compiled CPU kernels (cpu_kernels/: Mamba's selective scan and causal convolution), built
on first use by infra/compiled_library.py and called through ctypes by selective_scan_cpu.py and
causal_conv_cpu.py, which register them as torch custom ops."""

import ctypes
import functools
import math
import warnings
from pathlib import Path

import torch

from infra.compiled_library import BuildError, load_library
from infra.errors import ConfigError

SOURCES = Path(__file__).with_name("cpu_kernels")
SUFFIXES = {torch.float32: "f32", torch.float64: "f64"}  # the kernels' names per dtype
WIDEST_BLOCK = 256  # channels per work item: longer loops over channels vectorise better...
NARROWEST_BLOCK = 16
ITEMS_PER_THREAD = 4  # ...but there should be enough items to keep the threads busy


@functools.cache
def library() -> ctypes.CDLL:
    return load_library(SOURCES)


def kernel(name: str, dtype: torch.dtype):
    """The entry point `name` for tensors of `dtype`."""
    return getattr(library(), f"{name}_{SUFFIXES[dtype]}")


@functools.cache
def cpu_kernel_ready() -> bool:
    """Whether the kernels build here; the first failure is said once, as a warning."""
    try:
        library()
    except BuildError as error:
        message = f"Mamba's compiled CPU kernels are unavailable, using torch's: {error}"
        warnings.warn(message, stacklevel=2)
        return False
    return True


def require_cpu_kernel(field: str) -> None:
    """Refuse the config field `field` = "cpu" where the kernels do not build."""
    try:
        library()
    except BuildError as error:
        message = f'{field} "cpu" cannot be used here: {error}; use "fused"'
        raise ConfigError(message) from None


def channel_block(batch: int, d_inner: int) -> int:
    """Channels per work item (batch row, block of channels) of every kernel: as wide as
    WIDEST_BLOCK allows while the items are at least ITEMS_PER_THREAD per thread."""
    block = min(d_inner, WIDEST_BLOCK)
    while block > NARROWEST_BLOCK and batch * math.ceil(d_inner / block) < (
        ITEMS_PER_THREAD * torch.get_num_threads()
    ):
        block = math.ceil(block / 2)
    return block


def kernel_layout(parameters, *tensors) -> list[torch.Tensor]:
    """The layout every kernel takes: the per-row `parameters` (batch first, expanded along the
    batch) with contiguous rows, left expanded (stride 0) where they are, then `tensors`
    contiguous."""
    rows = [tensor if tensor[0].is_contiguous() else tensor.contiguous() for tensor in parameters]
    return [*rows, *(tensor.contiguous() for tensor in tensors)]


def channel_minor(x: torch.Tensor, *counts: int) -> torch.Tensor:
    """A (B, *counts, d_inner) tensor to be written, for x (B, T, d_inner): what the kernels
    write per channel (states, per-row gradients), they write channel-minor, as they hold it."""
    return x.new_empty(x.shape[0], *counts, x.shape[2])


def pointers(*tensors: torch.Tensor) -> list[ctypes.c_void_p]:
    return [ctypes.c_void_p(tensor.data_ptr()) for tensor in tensors]


def integers(*values: int) -> list[ctypes.c_int64]:
    return [ctypes.c_int64(value) for value in values]
