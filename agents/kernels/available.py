"""What can run here, asked by every op's `resolve()` and by the configs: the compiled CPU
kernels (a C++ compiler), Triton (installed, and CUDA tensors, or any tensors under Triton's
interpreter: TRITON_INTERPRET=1 before Triton is imported runs kernels in numpy on CPU tensors,
which is how the tests check them without a GPU), and fla-core's Triton scan.

`refusal` says in one line why a backend cannot run, for configs (this machine) and for tensors
(their device) alike; it is the only place that knows what each backend needs.
"""

import functools
import os
import warnings

import torch

from infra.compiled_library import BuildError

from . import cpu_library

INSTALL_HINT = 'pip install -e ".[triton]"'


@functools.cache
def triton_imports() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def fla_imports() -> bool:
    try:
        import fla.ops.hgrn.fused_recurrent  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """Whether Triton runs its kernels in the interpreter (its own reading of the variable)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")


@functools.cache
def cpu_library_error() -> str | None:
    """Why the compiled kernels do not build here, or None where they do."""
    try:
        cpu_library.library()
    except BuildError as error:
        return str(error)
    return None


@functools.cache
def cpu_library_builds() -> bool:
    """Whether the compiled kernels build here; the first failure is said once, as a warning."""
    error = cpu_library_error()
    if error is not None:
        message = f"Mamba's compiled CPU kernels are unavailable, using torch's: {error}"
        warnings.warn(message, stacklevel=2)
    return error is None


def refusal(impl: str, device: torch.device | None, fla_scan: bool = False) -> str | None:
    """Why backend `impl` cannot run, in a few words, or None where it can: with no `device`
    (a config's check), whether this machine has what it needs (a compiler, the packages, a
    GPU); on `device` (each call, cheap and traceable), whether it runs there. `fla_scan`: the
    Triton backend is fla-core's."""
    if device is not None:
        if impl == "cpu" and device.type != "cpu":
            return f'"cpu" runs on CPU tensors only, not {device}: use "auto"'
        if impl == "triton" and not (device.type == "cuda" or interpreting()):
            return f'"triton" needs CUDA tensors, not {device}: use "auto"'
        return None
    if impl == "cpu" and cpu_library_error() is not None:
        return f'"cpu" cannot be used here: {cpu_library_error()}; use "torch"'
    if impl == "triton":
        packages = "fla-core and Triton" if fla_scan else "Triton"
        if not (fla_imports() if fla_scan else triton_imports()):
            return f'"triton" needs {packages}: {INSTALL_HINT}'
        if not (torch.cuda.is_available() or interpreting()):
            return '"triton" needs a CUDA device, and there is none: use "auto"'
    return None
