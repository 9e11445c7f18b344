"""Mamba's selective scan (Gu & Dao 2023, Alg. 2 lines 4-6 and the output of Fig. 3), fused into
one autograd node that never holds a (B, T, d_inner, N) tensor:

    Delta = softplus(delta)                                   (Alg. 2, line 4)
    h_t = exp(Delta_t A) * h_{t-1} + Delta_t x_t B_t          (Eq. 2a with Eq. 4's A_bar)
    out_t = (C_t . h_t + D * x_t) * SiLU(z_t)                 (Eq. 2b, then the gate of Fig. 3)

with x, delta, z (B, T, d_inner), B, C (B, T, N), A (B, d_inner, N), D (B, d_inner) and the
state h (B, d_inner, N) carried in and out; delta = dt_proj(dt_low) is computed inside the node
(`step_sizes`), so that it need not be saved. A and D come expanded along the batch, so that every
input is batch first and vmap folds members (several seeds) into the batch, each with its own A.

Backends (the config's `scan` names), each a module with the same pair
`forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0) -> (out, h_last, boundaries)` and
`backward(x, ..., z, boundaries, grad_out, grad_h_last) -> ten gradients`, run by the one
autograd node here:
- "torch": torch_backend.py, state kernels in torch on any device, inside elementwise.py;
- "triton": triton_backend.py, Triton state kernels inside the same elementwise.py;
- "cpu": cpu_backend.py, compiled C++ (custom ops) for the whole node, CPU tensors only.
"reference" (reference.py) is plain torch differentiated by autograd, materialising every
state: the oracle. Everything computes in float32 (float64 if given) whatever autocast hands in.
"""

import torch

from infra.errors import UsageError

from .. import available
from ..autograd import GradientFunction, RowwiseFunction
from ..precision import expand_rows, in_scan_precision
from . import cpu_backend, reference, torch_backend
from .reference import discretised, read_out  # Mamba's step: the reference at T = 1

__all__ = ["discretised", "read_out", "refusal", "resolve", "selective_scan"]
BACKENDS = {"torch": torch_backend, "cpu": cpu_backend}  # and Triton's, where it imports


def refusal(impl: str, device: torch.device | None) -> str | None:
    """Why the backend named `impl` cannot run on `device` (None: here), or None."""
    return available.refusal(impl, device)


def resolve(impl: str, x: torch.Tensor) -> str:
    """The backend that runs `impl` on x: "auto" is "triton" on CUDA tensors in eager mode where
    Triton imports, "cpu" on CPU tensors in eager mode where the compiled kernels build, else
    "torch" (under torch.compile too: the compiler traces it, Triton and C++ are opaque to it).
    A backend that cannot run on x is refused in one line."""
    if impl == "auto":
        if torch.compiler.is_compiling():
            return "torch"
        if x.is_cuda and available.triton_imports():
            return "triton"
        if x.device.type == "cpu" and available.cpu_library_builds():
            return "cpu"
        return "torch"
    reason = refusal(impl, x.device)
    if reason is not None:
        raise UsageError(f"scan {reason}")
    return impl


def backend(name: str):
    """The backend module `name`; Triton's is imported on first use, where Triton is installed."""
    if name == "triton":
        from . import triton_backend

        return triton_backend
    return BACKENDS[name]


class _SelectiveScan(RowwiseFunction):
    """Saves its inputs and the segment boundaries (about 1/64 of the states), but not delta:
    the backward recomputes it from dt_proj's low-rank input, (B, T, R) against (B, T, d_inner).
    A single segment's boundary is h0 itself, so h0 is saved instead: free for a zero state
    (views of one zero, `Mamba.initial_state`)."""

    @staticmethod
    def forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0, name):
        return backend(name).forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        *tensors, h0, name = inputs
        boundaries = output[2]
        ctx.save_for_backward(*tensors, h0.unsqueeze(1) if boundaries.shape[1] == 1 else boundaries)
        ctx.name = name
        ctx.mark_non_differentiable(boundaries)
        ctx.set_materialize_grads(False)  # an unused output's zero gradient made below, for free

    @staticmethod
    def backward(ctx, grad_out, grad_h_last, _):
        x, *tensors, boundaries = ctx.saved_tensors
        if grad_out is None:
            grad_out = torch.zeros_like(x)
        if grad_h_last is None:  # views of one zero, as the initial state
            grad_h_last = boundaries.new_zeros(()).expand_as(boundaries[:, 0])
        inputs = x, *tensors, boundaries, grad_out, grad_h_last
        return *_SelectiveScanGradient.apply(*inputs, ctx.name), None


class _SelectiveScanGradient(GradientFunction):
    @staticmethod
    def forward(
        x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last, name
    ):
        inputs = (x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last)
        return tuple(backend(name).backward(*inputs))


def selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0, impl: str = "auto"):
    """out (B, T, d_inner) and the final state (B, d_inner, N), by the backend `impl` resolves
    to, computed in float32 (float64 if given). Delta before its softplus is dt_proj(dt_low):
    dt_low (B, T, R), dt_weight (d_inner, R), dt_bias (d_inner). The other shapes as in the
    module's docstring; A (d_inner, N), D (d_inner) and dt_proj's parameters are expanded along
    the batch here."""
    name = resolve(impl, x)
    if name == "reference":
        return reference.selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)
    batch, channel_minor = x.shape[0], name == "cpu"  # how the kernel writes their gradients
    dt_weight, A = (expand_rows(t, batch, channel_minor) for t in (dt_weight, A))
    dt_bias, D = (t.expand(batch, *t.shape) for t in (dt_bias, D))
    inputs = in_scan_precision(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)
    out, h_last, _ = _SelectiveScan.apply(*inputs, name)
    return out, h_last
