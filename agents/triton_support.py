"""Where the Triton scans may run: Triton installed, and CUDA tensors, or any tensors under
Triton's interpreter (TRITON_INTERPRET=1 before Triton is imported: kernels then run in numpy on
CPU tensors, which is how the tests check them without a GPU)."""

import functools
import os
from collections.abc import Callable

import torch

from infra.errors import ConfigError, UsageError

INSTALL_HINT = 'pip install -e ".[triton]"'


@functools.cache
def triton_imports() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """Whether Triton runs its kernels in the interpreter (its own reading of the variable)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")


def require_triton(field: str, packages: str, imports: bool) -> None:
    """Refuse the config field `field` = "triton" where its `packages` do not import, or where
    no kernel could run: no CUDA device and no interpreter."""
    if not imports:
        raise ConfigError(f'{field} "triton" needs {packages}: {INSTALL_HINT}')
    if not (torch.cuda.is_available() or interpreting()):
        raise ConfigError(f'{field} "triton" needs a CUDA device, and there is none: use "auto"')


def require_triton_device(field: str, tensor: torch.Tensor) -> None:
    """Refuse to launch a Triton kernel on a tensor that its GPU kernels cannot read."""
    if not (tensor.is_cuda or interpreting()):
        raise UsageError(
            f'{field} "triton" runs on CUDA tensors only, not {tensor.device}: use "auto"'
        )


def resolve_scan(scan: str, x: torch.Tensor, torch_scan: str, triton_ready: Callable[[], bool]):
    """`scan` as it runs on x: "auto" is "triton" on CUDA tensors in eager mode where
    `triton_ready()`, else `torch_scan`. Under torch.compile that is the torch scan, which the
    compiler traces and fuses (Triton's kernels are opaque to it)."""
    if scan != "auto":
        return scan
    eager_on_cuda = x.is_cuda and not torch.compiler.is_compiling()
    return "triton" if eager_on_cuda and triton_ready() else torch_scan
