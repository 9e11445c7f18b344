"""The compiled CPU kernels (csrc/: Mamba's selective scan and causal convolution), built on first
use by infra/compiled_library.py and called through ctypes by the `cpu_backend` modules, which
register them as torch custom ops.

Nothing at a C ABI checks what it is handed, so this module does, before any pointer is taken:
every entry point has its argument types declared (`SIGNATURES`: a missing or extra argument is a
TypeError, not a garbage read), and `checked_layout` refuses, in one line, tensors that are not on
the CPU, not of one supported dtype, of the wrong shape, and lays out rows contiguously.
"""

import ctypes
import functools
import math
from pathlib import Path

import torch

from infra.compiled_library import load_library

SOURCES = Path(__file__).with_name("csrc")
SUFFIXES = {torch.float32: "f32", torch.float64: "f64"}  # the kernels' names per dtype
# Entry point -> (pointers, int64s) it takes, as declared in csrc/*.cpp (extern "C").
SIGNATURES = {
    "selective_scan_forward": (13, 15),
    "selective_scan_backward": (22, 19),
    "causal_conv_silu_forward": (5, 11),
    "causal_conv_silu_backward": (9, 11),
}
WIDEST_BLOCK = 256  # channels per work item: longer loops over channels vectorise better...
NARROWEST_BLOCK = 16
ITEMS_PER_THREAD = 4  # ...but there should be enough items to keep the threads busy


@functools.cache
def library() -> ctypes.CDLL:
    return load_library(SOURCES)


@functools.cache
def kernel(name: str, dtype: torch.dtype):
    """The entry point `name` for tensors of `dtype`, its argument types declared."""
    entry = getattr(library(), f"{name}_{SUFFIXES[dtype]}")
    n_pointers, n_integers = SIGNATURES[name]
    entry.argtypes = [ctypes.c_void_p] * n_pointers + [ctypes.c_int64] * n_integers
    entry.restype = None
    return entry


ROWS = "rows"  # a per-row parameter expanded along the batch: rows contiguous, stride 0 kept
CONTIGUOUS = "contiguous"
STRIDED = "strided"  # read in place with its strides passed (often views of one zero)


def sizes_of(x: torch.Tensor, op: str) -> tuple[int, int, int]:
    """batch, T, d_inner of x (B, T, d_inner), which every other input's shape derives from."""
    if x.dim() != 3:
        raise ValueError(f"{op}: x has shape {tuple(x.shape)}, expected (batch, T, d_inner)")
    return x.shape


def checked_layout(op: str, inputs: dict[str, tuple[torch.Tensor, tuple, str]]) -> list:
    """The tensors of `inputs` (name -> (tensor, shape, layout)) in the layout the kernels read,
    after one check that refuses, in one line naming `op` and the tensor, what they cannot read:
    a device other than the CPU, a dtype other than float32/float64 or than the first tensor's,
    or another shape. Then rows are made contiguous (ROWS, CONTIGUOUS) where they are not."""
    dtype = next(iter(inputs.values()))[0].dtype
    if dtype not in SUFFIXES:
        raise TypeError(f"{op}: got {dtype}; the compiled kernels take float32 or float64")
    laid_out = []
    for name, (tensor, shape, layout) in inputs.items():
        if tensor.device.type != "cpu":
            raise ValueError(f"{op}: {name} is on {tensor.device}; the compiled kernels run on CPU")
        if tensor.dtype != dtype:
            raise TypeError(f"{op}: {name} is {tensor.dtype}, not {dtype} as the others")
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"{op}: {name} has shape {tuple(tensor.shape)}, not {tuple(shape)}")
        if layout == CONTIGUOUS or (layout == ROWS and not tensor[0].is_contiguous()):
            tensor = tensor.contiguous()
        laid_out.append(tensor)
    return laid_out


def compiled_op(name: str, inputs: str, returns: str):
    """A torch custom op `decision_backbones::name` for CPU tensors only (no kernel for other
    devices: their pointers never reach the C++), taking the tensors named in `inputs`."""
    arguments = ", ".join(f"Tensor {argument}" for argument in inputs.split())
    schema = f"({arguments}) -> {returns}"
    qualified = f"decision_backbones::{name}"
    return torch.library.custom_op(qualified, mutates_args=(), device_types="cpu", schema=schema)


def channel_block(batch: int, d_inner: int) -> int:
    """Channels per work item (batch row, block of channels) of every kernel: as wide as
    WIDEST_BLOCK allows while the items are at least ITEMS_PER_THREAD per thread."""
    block = min(d_inner, WIDEST_BLOCK)
    while block > NARROWEST_BLOCK and batch * math.ceil(d_inner / block) < (
        ITEMS_PER_THREAD * torch.get_num_threads()
    ):
        block = math.ceil(block / 2)
    return block


def channel_minor(x: torch.Tensor, *counts: int) -> torch.Tensor:
    """A (B, *counts, d_inner) tensor to be written, for x (B, T, d_inner): what the kernels
    write per channel (states, per-row gradients), they write channel-minor, as they hold it."""
    return x.new_empty(x.shape[0], *counts, x.shape[2])


def pointers(*tensors: torch.Tensor) -> list[int]:
    return [tensor.data_ptr() for tensor in tensors]
