"""Where the Triton scans may run: Triton installed, and CUDA tensors, or any tensors under
Triton's interpreter (TRITON_INTERPRET=1 before Triton is imported: kernels then run in numpy on
CPU tensors, which is how the tests check them without a GPU)."""

import functools
import os

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
    """Refuse the config field `field` = "triton" where its `packages` do not import."""
    if not imports:
        raise ConfigError(f'{field} "triton" needs {packages}: {INSTALL_HINT}')


def require_triton_device(field: str, tensor: torch.Tensor) -> None:
    """Refuse to launch a Triton kernel on a tensor that its GPU kernels cannot read."""
    if not (tensor.is_cuda or interpreting()):
        raise UsageError(
            f'{field} "triton" runs on CUDA tensors only, not {tensor.device}: use "auto"'
        )
