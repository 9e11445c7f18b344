"""The linear recurrence h_t = a_t * h_{t-1} + b_t: the one dispatch of minGRU's and minLSTM's
gated scan, and the plain chunked scan that Aaren and Mamba's reference use.

Backends of `gated_scan` (the config's `scan` names), each a module with the same
`gated_scan(projection, h0, cell) -> h` and its own autograd node:
- "torch": torch_backend.py, the gates and the chunked scan (chunked.py) fused in one node;
- "log-space": reference.py, the paper's Appendix B scan, differentiated by autograd;
- "triton": triton_backend.py, fla-core's Triton kernels (CUDA, or the interpreter).
Every backend computes in float32 (float64 if given) whatever autocast hands in.
"""

import torch

from infra.errors import UsageError

from .. import available
from . import reference, torch_backend, triton_backend  # fla-core is imported on first use
from .chunked import linear_scan  # the plain scan, one backend: Aaren's and Mamba's reference
from .gates import PROJECTIONS, Cell, g, gate_logit_and_candidate

__all__ = ["PROJECTIONS", "g", "gate_logit_and_candidate", "gated_scan", "linear_scan", "resolve"]
BACKENDS = {"torch": torch_backend, "log-space": reference, "triton": triton_backend}


def refusal(impl: str, device: torch.device | None) -> str | None:
    """Why the backend named `impl` cannot run on `device` (None: here), or None."""
    return available.refusal(impl, device, fla_scan=True)


def resolve(impl: str, x: torch.Tensor) -> str:
    """The backend that runs `impl` on x: "auto" is "triton" on CUDA tensors in eager mode where
    fla-core imports, else "torch" (under torch.compile too: the compiler traces and fuses it,
    Triton's kernels are opaque to it). A backend that cannot run on x is refused in one line."""
    if impl == "auto":
        eager_on_cuda = x.is_cuda and not torch.compiler.is_compiling()
        return "triton" if eager_on_cuda and available.fla_imports() else "torch"
    reason = refusal(impl, x.device)
    if reason is not None:
        raise UsageError(f"scan {reason}")
    return impl


def gated_scan(projection: torch.Tensor, h0: torch.Tensor, cell: Cell, impl: str = "auto"):
    """The states h (B, T, d_inner) of minGRU (cell "gru": projection (k, u)) or minLSTM ("lstm":
    (forget, input, u) logits), projection (B, T, PROJECTIONS[cell] d_inner), from h0 (B,
    d_inner), by the backend `impl` resolves to."""
    return BACKENDS[resolve(impl, projection)].gated_scan(projection, h0, cell)
